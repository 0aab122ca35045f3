package vuln

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/version"
)

// Finding is one vulnerability affecting one package.
type Finding struct {
	ID            string       `json:"id"`
	Aliases       []string     `json:"aliases,omitempty"`
	Summary       string       `json:"summary,omitempty"`
	Package       sbom.Package `json:"package"`
	MatchedName   string       `json:"matchedName"`    // name the record names (source package for distros)
	MatchedVer    string       `json:"matchedVersion"` // version compared
	Ecosystem     string       `json:"ecosystem"`      // record's ecosystem
	FixedVersions []string     `json:"fixedVersions,omitempty"`
	Severity      string       `json:"severity"`
	Score         float64      `json:"score,omitempty"`
	Vector        string       `json:"vector,omitempty"`
}

// Result is the outcome of a scan.
type Result struct {
	Findings []Finding `json:"findings"`
	Notes    []string  `json:"notes,omitempty"` // GIT ranges ignored, unsupported ecosystems, bad versions
	Packages int       `json:"packages"`        // packages scanned
}

// query is one (ecosystem, name, version) looked up for a package.
type query struct {
	pkg  int
	name string
	ver  string
}

// Scan matches the packages of s against the database.
func (db *DB) Scan(s *sbom.SBOM) (*Result, error) {
	res := &Result{Findings: []Finding{}, Packages: len(s.Packages)}
	notes := map[string]bool{}
	note := func(format string, args ...any) { notes[fmt.Sprintf(format, args...)] = true }
	byKey := map[string][]query{}
	for i, p := range s.Packages {
		if p.Ecosystem == "" || !version.Supported(p.Ecosystem) {
			if p.Ecosystem != "" {
				note("ecosystem %s is not supported (%s skipped)", p.Ecosystem, p.Name)
			}
			continue
		}
		q := query{pkg: i, name: p.Name, ver: p.Version}
		switch p.Type {
		case sbom.TypeDeb, sbom.TypeAPK:
			// Distribution advisories name source packages.
			if p.SourceName != "" {
				q.name = p.SourceName
			}
			if p.SourceVersion != "" && p.Type == sbom.TypeDeb {
				q.ver = p.SourceVersion
			}
		}
		k := indexKey(p.Ecosystem, q.name)
		byKey[k] = append(byKey[k], q)
	}
	keys := make(map[string]bool, len(byKey))
	for k := range byKey {
		keys[k] = true
	}
	spans := db.lookup(keys)
	seen := map[string]bool{}
	for key, qs := range byKey {
		for _, sp := range spans[key] {
			rec, err := db.read(sp)
			if err != nil {
				return nil, fmt.Errorf("scan: %w", err)
			}
			if rec.Withdrawn != "" {
				continue
			}
			for _, q := range qs {
				p := s.Packages[q.pkg]
				for ai := range rec.Affected {
					a := &rec.Affected[ai]
					if !samePackage(a, p.Ecosystem, q.name) {
						continue
					}
					hit, fixed, err := affects(a, q.ver, note, rec.ID)
					if err != nil {
						note("%s: %s %s: %v", rec.ID, p.Name, q.ver, err)
						continue
					}
					if !hit {
						continue
					}
					dk := rec.ID + "\x00" + p.PURL + "\x00" + p.Location
					if seen[dk] {
						continue
					}
					seen[dk] = true
					f := Finding{ID: rec.ID, Aliases: rec.Aliases, Summary: rec.Summary, Package: p,
						MatchedName: q.name, MatchedVer: q.ver, Ecosystem: a.Package.Ecosystem, FixedVersions: fixed}
					f.Severity, f.Score, f.Vector = severity(rec, a)
					res.Findings = append(res.Findings, f)
				}
			}
		}
	}
	sort.Slice(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if ra, rb := SeverityRank(a.Severity), SeverityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		return a.ID < b.ID
	})
	for n := range notes {
		res.Notes = append(res.Notes, n)
	}
	sort.Strings(res.Notes)
	return res, nil
}

// samePackage reports whether an affected entry names the package in the
// package's ecosystem (a record without a release, "Debian", applies to
// every release).
func samePackage(a *Affected, ecosystem, name string) bool {
	re := a.Package.Ecosystem
	// "Ubuntu:22.04:LTS" names the release "Ubuntu:22.04".
	if re != ecosystem && !strings.HasPrefix(re, ecosystem+":") && !(re == version.Base(re) && re == version.Base(ecosystem)) {
		return false
	}
	if version.Base(re) == version.PyPI {
		return sbom.NormalizePyPI(a.Package.Name) == sbom.NormalizePyPI(name)
	}
	return a.Package.Name == name
}

