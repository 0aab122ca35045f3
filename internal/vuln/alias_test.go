package vuln_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/vuln"
)

// openRecords imports handmade OSV records into a fresh database (both the
// imported and the raw-directory forms must behave the same).
func openRecords(t *testing.T, recs map[string]string) []*vuln.DB {
	t.Helper()
	dir := t.TempDir()
	for name, body := range recs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := vuln.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	dbDir := t.TempDir()
	if _, _, err := vuln.Import(dir, dbDir); err != nil {
		t.Fatal(err)
	}
	imp, err := vuln.Open(dbDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imp.Close() })
	return []*vuln.DB{raw, imp}
}

// Item 2: Go records carry no severity; the GHSA (or CVE) record they alias
// does. The two records are one finding with both ids, rated from the
// alias, and a severity filter says how many UNKNOWN findings it hid.
func TestSeverityFromAliases(t *testing.T) {
	recs := map[string]string{
		// Go record and its GHSA twin on the same module.
		"GO-2024-0001.json": `{"id":"GO-2024-0001","aliases":["CVE-2024-1111","GHSA-aaaa-bbbb-cccc"],"summary":"parser panics",
		  "affected":[{"package":{"ecosystem":"Go","name":"example.com/parser"},
		    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`,
		"GHSA-aaaa-bbbb-cccc.json": `{"id":"GHSA-aaaa-bbbb-cccc","aliases":["CVE-2024-1111"],
		  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
		  "affected":[{"package":{"ecosystem":"Go","name":"example.com/parser"},
		    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.1"}]}]}],
		  "database_specific":{"severity":"HIGH"}}`,
		// Go record whose CVE record (another ecosystem) holds a CVSS v4.0 vector.
		"GO-2024-0002.json": `{"id":"GO-2024-0002","aliases":["CVE-2024-2222"],
		  "affected":[{"package":{"ecosystem":"Go","name":"example.com/parser"},
		    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}]}`,
		"CVE-2024-2222.json": `{"id":"CVE-2024-2222",
		  "severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}],
		  "affected":[{"package":{"ecosystem":"GIT","name":"github.com/example/parser"}}]}`,
		// Go record without any rated alias: stays UNKNOWN.
		"GO-2024-0003.json": `{"id":"GO-2024-0003","aliases":["CVE-2024-3333"],
		  "affected":[{"package":{"ecosystem":"Go","name":"example.com/parser"},
		    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.4.0"}]}]}]}`,
		// A malformed vector is noted and not scored.
		"GHSA-dddd-eeee-ffff.json": `{"id":"GHSA-dddd-eeee-ffff",
		  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"}],
		  "affected":[{"package":{"ecosystem":"Go","name":"example.com/parser"},
		    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.5.0"}]}]}]}`,
		// A CVSS_V3 entry holding a v4 vector is rejected too.
		"GHSA-gggg-hhhh-iiii.json": `{"id":"GHSA-gggg-hhhh-iiii",
		  "severity":[{"type":"CVSS_V3","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}],
		  "affected":[{"package":{"ecosystem":"Go","name":"example.com/parser"},
		    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.6.0"}]}]}]}`,
	}
	s := &sbom.SBOM{Packages: []sbom.Package{{Type: "golang", Name: "example.com/parser", Version: "v1.0.0", Ecosystem: "Go",
		PURL: "pkg:golang/example.com/parser@v1.0.0", Location: "/app"}}}
	for _, db := range openRecords(t, recs) {
		res, err := db.Scan(s)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]vuln.Finding{}
		for _, f := range res.Findings {
			got[f.ID] = f
		}
		if len(res.Findings) != 5 {
			t.Errorf("%d findings, want 5 (GO-2024-0001 and its GHSA merged): %v", len(res.Findings), res.Findings)
		}
		f := got["GO-2024-0001"]
		if f.Severity != vuln.High || f.Score != 7.5 || f.SeverityFrom != "GHSA-aaaa-bbbb-cccc" ||
			!slices.Equal(f.Aliases, []string{"CVE-2024-1111", "GHSA-aaaa-bbbb-cccc"}) || !slices.Equal(f.FixedVersions, []string{"1.2.0", "1.2.1"}) {
			t.Errorf("GO-2024-0001 = %+v", f)
		}
		if _, dup := got["GHSA-aaaa-bbbb-cccc"]; dup {
			t.Error("GHSA twin reported apart")
		}
		if f := got["GO-2024-0002"]; f.Severity != vuln.Critical || f.Score != 9.3 || f.SeverityFrom != "CVE-2024-2222" {
			t.Errorf("GO-2024-0002 (v4.0 alias) = %s %v from %q", f.Severity, f.Score, f.SeverityFrom)
		}
		for _, id := range []string{"GO-2024-0003", "GHSA-dddd-eeee-ffff", "GHSA-gggg-hhhh-iiii"} {
			if got[id].Severity != vuln.Unknown {
				t.Errorf("%s severity %s, want UNKNOWN", id, got[id].Severity)
			}
		}
		notes := strings.Join(res.Notes, "\n")
		for _, id := range []string{"GHSA-dddd-eeee-ffff", "GHSA-gggg-hhhh-iiii"} {
			if !strings.Contains(notes, id) || !strings.Contains(notes, "malformed CVSS vector") {
				t.Errorf("no note about %s's malformed vector: %s", id, notes)
			}
		}
		res.ApplyFilter([]string{"high", "CRITICAL"})
		if len(res.Findings) != 2 || res.HiddenUnknown != 3 || res.HiddenOther != 0 {
			t.Errorf("filter HIGH,CRITICAL: %d kept, %d UNKNOWN hidden, %d other hidden; want 2, 3, 0", len(res.Findings), res.HiddenUnknown, res.HiddenOther)
		}
	}
}

