package secrets

import (
	"bytes"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Finding is one secret found. It never holds the secret: Preview is the
// line with the secret replaced by at most its first 4 characters and
// asterisks.
type Finding struct {
	Rule        string `json:"rule"`
	Description string `json:"description"`
	Severity    string `json:"severity"`
	Source      string `json:"source"`          // layer, rootfs, config, env, manifest, text
	Layer       string `json:"layer,omitempty"` // layer digest (layer sources)
	// Removed is true for a file of a layer that a later layer deletes or
	// replaces: it is not in the running filesystem, but is in the image.
	Removed bool   `json:"removed,omitempty"`
	Path    string `json:"path"` // file, "Env[3]", field path, …
	Line    int    `json:"line"` // 1-based
	Column  int    `json:"column"`
	Preview string `json:"preview"`
}

// Location says where a scanned text comes from; it fills the findings.
type Location struct {
	Source  string
	Layer   string
	Path    string
	Removed bool
	// Line and Column are added to the text's own positions (a value that
	// starts at line 12, column 9 of a manifest).
	Line, Column int
}

// Scanner applies a Ruleset. Build it with NewScanner; it is safe for
// concurrent use.
type Scanner struct {
	rules []Rule
	allow []Allow
	// Keyword finder: every keyword's first two (lower-case) bytes index
	// the keywords that start with them, so one pass over a text finds
	// every keyword of every rule.
	pairs [1 << 16]uint16 // 1 + index in kws, 0 when no keyword starts so
	kws   [][]keywordRef
}

type keywordRef struct {
	kw   []byte
	rule int
}

// NewScanner returns a scanner for rs (the built-in rules when nil).
func NewScanner(rs *Ruleset) *Scanner {
	if rs == nil {
		rs = DefaultRules()
	}
	s := &Scanner{rules: rs.Rules, allow: rs.Allow}
	for ri, r := range s.rules {
		for _, k := range r.Keywords {
			if len(k) < 2 {
				k += " " // one-byte keywords are not useful; keep them working
			}
			p := uint16(k[0])<<8 | uint16(k[1])
			if s.pairs[p] == 0 {
				s.kws = append(s.kws, nil)
				s.pairs[p] = uint16(len(s.kws))
			}
			s.kws[s.pairs[p]-1] = append(s.kws[s.pairs[p]-1], keywordRef{[]byte(k), ri})
		}
	}
	return s
}

// lowerTab lower-cases ASCII letters.
var lowerTab = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// keywordHits returns, per rule, the offsets where one of its keywords
// occurs (any case), in one pass over data.
func (s *Scanner) keywordHits(data []byte) [][]int {
	var hits [][]int
	for i := 0; i+1 < len(data); i++ {
		p := s.pairs[uint16(lowerTab[data[i]])<<8|uint16(lowerTab[data[i+1]])]
		if p == 0 {
			continue
		}
	next:
		for _, k := range s.kws[p-1] {
			if i+len(k.kw) > len(data) {
				continue
			}
			for j := 2; j < len(k.kw); j++ {
				if lowerTab[data[i+j]] != k.kw[j] {
					continue next
				}
			}
			if hits == nil {
				hits = make([][]int, len(s.rules))
			}
			if h := hits[k.rule]; len(h) == 0 || h[len(h)-1] != i {
				hits[k.rule] = append(h, i)
			}
		}
	}
	return hits
}

// maxText bounds the bytes of one file scanned.
const maxText = 8 << 20

// multilineWindow is how far a multiline rule looks past its keyword.
const multilineWindow = 16 << 10

// Binary reports whether data looks binary (a NUL in its first 8 KiB).
func Binary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8<<10)], 0) >= 0
}