// affects evaluates an affected entry for version v: the versions list,
// then ECOSYSTEM and SEMVER ranges. It returns the fixed versions of the
// ranges that contain v.
func affects(a *Affected, v string, note func(string, ...any), id string) (bool, []string, error) {
	eco := a.Package.Ecosystem
	hit := false
	for _, lv := range a.Versions {
		if lv == v {
			hit = true
			break
		}
		if c, err := version.Compare(eco, lv, v); err == nil && c == 0 {
			hit = true
			break
		}
	}
	var fixed []string
	for _, r := range a.Ranges {
		switch r.Type {
		case "ECOSYSTEM", "SEMVER":
		case "GIT":
			note("%s: GIT range (%s) ignored: commits cannot be matched to installed versions offline", id, r.Repo)
			continue
		default:
			note("%s: unknown range type %s ignored", id, r.Type)
			continue
		}
		cmpEco := eco
		if r.Type == "SEMVER" {
			cmpEco = version.SemVer
		}
		in, err := inRange(cmpEco, v, r.Events)
		if err != nil {
			return false, nil, err
		}
		if in {
			hit = true
			for _, e := range r.Events {
				// Only fixes above the installed version help.
				if e.Fixed == "" {
					continue
				}
				if c, err := version.Compare(cmpEco, e.Fixed, v); err == nil && c > 0 {
					fixed = append(fixed, e.Fixed)
				}
			}
		}
	}
	return hit, fixed, nil
}

// inRange applies the OSV range evaluation: events sorted by version,
// introduced opens, fixed and last_affected close, limit bounds.
func inRange(eco, v string, events []Event) (bool, error) {
	type ev struct {
		kind byte // i, f, l, m(limit)
		ver  string
	}
	evs := make([]ev, 0, len(events))
	var limits []string
	for _, e := range events {
		switch {
		case e.Introduced != "":
			evs = append(evs, ev{'i', e.Introduced})
		case e.Fixed != "":
			evs = append(evs, ev{'f', e.Fixed})
		case e.LastAffected != "":
			evs = append(evs, ev{'l', e.LastAffected})
		case e.Limit != "":
			limits = append(limits, e.Limit)
		}
	}
	cmp := func(a, b string) (int, error) {
		switch {
		case a == b:
			return 0, nil
		case a == "0":
			return -1, nil
		case b == "0":
			return 1, nil
		}
		return version.Compare(eco, a, b)
	}
	var sortErr error
	sort.SliceStable(evs, func(i, j int) bool {
		c, err := cmp(evs[i].ver, evs[j].ver)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		return c < 0
	})
	if sortErr != nil {
		return false, sortErr
	}
	affected := false
	for _, e := range evs {
		c, err := cmp(v, e.ver)
		if err != nil {
			return false, err
		}
		switch e.kind {
		case 'i':
			if c >= 0 {
				affected = true
			}
		case 'f':
			if c >= 0 {
				affected = false
			}
		case 'l':
			if c > 0 {
				affected = false
			}
		}
	}
	if affected && len(limits) > 0 {
		below := false
		for _, l := range limits {
			if l == "*" {
				below = true
				break
			}
			c, err := cmp(v, l)
			if err != nil {
				return false, err
			}
			if c < 0 {
				below = true
			}
		}
		affected = below
	}
	return affected, nil
}

// severity picks the most specific severity: the affected entry's, then
// the record's CVSS vectors, then database/ecosystem-specific words.
func severity(r *Record, a *Affected) (string, float64, string) {
	for _, list := range [][]Severity{a.Severity, r.Severity} {
		best, bestScore, bestVec := "", -1.0, ""
		for _, s := range list {
			var score float64
			var level string
			var err error
			switch s.Type {
			case "CVSS_V3":
				score, level, err = CVSS3(s.Score)
			case "CVSS_V2":
				score, level, err = CVSS2(s.Score)
			case "Ubuntu":
				level = normalizeWord(s.Score)
				score = 0
			default:
				continue
			}
			if err != nil || level == "" {
				continue
			}
			if score > bestScore || best == "" {
				best, bestScore, bestVec = level, score, s.Score
			}
		}
		if best != "" {
			return best, max(bestScore, 0), bestVec
		}
	}
	for _, raw := range []json.RawMessage{a.EcosystemSpecific, a.DatabaseSpecific, r.DatabaseSpecific} {
		var ds struct {
			Severity string `json:"severity"`
			Urgency  string `json:"urgency"`
		}
		if len(raw) == 0 || json.Unmarshal(raw, &ds) != nil {
			continue
		}
		if l := normalizeWord(ds.Severity); l != "" {
			return l, 0, ""
		}
		if l := normalizeWord(ds.Urgency); l != "" {
			return l, 0, ""
		}
	}
	return Unknown, 0, ""
}

// Filter keeps the findings whose severity is in levels (all when empty).
func (r *Result) Filter(levels []string) []Finding {
	if len(levels) == 0 {
		return r.Findings
	}
	want := map[string]bool{}
	for _, l := range levels {
		want[strings.ToUpper(strings.TrimSpace(l))] = true
	}
	var out []Finding
	for _, f := range r.Findings {
		if want[f.Severity] {
			out = append(out, f)
		}
	}
	return out
}
