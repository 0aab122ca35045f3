package version

import "strings"

// apk suffixes in order; pre-release suffixes sort before the bare version,
// post-release ones after it.
var apkSuffixes = [...]string{"alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"}

const apkNoSuffix = 4 // index of "" in apkSuffixes

type apkToken struct {
	kind  int    // one of apkDigit, apkLetter, apkSuffix, apkHash, apkEnd
	text  string // digits, letter or hash
	order int    // suffix order
	num   string // suffix number
}

// Token kinds, ranked for comparison when two versions differ in kind at
// the same position (e.g. 1.2_rc1 < 1.2 < 1.2_p1 < 1.2a < 1.2.1).
const (
	apkPreSuffix = iota
	apkEnd
	apkPostSuffix
	apkHash
	apkLetter
	apkDigit
)

func parseAPK(v string) (toks []apkToken, rev string, err error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return nil, "", &Error{Alpine, v, "empty"}
	}
	if i := strings.LastIndex(s, "-r"); i >= 0 {
		r := s[i+2:]
		ok := r != ""
		for j := 0; j < len(r); j++ {
			ok = ok && isDigit(r[j])
		}
		if !ok {
			return nil, "", &Error{Alpine, v, "invalid -r revision"}
		}
		rev, s = r, s[:i]
	}
	i := 0
	// Dotted digit groups.
	for {
		st := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if st == i {
			return nil, "", &Error{Alpine, v, "expected a number at offset " + itoa(st)}
		}
		toks = append(toks, apkToken{kind: apkDigit, text: s[st:i]})
		if i < len(s) && s[i] == '.' {
			i++
			continue
		}
		break
	}
	if i < len(s) && isAlpha(s[i]) && (i+1 == len(s) || s[i+1] == '_' || s[i+1] == '~') {
		toks = append(toks, apkToken{kind: apkLetter, text: s[i : i+1]})
		i++
	}
	for i < len(s) && s[i] == '_' {
		i++
		st := i
		for i < len(s) && isAlpha(s[i]) {
			i++
		}
		name := s[st:i]
		order := -1
		for k, sfx := range apkSuffixes {
			if sfx != "" && sfx == name {
				order = k
			}
		}
		if order < 0 {
			return nil, "", &Error{Alpine, v, "unknown suffix _" + name}
		}
		st = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		kind := apkPostSuffix
		if order < apkNoSuffix {
			kind = apkPreSuffix
		}
		toks = append(toks, apkToken{kind: kind, order: order, num: s[st:i]})
	}
	if i < len(s) && s[i] == '~' {
		h := s[i+1:]
		if h == "" {
			return nil, "", &Error{Alpine, v, "empty commit hash"}
		}
		toks = append(toks, apkToken{kind: apkHash, text: h})
		i = len(s)
	}
	if i != len(s) {
		return nil, "", &Error{Alpine, v, "unexpected " + s[i:]}
	}
	return toks, rev, nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// CompareAPK orders two Alpine package versions as apk does.
func CompareAPK(a, b string) (int, error) {
	ta, ra, err := parseAPK(a)
	if err != nil {
		return 0, err
	}
	tb, rb, err := parseAPK(b)
	if err != nil {
		return 0, err
	}
	for k := 0; ; k++ {
		x, y := apkToken{kind: apkEnd}, apkToken{kind: apkEnd}
		if k < len(ta) {
			x = ta[k]
		}
		if k < len(tb) {
			y = tb[k]
		}
		if x.kind == apkEnd && y.kind == apkEnd {
			break
		}
		if x.kind != y.kind {
			return sign(x.kind - y.kind), nil
		}
		var c int
		switch x.kind {
		case apkDigit:
			// The first group is an integer; later groups with a leading
			// zero compare as decimal fractions (apk's rule).
			if k > 0 && (x.text[0] == '0' || y.text[0] == '0') {
				c = sign(strings.Compare(x.text, y.text))
			} else {
				c = compareDigits(x.text, y.text)
			}
		case apkLetter, apkHash:
			c = sign(strings.Compare(x.text, y.text))
		case apkPreSuffix, apkPostSuffix:
			c = sign(x.order - y.order)
			if c == 0 {
				c = compareDigits(x.num, y.num)
			}
		}
		if c != 0 {
			return c, nil
		}
	}
	return compareDigits(ra, rb), nil
}
