package sbom_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/sbom"
)

const dpkgStatus = "Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nArchitecture: amd64\n\nPackage: libfoo1\nStatus: install ok installed\nVersion: 1.2-1\nArchitecture: amd64\nSource: foo\n\n"

// Item 4: a symlinked /var/lib/dpkg/status (relative or absolute target)
// is resolved inside the image, never on the host, and read.
func TestDpkgStatusSymlink(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		want         int
	}{
		{"relative", "../../../usr/share/dpkg/status.real", 2},
		{"absolute", "/usr/share/dpkg/status.real", 2},
		{"chained", "status.link2", 2},
	} {
		layer := it.Layer(
			it.File("etc/os-release", 0o644, []byte("ID=debian\nVERSION_ID=\"12\"\n")),
			it.File("usr/share/dpkg/status.real", 0o644, []byte(dpkgStatus)),
			it.Symlink("var/lib/dpkg/status.link2", "/usr/share/dpkg/status.real"),
			it.Symlink("var/lib/dpkg/status", tc.target),
		)
		dir := filepath.Join(t.TempDir(), "img")
		if _, err := it.WriteOCILayout(dir, "example.com/deb:1", it.Config{}, layer); err != nil {
			t.Fatal(err)
		}
		s, _ := catalog(t, dir)
		if len(s.Packages) != tc.want {
			t.Errorf("%s: %d packages, want %d", tc.name, len(s.Packages), tc.want)
			continue
		}
		if p := find(s, sbom.TypeDeb, "libfoo1"); p == nil || p.Location != "/var/lib/dpkg/status" || p.SourceName != "foo" || p.Ecosystem != "Debian:12" {
			t.Errorf("%s: libfoo1 %+v", tc.name, p)
		}
	}
	// A root filesystem whose status links to an absolute path: the link
	// is followed inside the tree, not on the host.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/share/dpkg"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/share/dpkg/status.real"), []byte(dpkgStatus), 0o644)
	os.Symlink("/usr/share/dpkg/status.real", filepath.Join(root, "var/lib/dpkg/status"))
	s, _ := catalog(t, root)
	if len(s.Packages) != 2 {
		t.Errorf("rootfs: %d packages, want 2 (host status has many more)", len(s.Packages))
	}
	// A link that leads nowhere inside the image says so.
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "var/lib/dpkg"), 0o755)
	os.Symlink("/nonexistent/status", filepath.Join(bad, "var/lib/dpkg/status"))
	img := openImage(t, bad)
	_, warns, err := sbom.Catalog(img)
	if err != nil || !strings.Contains(strings.Join(warns, "\n"), "var/lib/dpkg/status: symlink to /nonexistent/status does not resolve") {
		t.Errorf("dangling status link: %v %v", err, warns)
	}
}

func openImage(t *testing.T, target string) *image.Image {
	t.Helper()
	img, err := image.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}
