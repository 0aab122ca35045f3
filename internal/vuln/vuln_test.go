package vuln_test

import (
	"archive/zip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/vuln"
)

// Handmade records in the OSV schema (https://ossf.github.io/osv-schema/),
// shaped like the real Debian, Alpine, Go, GHSA and PyPI advisories.
var records = map[string]string{
	"DEBIAN-CVE-2023-0464.json": `{"schema_version":"1.6.0","id":"DEBIAN-CVE-2023-0464","modified":"2024-01-01T00:00:00Z","published":"2023-03-22T17:15:00Z",
	  "aliases":["CVE-2023-0464"],"summary":"openssl: denial of service via certificate policy constraints",
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl","purl":"pkg:deb/debian/openssl?arch=source"},
	    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.9-1"}]}],
	    "versions":["3.0.8-1"]},
	   {"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u5"}]}]}]}`,
	"DEBIAN-CVE-2024-2961.json": `{"id":"DEBIAN-CVE-2024-2961","modified":"2024-05-01T00:00:00Z","aliases":["CVE-2024-2961"],
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},
	    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.36-9+deb12u7"}]}],
	    "ecosystem_specific":{"urgency":"high"}}]}`,
	"DEBIAN-CVE-2099-0001.json": `{"id":"DEBIAN-CVE-2099-0001","modified":"2024-05-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian","name":"glibc"},
	    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1:0"}]}]}]}`,
	"ALPINE-CVE-2023-42366.json": `{"id":"ALPINE-CVE-2023-42366","modified":"2024-02-01T00:00:00Z","aliases":["CVE-2023-42366"],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"}],
	  "affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"busybox"},
	    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.36.1-r16"}]}]}]}`,
	"ALPINE-CVE-2023-5363.json": `{"id":"ALPINE-CVE-2023-5363","modified":"2024-02-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"busybox"},
	    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.36.1-r99"}]}]}]}`,
	"GO-2023-2102.json": `{"id":"GO-2023-2102","modified":"2023-10-11T00:00:00Z","aliases":["CVE-2023-39325","GHSA-4374-p667-p6c8"],
	  "summary":"HTTP/2 rapid reset can cause excessive work in net/http",
	  "affected":[{"package":{"ecosystem":"Go","name":"stdlib"},
	    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.20.10"},{"introduced":"1.21.0-0"},{"fixed":"1.21.3"}]}],
	    "ecosystem_specific":{"imports":[{"path":"net/http"}]}}],
	  "database_specific":{"url":"https://pkg.go.dev/vuln/GO-2023-2102"}}`,
	"GHSA-29mw-wpgm-hmr9.json": `{"id":"GHSA-29mw-wpgm-hmr9","modified":"2023-01-01T00:00:00Z","aliases":["CVE-2020-28500"],
	  "summary":"Regular Expression Denial of Service in lodash",
	  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
	    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"4.0.0"},{"last_affected":"4.17.20"}]}]}],
	  "database_specific":{"severity":"MODERATE","cwe_ids":["CWE-400"]}}`,
	"PYSEC-2023-74.json": `{"id":"PYSEC-2023-74","modified":"2023-06-01T00:00:00Z","aliases":["CVE-2023-32681"],
	  "affected":[{"package":{"ecosystem":"PyPI","name":"Requests"},
	    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.3.0"},{"fixed":"2.31.0"}]}],
	    "versions":["2.3.0","2.30.0"]}],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}]}`,
	"GHSA-withdrawn.json": `{"id":"GHSA-xxxx-withdrawn","modified":"2023-01-01T00:00:00Z","withdrawn":"2023-02-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"npm","name":"lodash"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
	"OSV-2021-git.json": `{"id":"OSV-2021-1234","modified":"2023-01-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"PyPI","name":"requests"},
	    "ranges":[{"type":"GIT","repo":"https://github.com/psf/requests","events":[{"introduced":"0"},{"fixed":"a1b2c3d"}]}]}]}`,
	"GHSA-limit.json": `{"id":"GHSA-limit-test","modified":"2023-01-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Go","name":"github.com/spf13/cobra"},
	    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"1.5.0"}]}],
	    "severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}]}`,
	"not-json.json": `{"id": broken`,
}