// Item 1: a Go advisory restricted to other GOOS/GOARCH values (at the top
// of ecosystem_specific or in every imports[] entry) does not apply to a
// binary built for another platform.
func TestGoPlatformRestrictions(t *testing.T) {
	rec := func(id, spec string) string {
		return `{"id":"` + id + `","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},
		  "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.99.0"}]}],
		  "ecosystem_specific":` + spec + `}]}`
	}
	recs := map[string]string{
		"GO-1.json": rec("GO-WINDOWS", `{"imports":[{"path":"os","goos":["windows"]}]}`),
		"GO-2.json": rec("GO-ARM64", `{"imports":[{"path":"crypto/x","goarch":["arm64"]},{"path":"crypto/y","goos":["linux"],"goarch":["arm64","ppc64le"]}]}`),
		"GO-3.json": rec("GO-MIXED", `{"imports":[{"path":"net","goos":["windows"]},{"path":"net/http"}]}`),
		"GO-4.json": rec("GO-LINUX-AMD64", `{"imports":[{"path":"syscall","goos":["linux"],"goarch":["amd64"]}]}`),
		"GO-5.json": rec("GO-TOP", `{"goos":["darwin"]}`),
		"GO-6.json": rec("GO-ANY", `{"imports":[{"path":"fmt"}]}`),
	}
	for _, tc := range []struct {
		os, arch string
		want     []string
	}{
		{"linux", "amd64", []string{"GO-ANY", "GO-LINUX-AMD64", "GO-MIXED"}},
		{"linux", "arm64", []string{"GO-ANY", "GO-ARM64", "GO-MIXED"}},
		{"windows", "amd64", []string{"GO-ANY", "GO-MIXED", "GO-WINDOWS"}},
		{"", "", []string{"GO-ANY", "GO-ARM64", "GO-LINUX-AMD64", "GO-MIXED", "GO-TOP", "GO-WINDOWS"}}, // platform unknown: keep all
	} {
		s := &sbom.SBOM{Packages: []sbom.Package{{Type: "golang", Name: "stdlib", Version: "1.22.0", Ecosystem: "Go",
			PURL: "pkg:golang/stdlib@1.22.0", OS: tc.os, Arch: tc.arch}}}
		for _, db := range openRecords(t, recs) {
			res, err := db.Scan(s)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, f := range res.Findings {
				ids = append(ids, f.ID)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, tc.want) {
				t.Errorf("%s/%s: %v, want %v", tc.os, tc.arch, ids, tc.want)
			}
		}
	}
}

// RPM images are matched in RPM version order (epoch, version, release).
func TestRPMMatching(t *testing.T) {
	recs := map[string]string{
		"RLSA-1.json": `{"id":"RLSA-2024:0001","affected":[{"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},
		  "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-25.el9"}]}]}]}`,
		"RLSA-2.json": `{"id":"RLSA-2024:0002","affected":[{"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},
		  "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-24.el9"}]}]}]}`,
	}
	s := &sbom.SBOM{Packages: []sbom.Package{{Type: "rpm", Name: "openssl-libs", Version: "1:3.0.7-24.el9", Ecosystem: "Rocky Linux:9",
		PURL: "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?epoch=1"}}}
	for _, db := range openRecords(t, recs) {
		res, err := db.Scan(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Findings) != 1 || res.Findings[0].ID != "RLSA-2024:0001" || len(res.Notes) != 0 {
			t.Errorf("findings %+v notes %v", res.Findings, res.Notes)
		}
	}
}

// Java, PHP, Ruby and Rust packages are matched in their ecosystems'
// version orders.
func TestLanguageEcosystemMatching(t *testing.T) {
	rec := func(id, eco, name, intro, fixed string) string {
		return `{"id":"` + id + `","affected":[{"package":{"ecosystem":"` + eco + `","name":"` + name + `"},
		  "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"` + intro + `"},{"fixed":"` + fixed + `"}]}]}]}`
	}
	recs := map[string]string{
		"a.json": rec("GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core", "2.0-beta9", "2.15.0"),
		"b.json": rec("GHSA-maven-fixed", "Maven", "org.apache.logging.log4j:log4j-core", "0", "2.14.0"),
		"c.json": rec("GHSA-php", "Packagist", "guzzlehttp/guzzle", "7.0.0", "7.4.5"),
		"d.json": rec("GHSA-gem", "RubyGems", "nokogiri", "0", "1.13.10"),
		"e.json": rec("RUSTSEC-2021-0003", "crates.io", "smallvec", "1.6.0", "1.6.1"),
	}
	s := &sbom.SBOM{Packages: []sbom.Package{
		{Type: "maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", Ecosystem: "Maven", PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
		{Type: "composer", Name: "guzzlehttp/guzzle", Version: "7.4.4", Ecosystem: "Packagist", PURL: "pkg:composer/guzzlehttp/guzzle@7.4.4"},
		{Type: "gem", Name: "nokogiri", Version: "1.13.9", Ecosystem: "RubyGems", PURL: "pkg:gem/nokogiri@1.13.9"},
		{Type: "cargo", Name: "smallvec", Version: "1.6.0", Ecosystem: "crates.io", PURL: "pkg:cargo/smallvec@1.6.0"},
	}}
	for _, db := range openRecords(t, recs) {
		res, err := db.Scan(s)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range res.Findings {
			ids = append(ids, f.ID)
		}
		slices.Sort(ids)
		if want := []string{"GHSA-gem", "GHSA-jfh8-c2jp-5v3q", "GHSA-php", "RUSTSEC-2021-0003"}; !slices.Equal(ids, want) || len(res.Notes) != 0 {
			t.Errorf("findings %v (notes %v), want %v", ids, res.Notes, want)
		}
	}
}
