package sbom_test

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/secrets"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// BuildRootFS copies about targetBytes of real Debian package content
// (the files of up to maxPkgs installed packages, by their dpkg file lists)
// into dir, with a dpkg status, file lists, copyright files and os-release,
// and returns the package names and the bytes copied.
func BuildRootFS(tb testing.TB, dir string, maxPkgs int, targetBytes int64) ([]string, int64) {
	tb.Helper()
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		testkernel.Skip(tb, "not a Debian host")
	}
	paras := map[string]string{}
	var names []string
	for _, para := range strings.Split(string(status), "\n\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(para, "Package: "), "\n")
		if strings.HasPrefix(para, "Package: ") && strings.Contains(para, "\nStatus: install ok installed") {
			paras[name] = para
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var chosen []string
	var total int64
	var st strings.Builder
	copyFile := func(src, dst string) int64 {
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 16<<20 {
			return 0
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		in, err := os.Open(src)
		if err != nil {
			return 0
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
		if err != nil {
			return 0
		}
		n, _ := io.Copy(out, in)
		out.Close()
		return n
	}
	per := targetBytes / int64(maxPkgs)
	for _, n := range names {
		if len(chosen) >= maxPkgs {
			break
		}
		list := "/var/lib/dpkg/info/" + n + ".list"
		f, err := os.Open(list)
		if err != nil {
			f, err = os.Open("/var/lib/dpkg/info/" + n + ":amd64.list")
			if err != nil {
				continue
			}
			list = f.Name()
		}
		var pkgBytes int64
		sc := bufio.NewScanner(f)
		for sc.Scan() && pkgBytes < per*2 && total+pkgBytes < targetBytes {
			p := sc.Text()
			pkgBytes += copyFile(p, filepath.Join(dir, p))
		}
		f.Close()
		total += pkgBytes
		copyFile(list, filepath.Join(dir, list))
		chosen = append(chosen, n)
		st.WriteString(paras[n] + "\n\n")
	}
	// Top up with more real files so the tree reaches the target size.
	filepath.WalkDir("/usr/lib/x86_64-linux-gnu", func(p string, d fs.DirEntry, err error) error {
		if err != nil || total >= targetBytes {
			return fs.SkipAll
		}
		if d.Type().IsRegular() {
			total += copyFile(p, filepath.Join(dir, "opt/extra", p))
		}
		return nil
	})
	os.MkdirAll(filepath.Join(dir, "var/lib/dpkg"), 0o755)
	os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), []byte(st.String()), 0o644)
	copyFile("/etc/os-release", filepath.Join(dir, "etc/os-release"))
	return chosen, total
}

func readAll(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		c, err := io.Copy(io.Discard, f)
		f.Close()
		n += c
		return err
	})
	return n, err
}

// BenchmarkCatalogRootFS measures the SBOM of a ~200 MB root filesystem of
// ~100 real Debian packages, against reading every byte of the tree once
// (the baseline, same run, warm page cache for both).
func BenchmarkCatalogRootFS(b *testing.B) {
	dir := b.TempDir()
	pkgs, size := BuildRootFS(b, dir, 100, 200<<20)
	if _, err := readAll(dir); err != nil { // warm the page cache
		b.Fatal(err)
	}
	t0 := time.Now()
	if _, err := readAll(dir); err != nil {
		b.Fatal(err)
	}
	baseline := time.Since(t0)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	var s *sbom.SBOM
	for i := 0; i < b.N; i++ {
		img, err := image.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		s, _, err = sbom.Catalog(img)
		img.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	per := b.Elapsed() / time.Duration(b.N)
	deb := 0
	for _, p := range s.Packages {
		if p.Type == sbom.TypeDeb {
			deb++
		}
	}
	if deb != len(pkgs) {
		b.Errorf("catalogued %d dpkg packages, wrote %d", deb, len(pkgs))
	}
	b.ReportMetric(float64(size)/(1<<20), "MB-rootfs")
	b.ReportMetric(float64(deb), "deb-pkgs")
	b.ReportMetric(float64(per)/float64(baseline), "x-read-all")
	b.ReportMetric(float64(baseline.Milliseconds()), "ms-read-all")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/(1<<20), "MB-alloc/op")
}

// BenchmarkSecretsRootFS measures the secret scan of a ~300 MB root
// filesystem of real Debian packages against the SBOM of the same tree,
// both timed in every iteration (x-sbom is the ratio of the totals; the aim
// is at most 2). The findings are logged (redacted previews).
func BenchmarkSecretsRootFS(b *testing.B) {
	dir := b.TempDir()
	BuildRootFS(b, dir, 200, 300<<20)
	_, size := dirSize(dir)
	if _, err := readAll(dir); err != nil { // warm the page cache
		b.Fatal(err)
	}
	sc := secrets.NewScanner(nil)
	var tSBOM, tSecrets time.Duration
	var fs []secrets.Finding
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		img, err := image.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := sbom.Catalog(img); err != nil {
			b.Fatal(err)
		}
		img.Close()
		t1 := time.Now()
		img, err = image.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		fs, err = sc.ScanImage(img)
		img.Close()
		if err != nil {
			b.Fatal(err)
		}
		tSBOM += t1.Sub(t0)
		tSecrets += time.Since(t1)
	}
	b.StopTimer()
	for _, f := range fs {
		b.Logf("%s %s:%d %s", f.Rule, f.Path, f.Line, f.Preview)
	}
	b.ReportMetric(float64(size)/(1<<20), "MB-rootfs")
	b.ReportMetric(float64(len(fs)), "secrets")
	b.ReportMetric(float64(tSecrets)/float64(tSBOM), "x-sbom")
	b.ReportMetric(float64(tSBOM.Milliseconds())/float64(b.N), "ms-sbom")
	b.ReportMetric(float64(tSecrets.Milliseconds())/float64(b.N), "ms-secrets")
}

// dirSize counts the files and bytes under dir.
func dirSize(dir string) (int, int64) {
	files, size := 0, int64(0)
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				files++
				size += fi.Size()
			}
		}
		return nil
	})
	return files, size
}
