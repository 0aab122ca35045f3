package vuln_test

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/testkernel"
	"github.com/vigilsec/vigil/internal/vuln"
)

// hostSBOM catalogs a root filesystem holding the host's dpkg status (the
// first n installed packages) and os-release.
func hostSBOM(tb testing.TB, n int) *sbom.SBOM {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		testkernel.Skip(tb, "not a Debian host")
	}
	var keep []string
	for _, para := range strings.Split(string(status), "\n\n") {
		if strings.Contains(para, "\nStatus: install ok installed") && len(keep) < n {
			keep = append(keep, para)
		}
	}
	dir := tb.TempDir()
	os.MkdirAll(filepath.Join(dir, "var/lib/dpkg"), 0o755)
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), []byte(strings.Join(keep, "\n\n")+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o644)
	img, err := image.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer img.Close()
	s, _, err := sbom.Catalog(img)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// writeOSVZip writes n OSV records shaped like real Debian, Go, npm and
// PyPI advisories; about one in 400 names a source package of s.
func writeOSVZip(tb testing.TB, path string, n int, s *sbom.SBOM) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(bufio.NewWriterSize(f, 1<<20))
	var real []string
	for _, p := range s.Packages {
		src := p.SourceName
		if src == "" {
			src = p.Name
		}
		real = append(real, src)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ecos := []string{"Debian:12", "Debian:12", "Debian:11", "Go", "npm", "PyPI", "Alpine:v3.19"}
	for i := range n {
		eco := ecos[i%len(ecos)]
		name := fmt.Sprintf("pkg-%d", rng.IntN(n/4))
		if eco == "Debian:12" && rng.IntN(200) == 0 {
			name = real[rng.IntN(len(real))]
		}
		fixed := fmt.Sprintf("%d.%d.%d-1", rng.IntN(5), rng.IntN(20), rng.IntN(20))
		switch eco {
		case "Go", "npm":
			fixed = fmt.Sprintf("%d.%d.%d", rng.IntN(5), rng.IntN(20), rng.IntN(20))
		case "PyPI":
			fixed = fmt.Sprintf("%d.%d", rng.IntN(5), rng.IntN(20))
		case "Alpine:v3.19":
			fixed += "-r1"
			fixed = strings.Replace(fixed, "-1-r1", "-r1", 1)
		}
		rec := map[string]any{
			"schema_version": "1.6.0", "id": fmt.Sprintf("BENCH-%06d", i), "modified": "2024-01-01T00:00:00Z",
			"aliases":  []string{fmt.Sprintf("CVE-2024-%d", 10000+i)},
			"details":  strings.Repeat("Synthetic advisory text. ", 20),
			"severity": []map[string]string{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}},
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": eco, "name": name},
				"ranges":  []map[string]any{{"type": "ECOSYSTEM", "events": []map[string]string{{"introduced": "0"}, {"fixed": fixed}}}},
			}},
		}
		b, _ := json.Marshal(rec)
		w, err := zw.Create(fmt.Sprintf("BENCH-%06d.json", i))
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkScan100k scans ~100 real Debian packages against a database of
// 100k OSV records. Baseline (same run): decoding every record once, which
// is what a scanner without the (ecosystem, package) index must do.
func BenchmarkScan100k(b *testing.B) {
	s := hostSBOM(b, 100)
	dir := b.TempDir()
	zpath := filepath.Join(dir, "all.zip")
	writeOSVZip(b, zpath, 100_000, s)
	dbDir := filepath.Join(dir, "db")
	t0 := time.Now()
	st, _, err := vuln.Import(zpath, dbDir)
	if err != nil {
		b.Fatal(err)
	}
	importTime := time.Since(t0)
	if st.Records != 100_000 {
		b.Fatalf("imported %d records", st.Records)
	}
	// Baseline: decode every record.
	t0 = time.Now()
	f, err := os.Open(filepath.Join(dbDir, vuln.RecordsFile))
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r vuln.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	baseline := time.Since(t0)

	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	var res *vuln.Result
	for i := 0; i < b.N; i++ {
		db, err := vuln.Open(dbDir)
		if err != nil {
			b.Fatal(err)
		}
		res, err = db.Scan(s)
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(len(s.Packages)), "pkgs")
	b.ReportMetric(float64(len(res.Findings)), "findings")
	b.ReportMetric(float64(per)/float64(baseline), "x-decode-all")
	b.ReportMetric(float64(baseline.Milliseconds()), "ms-decode-all")
	b.ReportMetric(float64(importTime.Milliseconds()), "ms-import")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/(1<<20), "MB-alloc/op")
}
