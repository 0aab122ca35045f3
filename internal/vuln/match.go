package vuln

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/version"
)

// Finding is one vulnerability affecting one package. Records that name
// each other as aliases (a GO- record and its GHSA-, a DEBIAN-CVE- and its
// CVE-) are one finding: ID is the most specific id, Aliases the others.
type Finding struct {
	ID            string       `json:"id"`
	Aliases       []string     `json:"aliases,omitempty"`
	Summary       string       `json:"summary,omitempty"`
	Package       sbom.Package `json:"package"`
	MatchedName   string       `json:"matched_name"`    // name the record names (source package for distros)
	MatchedVer    string       `json:"matched_version"` // version compared
	Ecosystem     string       `json:"ecosystem"`       // record's ecosystem
	FixedVersions []string     `json:"fixed_versions,omitempty"`
	Severity      string       `json:"severity"`
	Score         float64      `json:"score,omitempty"`
	Vector        string       `json:"vector,omitempty"`
	// SeverityFrom names the aliased record the severity comes from when
	// it is not ID's own (Go records carry none; their GHSA alias does).
	SeverityFrom string `json:"severity_from,omitempty"`
}

// Result is the outcome of a scan.
type Result struct {
	Findings []Finding `json:"findings"`
	Notes    []string  `json:"notes,omitempty"` // GIT ranges ignored, unsupported ecosystems, bad versions
	Packages int       `json:"packages"`        // packages scanned
	// HiddenUnknown counts the findings of UNKNOWN severity that
	// ApplyFilter removed (a --severity list without UNKNOWN).
	HiddenUnknown int `json:"hidden_unknown,omitempty"`
	// HiddenOther counts the other findings ApplyFilter removed.
	HiddenOther int `json:"hidden_other,omitempty"`
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
	var raw []match
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
					if !platformApplies(a, p) {
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
					f.Severity, f.Score, f.Vector = severity(rec, a, note)
					raw = append(raw, match{f: f, pkg: q.pkg})
				}
			}
		}
	}
	res.Findings = mergeAliases(raw)
	if err := db.severityFromAliases(res.Findings, note); err != nil {
		return nil, err
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
// the record's CVSS vectors (v4.0, v3.x, v2, the highest score wins), then
// database/ecosystem-specific words. Malformed vectors are noted, not
// scored. a may be nil (a record looked up as an alias).
func severity(r *Record, a *Affected, note func(string, ...any)) (string, float64, string) {
	var lists [][]Severity
	if a != nil {
		lists = append(lists, a.Severity)
	}
	for _, list := range append(lists, r.Severity) {
		best, bestScore, bestVec := "", -1.0, ""
		for _, s := range list {
			var score float64
			var level string
			if s.Type == "Ubuntu" {
				level = normalizeWord(s.Score)
			} else {
				sc, l, ok, err := scoreSeverity(s)
				if !ok {
					continue
				}
				if err != nil {
					note("%s: %v (ignored)", r.ID, err)
					continue
				}
				score, level = sc, l
			}
			if level == "" {
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
	raws := []json.RawMessage{r.DatabaseSpecific}
	if a != nil {
		raws = []json.RawMessage{a.EcosystemSpecific, a.DatabaseSpecific, r.DatabaseSpecific}
	}
	for _, raw := range raws {
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

// match is a record matched to one package, before aliases are merged.
type match struct {
	f   Finding
	pkg int
}

// idRank orders ids for the primary id of a merged finding: the
// ecosystem's own advisory (GO-, DEBIAN-, PYSEC-, …) first, then GHSA-,
// then CVE-.
func idRank(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 2
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 0
}

// mergeAliases turns the records matched to each package into findings,
// one per group of records that name each other (directly or through a
// shared alias): the primary id, the union of ids as aliases, the highest
// known severity (with the record it came from) and the union of fixes.
func mergeAliases(ms []match) []Finding {
	byPkg := map[string][]int{}
	var order []string
	for i, m := range ms {
		k := strconv.Itoa(m.pkg) + "\x00" + m.f.Package.PURL + "\x00" + m.f.Package.Location
		if _, ok := byPkg[k]; !ok {
			order = append(order, k)
		}
		byPkg[k] = append(byPkg[k], i)
	}
	out := []Finding{}
	for _, k := range order {
		idx := byPkg[k]
		parent := make([]int, len(idx))
		for i := range parent {
			parent[i] = i
		}
		var find func(int) int
		find = func(i int) int {
			for parent[i] != i {
				parent[i] = parent[parent[i]]
				i = parent[i]
			}
			return i
		}
		owner := map[string]int{}
		for i, mi := range idx {
			f := ms[mi].f
			for _, id := range append([]string{f.ID}, f.Aliases...) {
				if j, ok := owner[id]; ok {
					parent[find(i)] = find(j)
				} else {
					owner[id] = i
				}
			}
		}
		groups := map[int][]int{}
		var roots []int
		for i := range idx {
			r := find(i)
			if _, ok := groups[r]; !ok {
				roots = append(roots, r)
			}
			groups[r] = append(groups[r], idx[i])
		}
		for _, r := range roots {
			out = append(out, mergeGroup(ms, groups[r]))
		}
	}
	return out
}

func mergeGroup(ms []match, members []int) Finding {
	sort.Slice(members, func(i, j int) bool {
		a, b := ms[members[i]].f.ID, ms[members[j]].f.ID
		if ra, rb := idRank(a), idRank(b); ra != rb {
			return ra < rb
		}
		return a < b
	})
	f := ms[members[0]].f
	ids := map[string]bool{}
	fixed := map[string]bool{}
	for _, v := range f.FixedVersions {
		fixed[v] = true
	}
	for _, mi := range members {
		g := ms[mi].f
		ids[g.ID] = true
		for _, a := range g.Aliases {
			ids[a] = true
		}
		for _, v := range g.FixedVersions {
			if !fixed[v] {
				fixed[v] = true
				f.FixedVersions = append(f.FixedVersions, v)
			}
		}
		if f.Summary == "" {
			f.Summary = g.Summary
		}
		if better(g, f) {
			f.Severity, f.Score, f.Vector, f.SeverityFrom = g.Severity, g.Score, g.Vector, g.ID
		}
	}
	delete(ids, f.ID)
	f.Aliases = nil
	for id := range ids {
		f.Aliases = append(f.Aliases, id)
	}
	sort.Strings(f.Aliases)
	return f
}

// better reports whether g's severity beats f's: a higher level, or the
// same level with a higher score.
func better(g, f Finding) bool {
	if rg, rf := SeverityRank(g.Severity), SeverityRank(f.Severity); rg != rf {
		return rg > rf
	}
	return g.Score > f.Score
}

// severityFromAliases looks up, for each finding still of UNKNOWN
// severity, the records its aliases name (a Go record's GHSA) and takes the
// best severity they carry.
func (db *DB) severityFromAliases(fs []Finding, note func(string, ...any)) error {
	keys := map[string]bool{}
	for _, f := range fs {
		if f.Severity != Unknown {
			continue
		}
		for _, a := range f.Aliases {
			keys[idKey(a)] = true
		}
	}
	if len(keys) == 0 {
		return nil
	}
	spans := db.lookup(keys)
	for i := range fs {
		f := &fs[i]
		if f.Severity != Unknown {
			continue
		}
		for _, a := range f.Aliases {
			for _, sp := range spans[idKey(a)] {
				rec, err := db.read(sp)
				if err != nil {
					return fmt.Errorf("scan: %w", err)
				}
				if rec.Withdrawn != "" {
					continue
				}
				g := Finding{ID: rec.ID}
				g.Severity, g.Score, g.Vector = severity(rec, nil, note)
				if better(g, *f) {
					f.Severity, f.Score, f.Vector, f.SeverityFrom = g.Severity, g.Score, g.Vector, g.ID
				}
			}
		}
	}
	return nil
}

// goSpecific is the platform part of a Go advisory's ecosystem_specific.
type goSpecific struct {
	GOOS    []string `json:"goos"`
	GOARCH  []string `json:"goarch"`
	Imports []struct {
		Path   string   `json:"path"`
		GOOS   []string `json:"goos"`
		GOARCH []string `json:"goarch"`
	} `json:"imports"`
}

// platformApplies reports whether an affected entry applies to the
// platform a Go package was built for (its binary's GOOS/GOARCH): an entry
// restricted to other operating systems or architectures, at the top of
// ecosystem_specific or in every imports[] entry, does not.
func platformApplies(a *Affected, p sbom.Package) bool {
	if p.Type != sbom.TypeGolang || (p.OS == "" && p.Arch == "") || len(a.EcosystemSpecific) == 0 {
		return true
	}
	var gs goSpecific
	if json.Unmarshal(a.EcosystemSpecific, &gs) != nil {
		return true
	}
	allows := func(list []string, v string) bool {
		return len(list) == 0 || v == "" || slices.Contains(list, v)
	}
	if !allows(gs.GOOS, p.OS) || !allows(gs.GOARCH, p.Arch) {
		return false
	}
	if len(gs.Imports) == 0 {
		return true
	}
	for _, imp := range gs.Imports {
		if allows(imp.GOOS, p.OS) && allows(imp.GOARCH, p.Arch) {
			return true
		}
	}
	return false
}

// Filter returns the findings whose severity is in levels (all when
// empty).
func (r *Result) Filter(levels []string) []Finding {
	kept, _, _ := r.filter(levels)
	return kept
}

// ApplyFilter keeps only the findings whose severity is in levels (all when
// empty) and counts what it hid, UNKNOWN apart: a severity filter must not
// silently drop findings nobody rated.
func (r *Result) ApplyFilter(levels []string) {
	r.Findings, r.HiddenUnknown, r.HiddenOther = r.filter(levels)
}

func (r *Result) filter(levels []string) ([]Finding, int, int) {
	if len(levels) == 0 {
		return r.Findings, 0, 0
	}
	want := map[string]bool{}
	for _, l := range levels {
		want[strings.ToUpper(strings.TrimSpace(l))] = true
	}
	out := []Finding{}
	unknown, other := 0, 0
	for _, f := range r.Findings {
		switch {
		case want[f.Severity]:
			out = append(out, f)
		case f.Severity == Unknown:
			unknown++
		default:
			other++
		}
	}
	return out, unknown, other
}