func writeRecords(t *testing.T) string {
	dir := t.TempDir()
	for name, body := range records {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func pkgs() *sbom.SBOM {
	p := []sbom.Package{
		{Type: "deb", Name: "libssl3", Version: "3.0.8-1", SourceName: "openssl", SourceVersion: "3.0.8-1", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/libssl3@3.0.8-1"},
		{Type: "deb", Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u2"},
		{Type: "deb", Name: "libc6", Version: "2.36-9+deb12u4", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4"},
		{Type: "apk", Name: "busybox-binsh", Version: "1.36.1-r15", SourceName: "busybox", Ecosystem: "Alpine:v3.19", PURL: "pkg:apk/alpine/busybox-binsh@1.36.1-r15"},
		{Type: "golang", Name: "stdlib", Version: "1.21.1", Ecosystem: "Go", PURL: "pkg:golang/stdlib@1.21.1"},
		{Type: "golang", Name: "github.com/spf13/cobra", Version: "v1.4.0", Ecosystem: "Go", PURL: "pkg:golang/github.com/spf13/cobra@v1.4.0"},
		{Type: "golang", Name: "github.com/spf13/cobra", Version: "v1.10.2", Ecosystem: "Go", PURL: "pkg:golang/github.com/spf13/cobra@v1.10.2"},
		{Type: "npm", Name: "lodash", Version: "4.17.20", Ecosystem: "npm", PURL: "pkg:npm/lodash@4.17.20"},
		{Type: "npm", Name: "lodash", Version: "4.17.21", Ecosystem: "npm", PURL: "pkg:npm/lodash@4.17.21"},
		{Type: "pypi", Name: "requests", Version: "2.28.0", Ecosystem: "PyPI", PURL: "pkg:pypi/requests@2.28.0"},
		{Type: "pypi", Name: "requests", Version: "2.31.0rc1", Ecosystem: "PyPI", PURL: "pkg:pypi/requests@2.31.0rc1"},
		{Type: "pypi", Name: "requests", Version: "2.31.0", Ecosystem: "PyPI", PURL: "pkg:pypi/requests@2.31.0"},
	}
	return &sbom.SBOM{Packages: p}
}

type hit struct{ id, purl string }

func scan(t *testing.T, db *vuln.DB) (*vuln.Result, map[hit]vuln.Finding) {
	t.Helper()
	res, err := db.Scan(pkgs())
	if err != nil {
		t.Fatal(err)
	}
	got := map[hit]vuln.Finding{}
	for _, f := range res.Findings {
		got[hit{f.ID, f.Package.PURL}] = f
	}
	return res, got
}

func checkScan(t *testing.T, db *vuln.DB) {
	res, got := scan(t, db)
	want := []struct {
		id, purl, severity string
		score              float64
		fixed              []string
	}{
		{"DEBIAN-CVE-2023-0464", "pkg:deb/debian/libssl3@3.0.8-1", vuln.High, 7.5, []string{"3.0.9-1"}},
		{"DEBIAN-CVE-2024-2961", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4", vuln.High, 0, []string{"2.36-9+deb12u7"}},
		{"ALPINE-CVE-2023-42366", "pkg:apk/alpine/busybox-binsh@1.36.1-r15", vuln.Medium, 5.5, []string{"1.36.1-r16"}},
		{"GO-2023-2102", "pkg:golang/stdlib@1.21.1", vuln.Unknown, 0, []string{"1.21.3"}},
		{"GHSA-limit-test", "pkg:golang/github.com/spf13/cobra@v1.4.0", vuln.High, 7.5, nil},
		{"GHSA-29mw-wpgm-hmr9", "pkg:npm/lodash@4.17.20", vuln.Medium, 0, nil},
		{"PYSEC-2023-74", "pkg:pypi/requests@2.28.0", vuln.Medium, 6.1, []string{"2.31.0"}},
		{"PYSEC-2023-74", "pkg:pypi/requests@2.31.0rc1", vuln.Medium, 6.1, []string{"2.31.0"}},
	}
	for _, w := range want {
		f, ok := got[hit{w.id, w.purl}]
		if !ok {
			t.Errorf("missing finding %s on %s", w.id, w.purl)
			continue
		}
		if f.Severity != w.severity || f.Score != w.score || !slices.Equal(f.FixedVersions, w.fixed) {
			t.Errorf("%s on %s: severity %s score %v fixed %v; want %s %v %v", w.id, w.purl, f.Severity, f.Score, f.FixedVersions, w.severity, w.score, w.fixed)
		}
		delete(got, hit{w.id, w.purl})
	}
	for h := range got {
		t.Errorf("unexpected finding %s on %s", h.id, h.purl)
	}
	// The "Debian" (no release) record with introduced "1:0" does not
	// affect epoch-0 glibc; the Debian:11 and Alpine:v3.18 entries and the
	// withdrawn record never match; the GIT-only record is a note.
	if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "OSV-2021-1234: GIT range") }) {
		t.Errorf("no note for the GIT range: %v", res.Notes)
	}
	if f := res.Findings[0]; f.Severity != vuln.High {
		t.Errorf("findings not sorted by severity: first is %s", f.Severity)
	}
}

func TestScanRawDirectory(t *testing.T) {
	db, err := vuln.Open(writeRecords(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkScan(t, db)
}

func TestImportZipAndMerge(t *testing.T) {
	// An OSV export zip holds one JSON file per record.
	zpath := filepath.Join(t.TempDir(), "all.zip")
	zf, _ := os.Create(zpath)
	zw := zip.NewWriter(zf)
	half := 0
	for name, body := range records {
		if strings.HasPrefix(name, "PYSEC") {
			continue // imported later from a directory
		}
		w, _ := zw.Create(name)
		w.Write([]byte(body))
		half++
	}
	zw.Close()
	zf.Close()
	dbDir := t.TempDir()
	st, warns, err := vuln.Import(zpath, dbDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Imported != half-1 || st.Skipped != 1 || len(warns) != 1 || !strings.Contains(warns[0].Error(), "not-json.json") {
		t.Errorf("zip import: %+v, warnings %v", st, warns)
	}
	// Merge: PYSEC from a directory, plus a new version of a record.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "PYSEC-2023-74.json"), []byte(records["PYSEC-2023-74.json"]), 0o644)
	os.WriteFile(filepath.Join(dir, "GHSA-29mw-wpgm-hmr9.json"), []byte(strings.Replace(records["GHSA-29mw-wpgm-hmr9.json"], `"MODERATE"`, `"MODERATE" `, 1)), 0o644)
	st, _, err = vuln.Import(dir, dbDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != len(records)-1 || st.Imported != 2 {
		t.Errorf("merge: %+v", st)
	}
	db, err := vuln.Open(dbDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Len() != len(records)-1 {
		t.Errorf("db has %d records", db.Len())
	}
	checkScan(t, db)
}

func TestOpenEmpty(t *testing.T) {
	if _, err := vuln.Open(t.TempDir()); err == nil {
		t.Error("empty directory accepted")
	}
}

func TestCVSS(t *testing.T) {
	for _, c := range []struct {
		vec   string
		score float64
		level string
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, vuln.Critical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, vuln.Critical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, vuln.Medium},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, vuln.High},
		{"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, vuln.Medium},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, vuln.Low},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0, vuln.None},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, vuln.Critical},
	} {
		s, l, err := vuln.CVSS(c.vec)
		if err != nil || s != c.score || l != c.level {
			t.Errorf("%s = %v %s %v, want %v %s", c.vec, s, l, err, c.score, c.level)
		}
	}
	for _, c := range []struct {
		vec   string
		score float64
	}{
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5}, {"AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3}, {"AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0}, {"AV:L/AC:L/Au:N/C:P/I:N/A:N", 2.1},
	} {
		if s, _, err := vuln.CVSS(c.vec); err != nil || s != c.score {
			t.Errorf("%s = %v %v, want %v", c.vec, s, err, c.score)
		}
	}
	// CVSS v4.0 (FIRST's calculator values).
	for _, c := range []struct {
		vec   string
		score float64
		level string
	}{
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, vuln.Critical},
		{"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5, vuln.High},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0, vuln.None},
	} {
		if s, l, err := vuln.CVSS(c.vec); err != nil || s != c.score || l != c.level {
			t.Errorf("%s = %v %s %v, want %v %s", c.vec, s, l, err, c.score, c.level)
		}
	}
	// Malformed vectors are rejected, never scored.
	for _, bad := range []string{
		"CVSS:3.1/AV:X/AC:L",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",         // missing A
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H", // repeated metric
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H",     // bad scope
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H", // missing subsequent-system metrics
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:Q",
		"CVSS:9.9/AV:N",
		"AV:N/AC:L/Au:N/C:P/I:P",
		"",
	} {
		if s, l, err := vuln.CVSS(bad); err == nil || !errors.Is(err, vuln.ErrBadVector) {
			t.Errorf("%q scored %v %s (err %v)", bad, s, l, err)
		}
	}
}

// TestIndexEscapesNames: a package name with a tab or newline in a record
// cannot add columns or lines to index.tsv.
func TestIndexEscapesNames(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "GHSA-evil.json"), []byte(`{"id":"GHSA-evil\n#records\t999","affected":[{"package":{"ecosystem":"npm","name":"x\n#records\t999\nnpm\tforged\t0\t1\u001b"}}]}`), 0o644)
	dbDir := t.TempDir()
	if _, _, err := vuln.Import(src, dbDir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dbDir, vuln.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	// The header, the record's id entry and its package entry.
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || strings.Count(lines[1], "\t") != 3 || strings.Count(lines[2], "\t") != 3 || strings.ContainsRune(string(b), 0x1b) {
		t.Fatalf("index.tsv:\n%q", b)
	}
}
