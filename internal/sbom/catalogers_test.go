package sbom_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/zlib"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/testkernel"
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

// zipOf writes a zip archive of name → content.
func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// auditableBinary returns a real ELF executable (busybox) carrying a
// cargo-auditable .dep-v0 section, added with objcopy.
func auditableBinary(t *testing.T) []byte {
	t.Helper()
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		if objcopy, err = exec.LookPath("llvm-objcopy"); err != nil {
			testkernel.Skip(t, "no objcopy (binutils or llvm)")
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testkernel.Skip(t, "busybox-static not installed")
	}
	dir := t.TempDir()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(`{"packages":[{"name":"app","version":"0.1.0","source":"local","kind":"runtime","root":true,"dependencies":[1,2]},
	  {"name":"smallvec","version":"1.6.0","source":"crates.io","kind":"runtime"},
	  {"name":"serde","version":"1.0.190","source":"crates.io","kind":"runtime"},
	  {"name":"private-dep","version":"2.0.0","source":"git","kind":"runtime"}]}`))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "deps"), z.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "bin"), bb, 0o755)
	cmd := exec.Command(objcopy, "--add-section", ".dep-v0="+filepath.Join(dir, "deps"), filepath.Join(dir, "bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Item 4: Rust (Cargo.lock, cargo auditable), PHP (composer.lock), Ruby
// (Gemfile.lock) and Java (jar/war: pom.properties, MANIFEST.MF, nested
// jars) catalogers.
func TestLanguageCatalogers(t *testing.T) {
	cargoLock := `# This file is automatically @generated by Cargo.
version = 3

[[package]]
name = "myapp"
version = "0.1.0"
dependencies = ["smallvec"]

[[package]]
name = "smallvec"
version = "1.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "fe0f37c9e8f3c5a4a66ad655a93c74daac4ad00c441533bf5c6e7990bb42604e"

[[package]]
name = "localcrate"
version = "0.2.0"

[metadata]
`
	composer := `{"_readme": ["generated"], "packages": [
	  {"name": "guzzlehttp/guzzle", "version": "7.4.4", "license": ["MIT"]},
	  {"name": "symfony/http-kernel", "version": "v5.4.20", "license": ["MIT"]}],
	 "packages-dev": [{"name": "phpunit/phpunit", "version": "9.6.0", "license": ["BSD-3-Clause"]}]}`
	gemfile := `GEM
  remote: https://rubygems.org/
  specs:
    actionpack (7.0.4)
      rack (~> 2.0, >= 2.2.0)
    nokogiri (1.13.9-x86_64-linux)
      racc (~> 1.4)
    rack (2.2.4)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  actionpack
  nokogiri

BUNDLED WITH
   2.3.26
`
	inner := zipOf(t, map[string][]byte{
		"META-INF/MANIFEST.MF":                            []byte("Manifest-Version: 1.0\r\nImplementation-Title: commons-text\r\nImplementation-Version: 1.9\r\nImplementation-Vendor-Id: org.apache.commons\r\n\r\n"),
		"org/apache/commons/text/StringSubstitutor.class": []byte("\xca\xfe\xba\xbe"),
	})
	log4j := zipOf(t, map[string][]byte{
		"META-INF/MANIFEST.MF": []byte("Manifest-Version: 1.0\n"),
		"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties": []byte("#Created by Apache Maven\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n"),
	})
	war := zipOf(t, map[string][]byte{
		"WEB-INF/web.xml":                   []byte("<web-app/>"),
		"WEB-INF/lib/commons-text-1.9.jar":  inner,
		"WEB-INF/lib/log4j-core-2.14.1.jar": log4j,
	})
	layer := it.Layer(
		it.File("src/app/Cargo.lock", 0o644, []byte(cargoLock)),
		it.File("usr/local/bin/rustapp", 0o755, auditableBinary(t)),
		it.File("var/www/composer.lock", 0o644, []byte(composer)),
		it.File("srv/rails/Gemfile.lock", 0o644, []byte(gemfile)),
		it.File("opt/tomcat/webapps/shop.war", 0o644, war),
		it.File("opt/tools/not-a-jar.jar", 0o644, []byte("plain text")),
	)
	for _, kind := range []string{"oci", "rootfs"} {
		var target string
		if kind == "oci" {
			target = filepath.Join(t.TempDir(), "img")
			if _, err := it.WriteOCILayout(target, "example.com/langs:1", it.Config{}, layer); err != nil {
				t.Fatal(err)
			}
		} else {
			target = unpack(t, layer)
		}
		img := openImage(t, target)
		s, warns, err := sbom.Catalog(img)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range s.Packages {
			got = append(got, p.PURL+" "+p.Ecosystem+" "+p.Location)
		}
		sort.Strings(got)
		want := []string{
			"pkg:cargo/serde@1.0.190 crates.io /usr/local/bin/rustapp",
			"pkg:cargo/smallvec@1.6.0 crates.io /src/app/Cargo.lock",
			"pkg:cargo/smallvec@1.6.0 crates.io /usr/local/bin/rustapp",
			"pkg:composer/guzzlehttp/guzzle@7.4.4 Packagist /var/www/composer.lock",
			"pkg:composer/phpunit/phpunit@9.6.0 Packagist /var/www/composer.lock",
			"pkg:composer/symfony/http-kernel@5.4.20 Packagist /var/www/composer.lock",
			"pkg:gem/actionpack@7.0.4 RubyGems /srv/rails/Gemfile.lock",
			"pkg:gem/nokogiri@1.13.9 RubyGems /srv/rails/Gemfile.lock",
			"pkg:gem/rack@2.2.4 RubyGems /srv/rails/Gemfile.lock",
			"pkg:maven/org.apache.commons/commons-text@1.9 Maven /opt/tomcat/webapps/shop.war!/WEB-INF/lib/commons-text-1.9.jar",
			"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1 Maven /opt/tomcat/webapps/shop.war!/WEB-INF/lib/log4j-core-2.14.1.jar",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: packages\n%s\nwant\n%s", kind, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if !strings.Contains(strings.Join(warns, "\n"), "not-a-jar.jar: not a zip archive") {
			t.Errorf("%s: no warning for a broken jar: %v", kind, warns)
		}
	}
}

// unpack writes the entries of an uncompressed layer tar into a directory.
func unpack(t *testing.T, layer []byte) string {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		p := filepath.Join(dir, h.Name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		switch h.Typeflag {
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			os.WriteFile(p, b, os.FileMode(h.Mode))
		case tar.TypeSymlink:
			os.Symlink(h.Linkname, p)
		}
	}
	return dir
}