// ScanText scans one text and returns its findings in order of position.
// Binary data is skipped.
func (s *Scanner) ScanText(loc Location, data []byte) []Finding {
	if len(data) > maxText {
		data = data[:maxText]
	}
	if len(data) == 0 || Binary(data) {
		return nil
	}
	if s.pathAllowed(loc.Path) {
		return nil
	}
	hits := s.keywordHits(data)
	var out []Finding
	seen := map[[2]int]bool{}
	for ri, rh := range hits {
		r := &s.rules[ri]
		done := -1 // end of the last window scanned for this rule
		for _, at := range rh {
			if at < done {
				continue
			}
			start := bytes.LastIndexByte(data[:at], '\n') + 1
			end := len(data)
			if r.Multiline {
				end = min(len(data), at+multilineWindow)
			} else if j := bytes.IndexByte(data[at:], '\n'); j >= 0 {
				end = at + j
			}
			done = end
			for _, m := range r.re.FindAllSubmatchIndex(data[start:end], -1) {
				g := 2 * r.SecretGroup
				if m[g] < 0 {
					continue
				}
				off, secret := start+m[g], data[start+m[g]:start+m[g+1]]
				if seen[[2]int{ri, off}] || !s.keep(r, loc.Path, string(secret), data[start+m[0]:start+m[1]]) {
					continue
				}
				seen[[2]int{ri, off}] = true
				if r.Multiline {
					// A multi-line secret (a key body) is shown by the
					// line its match starts on (the BEGIN header).
					out = append(out, finding(r, loc, data, start+m[0], 0))
					continue
				}
				out = append(out, finding(r, loc, data, off, len(secret)))
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return dedupe(out)
}

// dedupe keeps one finding per position: a specific rule wins over a
// generic one that matched the same secret (rules are ordered).
func dedupe(fs []Finding) []Finding {
	var out []Finding
	at := map[[2]int]bool{}
	for _, f := range fs {
		k := [2]int{f.Line, f.Column}
		if at[k] {
			continue
		}
		at[k] = true
		out = append(out, f)
	}
	return out
}

func (s *Scanner) pathAllowed(p string) bool {
	for _, a := range s.allow {
		if a.path != nil && a.value == nil && a.match == nil && a.Rule == "" && a.path.MatchString(p) {
			return true
		}
	}
	return false
}

// keep applies the rule's entropy and generic filters and the allow-list.
func (s *Scanner) keep(r *Rule, path, secret string, match []byte) bool {
	if r.Entropy > 0 && Entropy(secret) < r.Entropy {
		return false
	}
	if r.Generic && (PathLike(secret) || Placeholder(secret)) {
		return false
	}
	for _, a := range s.allow {
		if a.Rule != "" && a.Rule != r.ID {
			continue
		}
		pathOK := a.path == nil || a.path.MatchString(path)
		valueOK := a.value == nil || a.value.MatchString(secret)
		matchOK := a.match == nil || a.match.Match(match)
		if pathOK && valueOK && matchOK {
			return false
		}
	}
	return true
}

func finding(r *Rule, loc Location, data []byte, off, n int) Finding {
	line := bytes.Count(data[:off], []byte("\n")) + 1
	ls := bytes.LastIndexByte(data[:off], '\n') + 1
	col := utf8.RuneCount(data[ls:off]) + 1
	le := bytes.IndexByte(data[off:], '\n')
	if le < 0 {
		le = len(data)
	} else {
		le += off
	}
	secretEnd := min(off+n, len(data))
	if le < secretEnd {
		le = secretEnd // a multiline secret: preview its first line only
		if j := bytes.IndexByte(data[off:], '\n'); j >= 0 {
			le = off + j
		}
	}
	preview := string(data[ls:off]) + Redact(string(data[off:secretEnd]))
	if n == 0 {
		preview = string(data[ls:off]) + string(data[off:le]) + " ********"
	} else if secretEnd < le {
		preview += string(data[secretEnd:le])
	}
	if line == 1 {
		col += loc.Column
	}
	return Finding{Rule: r.ID, Description: r.Description, Severity: r.Severity, Source: loc.Source, Layer: loc.Layer,
		Removed: loc.Removed, Path: loc.Path, Line: line + loc.Line, Column: col, Preview: clip(preview, off-ls)}
}

// Redact keeps at most the first 4 characters of a secret (a fifth of it
// for short ones) and replaces the rest with asterisks of a fixed length,
// so neither the secret nor its length is shown.
func Redact(secret string) string {
	if i := strings.IndexByte(secret, '\n'); i >= 0 {
		secret = secret[:i]
	}
	keep := min(4, utf8.RuneCountInString(secret)/5)
	r := []rune(secret)
	return string(r[:keep]) + "********"
}

// clip shortens a preview to about 160 characters around the secret.
func clip(p string, at int) string {
	const width = 160
	if len(p) <= width {
		return strings.TrimSpace(p)
	}
	from := max(0, min(at-width/2, len(p)-width))
	for from > 0 && !utf8.RuneStart(p[from]) {
		from--
	}
	to := min(len(p), from+width)
	for to < len(p) && !utf8.RuneStart(p[to]) {
		to++
	}
	s := p[from:to]
	if from > 0 {
		s = "…" + s
	}
	if to < len(p) {
		s += "…"
	}
	return strings.TrimSpace(s)
}

// Entropy returns the Shannon entropy of s in bits per byte.
func Entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// PathLike reports whether a value is a file system path or a URL path
// rather than a secret: /etc/secret_key, ./keys/id_rsa, ~/.aws/credentials,
// C:\keys\a.pem, file:///run/secrets/db.
func PathLike(v string) bool {
	v = strings.Trim(v, `"'`)
	switch {
	case strings.HasPrefix(v, "/"), strings.HasPrefix(v, "./"), strings.HasPrefix(v, "../"), strings.HasPrefix(v, "~/"),
		strings.HasPrefix(v, "file://"):
		return true
	case len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/'):
		return true
	}
	// relative/dir/file.ext with no high-entropy segment
	if strings.Count(v, "/") >= 2 && !strings.ContainsAny(v, "+=") {
		for _, seg := range strings.Split(v, "/") {
			if len(seg) > 24 {
				return false
			}
		}
		return true
	}
	return false
}

// Placeholder reports whether a value is a template, a reference to
// another variable or an obvious stand-in rather than a secret.
func Placeholder(v string) bool {
	v = strings.Trim(v, `"'`)
	low := strings.ToLower(v)
	switch {
	case strings.Contains(v, "${"), strings.Contains(v, "{{"), strings.Contains(v, "$("), strings.Contains(v, "%("),
		strings.HasPrefix(v, "$"), strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">"), strings.HasPrefix(v, "%"):
		return true
	case strings.Trim(low, "x*.-_0#") == "":
		return true
	}
	for _, w := range []string{"password", "passwd", "secret", "changeme", "example", "placeholder", "redacted", "dummy", "none", "null", "undefined", "true", "false"} {
		if low == w {
			return true
		}
	}
	// Identifiers: another variable's or a function's name, not a value
	// (SECRET_KEY_FILE, db_password, getPassword): letters and
	// underscores only.
	ident := true
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '.') {
			ident = false
			break
		}
	}
	if ident {
		// Letters only: a word, a class or variable name (TokenFilter,
		// SECRET_KEY_FILE). A password of letters alone is missed.
		return true
	}
	// Kubernetes-style object names and constants (db-credentials,
	// auth-request-type/at): lower-case words, dashes and slashes, no
	// digits. A passphrase of plain words is missed by this.
	if strings.ContainsAny(v, "-/") && strings.Trim(v, lower+"-/") == "" {
		return true
	}
	// snake_case and SCREAMING_SNAKE_CASE names, digits allowed
	// (_GOOGLE_OAUTH2_TOKEN_ENDPOINT, session_v2_token).
	if snakeRE.MatchString(v) {
		return true
	}
	return strings.HasSuffix(v, "()") || strings.HasPrefix(low, "env:") || strings.HasPrefix(low, "secretref:") ||
		strings.HasPrefix(low, "vault:") || strings.HasPrefix(low, "arn:aws:secretsmanager")
}

const lower = "abcdefghijklmnopqrstuvwxyz"

var snakeRE = regexp.MustCompile(`^_?(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z][a-z0-9]*(?:_[a-z0-9]+)+)$`)
