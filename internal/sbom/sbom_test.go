package sbom_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/testkernel"
)

var hostPackages = []string{"libc6", "zlib1g", "bash", "base-files", "coreutils", "tar", "openssl"}

// hostStatus returns the host's real dpkg status paragraphs for names.
func hostStatus(t *testing.T, names []string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		testkernel.Skip(t, "not a Debian host: "+err.Error())
	}
	out := map[string]string{}
	for _, para := range strings.Split(string(b), "\n\n") {
		for _, n := range names {
			if strings.HasPrefix(para, "Package: "+n+"\n") && strings.Contains(para, "\nStatus: install ok installed\n") {
				out[n] = strings.TrimSpace(para) + "\n"
			}
		}
	}
	if len(out) < 4 {
		testkernel.Skip(t, "too few of the expected packages on this host")
	}
	return out
}

func dpkgQuery(t *testing.T, pkg, format string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", format, pkg).Output()
	if err != nil {
		t.Fatalf("dpkg-query %s: %v", pkg, err)
	}
	return string(out)
}

func hostFile(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	return b
}

// debianImage builds a two-layer image from the host's real package
// metadata: layer 0 has the base packages; layer 1 "installs" openssl (its
// file list and an updated status), plus npm, Python and Go content.
func debianImage(t *testing.T) (dir string, paras map[string]string) {
	paras = hostStatus(t, hostPackages)
	var base []it.Entry
	base = append(base, it.File("etc/os-release", 0o644, hostFile(t, "/etc/os-release")))
	var status0, status1 strings.Builder
	var top []it.Entry
	for _, n := range hostPackages {
		para, ok := paras[n]
		if !ok {
			continue
		}
		status1.WriteString(para + "\n")
		list := it.File("var/lib/dpkg/info/"+n+".list", 0o644, []byte("/usr/share/doc/"+n+"\n"))
		if n == "openssl" {
			top = append(top, list)
		} else {
			status0.WriteString(para + "\n")
			base = append(base, list)
		}
		if c := hostFile(t, "/usr/share/doc/"+n+"/copyright"); c != nil {
			base = append(base, it.File("usr/share/doc/"+n+"/copyright", 0o644, c))
		}
	}
	// A removed package must not be reported.
	status0.WriteString("Package: removed-pkg\nStatus: deinstall ok config-files\nVersion: 1.0-1\nArchitecture: amd64\n\n")
	base = append(base, it.File("var/lib/dpkg/status", 0o644, []byte(status0.String())))
	top = append(top, it.File("var/lib/dpkg/status", 0o644, []byte(status1.String())))

	top = append(top,
		it.File("usr/local/bin/app", 0o755, goBinary(t)),
		it.File("app/node_modules/express/package.json", 0o644, []byte(`{"name":"express","version":"4.17.1","license":"MIT"}`)),
		it.File("app/node_modules/express/lib/package.json", 0o644, []byte(`{"name":"not-a-module","version":"0.0.0"}`)),
		it.File("app/node_modules/express/node_modules/debug/package.json", 0o644, []byte(`{"name":"debug","version":"2.6.9","license":{"type":"MIT"}}`)),
		it.File("app/node_modules/@babel/core/package.json", 0o644, []byte(`{"name":"@babel/core","version":"7.22.5","license":"MIT"}`)),
		it.File("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", 0o644,
			[]byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\nClassifier: License :: OSI Approved :: Apache Software License\n\nRequests is HTTP for Humans.\nName: not-this\n")),
		it.File("usr/lib/python3/dist-packages/PyYAML-6.0.1.egg-info/PKG-INFO", 0o644,
			[]byte("Metadata-Version: 1.1\nName: PyYAML\nVersion: 6.0.1\nLicense: MIT\n")),
		it.File("usr/lib/python3/dist-packages/ruamel.yaml-0.18.5.dist-info/METADATA", 0o644,
			[]byte("Metadata-Version: 2.1\nName: ruamel.yaml\nVersion: 0.18.5\n")),
		it.File("usr/lib/python3/dist-packages/Typing_Extensions-4.9.0.dist-info/METADATA", 0o644,
			[]byte("Metadata-Version: 2.1\nName: Typing_Extensions\nVersion: 4.9.0\n")),
	)
	dir = t.TempDir()
	if _, err := it.WriteOCILayout(dir, "registry.example.com/app:1.0", it.Config{}, it.Layer(base...), it.Layer(top...)); err != nil {
		t.Fatal(err)
	}
	return dir, paras
}

var goBin []byte

// goBinary builds (once) a small real Go program that depends on cobra, so
// that its build info lists a main module, a dependency and the toolchain.
func goBinary(t *testing.T) []byte {
	t.Helper()
	if goBin != nil {
		return goBin
	}
	dir := t.TempDir()
	sum, err := os.ReadFile("../../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/goapp\n\ngo 1.22\n\nrequire (\n\tgithub.com/spf13/cobra v1.10.2\n\tgithub.com/spf13/pflag v1.0.10\n\tgithub.com/inconshreveable/mousetrap v1.1.0\n)\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"github.com/spf13/cobra\"\n\nfunc main() { (&cobra.Command{Use: \"app\"}).Execute() }\n"), 0o644)
	cmd := exec.Command("go", "build", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		testkernel.Skip(t, "cannot build the Go test binary: "+err.Error()+": "+string(out))
	}
	goBin, err = os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	return goBin
}

func find(s *sbom.SBOM, typ, name string) *sbom.Package {
	for i := range s.Packages {
		if s.Packages[i].Type == typ && s.Packages[i].Name == name {
			return &s.Packages[i]
		}
	}
	return nil
}

func catalog(t *testing.T, target string) (*sbom.SBOM, *image.Image) {
	t.Helper()
	img, err := image.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	s, warns, err := sbom.Catalog(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Log("warning:", w)
	}
	return s, img
}

func TestCatalogDebian(t *testing.T) {
	dir, paras := debianImage(t)
	s, img := catalog(t, dir)
	if s.Distro == nil || s.Distro.ID == "" {
		t.Fatalf("distro not detected: %+v", s.Distro)
	}
	for n := range paras {
		p := find(s, sbom.TypeDeb, n)
		if p == nil {
			t.Errorf("dpkg package %s missing", n)
			continue
		}
		if want := dpkgQuery(t, n, "${Version}"); p.Version != want {
			t.Errorf("%s version %q, dpkg-query says %q", n, p.Version, want)
		}
		if src := dpkgQuery(t, n, "${source:Package}"); src != n && p.SourceName != src {
			t.Errorf("%s source %q, dpkg-query says %q", n, p.SourceName, src)
		}
		if sv := dpkgQuery(t, n, "${source:Version}"); p.SourceName != "" && p.SourceVersion != sv {
			t.Errorf("%s source version %q, dpkg-query says %q", n, p.SourceVersion, sv)
		}
		wantLayer := img.Layers[0].Digest
		if n == "openssl" {
			wantLayer = img.Layers[1].Digest
		}
		if p.Layer != wantLayer {
			t.Errorf("%s layer %s, want %s", n, p.Layer, wantLayer)
		}
		if !strings.HasPrefix(p.PURL, "pkg:deb/"+s.Distro.ID+"/"+n+"@") || !strings.Contains(p.PURL, "arch=") ||
			!strings.Contains(p.PURL, "distro="+s.Distro.ID+"-"+s.Distro.VersionID) {
			t.Errorf("%s purl %s", n, p.PURL)
		}
		if p.Ecosystem != "Debian:"+strings.SplitN(s.Distro.VersionID, ".", 2)[0] && s.Distro.ID == "debian" {
			t.Errorf("%s ecosystem %s", n, p.Ecosystem)
		}
	}
	if find(s, sbom.TypeDeb, "removed-pkg") != nil {
		t.Error("removed package reported")
	}
	if libc := find(s, sbom.TypeDeb, "libc6"); libc != nil {
		if libc.SourceName != "glibc" || !strings.Contains(libc.PURL, "upstream=glibc") {
			t.Errorf("libc6: source %q purl %s", libc.SourceName, libc.PURL)
		}
	}
	if b := find(s, sbom.TypeDeb, "bash"); b != nil && len(b.Licenses) == 0 && strings.Contains(string(hostFile(t, "/usr/share/doc/bash/copyright")), "\nLicense:") {
		t.Error("bash: no license from its DEP-5 copyright file")
	}
	if z := find(s, sbom.TypeDeb, "zlib1g"); z != nil && strings.Contains(z.Version, ":") {
		if u, ok := sbom.ParsePURL(z.PURL); !ok || u.Version != z.Version {
			t.Errorf("epoch of %s lost in %s (%+v)", z.Version, z.PURL, u)
		}
	}
	// npm: three modules, the nested lib/package.json ignored.
	for _, c := range []struct{ name, purl string }{
		{"express", "pkg:npm/express@4.17.1"}, {"debug", "pkg:npm/debug@2.6.9"}, {"@babel/core", "pkg:npm/%40babel/core@7.22.5"},
	} {
		p := find(s, sbom.TypeNPM, c.name)
		if p == nil || p.PURL != c.purl || len(p.Licenses) != 1 || p.Licenses[0] != "MIT" || p.Layer != img.Layers[1].Digest {
			t.Errorf("npm %s: %+v", c.name, p)
		}
	}
	if find(s, sbom.TypeNPM, "not-a-module") != nil {
		t.Error("package.json outside a module root reported")
	}
	if p := find(s, sbom.TypePyPI, "requests"); p == nil || p.Version != "2.31.0" || p.PURL != "pkg:pypi/requests@2.31.0" || p.Licenses[0] != "Apache 2.0" {
		t.Errorf("python requests: %+v", p)
	}
	if p := find(s, sbom.TypePyPI, "PyYAML"); p == nil || p.PURL != "pkg:pypi/pyyaml@6.0.1" {
		t.Errorf("python PyYAML: %+v", p)
	}
	// Item 4: the purl spec lower-cases and turns "_" into "-" but keeps
	// dots; PEP 503's full normalisation is for matching, not the purl.
	if p := find(s, sbom.TypePyPI, "ruamel.yaml"); p == nil || p.PURL != "pkg:pypi/ruamel.yaml@0.18.5" {
		t.Errorf("python ruamel.yaml: %+v", p)
	}
	if p := find(s, sbom.TypePyPI, "Typing_Extensions"); p == nil || p.PURL != "pkg:pypi/typing-extensions@4.9.0" {
		t.Errorf("python Typing_Extensions: %+v", p)
	}
	// Go: the test binary's toolchain and modules.
	std := find(s, sbom.TypeGolang, "stdlib")
	if std == nil || "go"+std.Version != runtime.Version() || std.Location != "/usr/local/bin/app" || std.PURL != "pkg:golang/stdlib@"+std.Version {
		t.Errorf("go stdlib: %+v (runtime %s)", std, runtime.Version())
	}
	if p := find(s, sbom.TypeGolang, "github.com/spf13/cobra"); p == nil || p.PURL != "pkg:golang/github.com/spf13/cobra@"+p.Version || !strings.HasPrefix(p.Version, "v1.") {
		t.Errorf("go dependency: %+v", p)
	}
	if p := find(s, sbom.TypeGolang, "example.com/goapp"); p == nil || p.Version != "" || p.PURL != "pkg:golang/example.com/goapp" {
		t.Errorf("go dependency: %+v", p)
	}
	// Item 1: the platform the binary was built for, from its build info.
	for _, p := range s.Packages {
		if p.Type == sbom.TypeGolang && (p.OS != "linux" || p.Arch != runtime.GOARCH) {
			t.Errorf("go %s: platform %s/%s, want linux/%s", p.Name, p.OS, p.Arch, runtime.GOARCH)
		}
	}
}

func TestCatalogAlpineAndDistroless(t *testing.T) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testkernel.Skip(t, "busybox-static not installed")
	}
	// /lib/apk/db/installed in apk's real format (fields from Alpine 3.19).
	installed := `C:Q1Ww2BtNEdjLp5Q0nrDOnj6Ix4A5k=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1700002340
c:e4aa2cfd1e6d1e0c6d38a2ec8d4f76d3b2b1d6c8
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1SQ2CS5Oy0JnyV2xjvX3Ei8v3Ai4=
R:libc.musl-x86_64.so.1

C:Q1kX5Nb2BZf1M3h8V4d5d1l5bE9g6k=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
S:1547
I:1
T:busybox ash /bin/sh
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1700011111
c:e4aa2cfd1e6d1e0c6d38a2ec8d4f76d3b2b1d6c9
F:bin
R:sh
a:0:0:777
`
	alpine := it.Layer(
		it.File("etc/os-release", 0o644, []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n")),
		it.File("bin/busybox", 0o755, bb), it.Symlink("bin/sh", "/bin/busybox"),
		it.File("lib/ld-musl-x86_64.so.1", 0o755, []byte("not really musl")),
		it.File("lib/apk/db/installed", 0o644, []byte(installed)),
	)
	p := filepath.Join(t.TempDir(), "alpine.tar")
	if err := it.WriteDockerArchive(p, []string{"alpine:3.19"}, it.Config{}, alpine); err != nil {
		t.Fatal(err)
	}
	s, _ := catalog(t, p)
	musl := find(s, sbom.TypeAPK, "musl")
	if musl == nil || musl.Version != "1.2.4_git20230717-r4" || musl.Ecosystem != "Alpine:v3.19" ||
		musl.PURL != "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1" || musl.Licenses[0] != "MIT" {
		t.Errorf("musl: %+v", musl)
	}
	bsh := find(s, sbom.TypeAPK, "busybox-binsh")
	if bsh == nil || bsh.SourceName != "busybox" || !strings.Contains(bsh.PURL, "upstream=busybox") {
		t.Errorf("busybox-binsh: %+v", bsh)
	}

	// Distroless keeps one stanza per package under status.d.
	tz := "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nInstalled-Size: 1234\nSection: localization\nPriority: required\nDescription: time zone and daylight-saving time data\n"
	dl := it.Layer(
		it.File("etc/os-release", 0o644, []byte("PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\n")),
		it.File("var/lib/dpkg/status.d/tzdata", 0o644, []byte(tz)),
		it.File("var/lib/dpkg/status.d/tzdata.md5sums", 0o644, []byte("abc  usr/share/zoneinfo/UTC\n")),
	)
	dir := t.TempDir()
	if _, err := it.WriteOCILayout(dir, "gcr.io/distroless/static-debian12", it.Config{User: "65532"}, dl); err != nil {
		t.Fatal(err)
	}
	s, _ = catalog(t, dir)
	tzp := find(s, sbom.TypeDeb, "tzdata")
	if len(s.Packages) != 1 || tzp == nil || tzp.Version != "2024a-0+deb12u1" || tzp.Ecosystem != "Debian:12" ||
		tzp.PURL != "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12" {
		t.Errorf("distroless: %+v", s.Packages)
	}
}

func TestRoundTrip(t *testing.T) {
	dir, _ := debianImage(t)
	s, _ := catalog(t, dir)
	for _, format := range []string{"cyclonedx", "spdx"} {
		var buf bytes.Buffer
		var err error
		if format == "cyclonedx" {
			err = sbom.WriteCycloneDX(&buf, s, nil)
		} else {
			err = sbom.WriteSPDX(&buf, s, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		back, err := sbom.Read(&buf)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(back.Packages) != len(s.Packages) {
			t.Fatalf("%s: %d packages back, wrote %d", format, len(back.Packages), len(s.Packages))
		}
		for i, p := range s.Packages {
			q := back.Packages[i]
			if q.Name != p.Name || q.Version != p.Version || q.SourceName != p.SourceName || q.Ecosystem != p.Ecosystem || q.Layer != p.Layer {
				t.Errorf("%s: %+v came back as %+v", format, p, q)
			}
		}
	}
}

func TestPURLParse(t *testing.T) {
	u, ok := sbom.ParsePURL("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc")
	if !ok || u.Name != "libc6" || u.Version != "2.36-9+deb12u4" || u.Qualifiers["upstream"] != "glibc" || u.Namespace != "debian" {
		t.Errorf("%+v", u)
	}
	if _, ok := sbom.ParsePURL("not a purl"); ok {
		t.Error("accepted garbage")
	}
}

// TestReadForeignCycloneDX reads a CycloneDX document as Trivy writes it
// (source package in properties, distro with a point release).
func TestReadForeignCycloneDX(t *testing.T) {
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,
	 "metadata":{"component":{"type":"container","name":"debian:12"}},
	 "components":[
	  {"bom-ref":"x","type":"library","name":"libc6","version":"2.36-9+deb12u4","purl":"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12.5",
	   "properties":[{"name":"aquasecurity:trivy:SrcName","value":"glibc"},{"name":"aquasecurity:trivy:SrcVersion","value":"2.36-9+deb12u4"}]},
	  {"type":"operating-system","name":"debian","version":"12.5"},
	  {"type":"library","name":"left-pad","version":"1.3.0","purl":"pkg:npm/left-pad@1.3.0"}]}`
	s, err := sbom.Read(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	libc := find(s, sbom.TypeDeb, "libc6")
	if libc == nil || libc.SourceName != "glibc" || libc.SourceVersion != "2.36-9+deb12u4" || libc.Ecosystem != "Debian:12" {
		t.Errorf("libc6: %+v", libc)
	}
	if lp := find(s, sbom.TypeNPM, "left-pad"); lp == nil || lp.Ecosystem != "npm" {
		t.Errorf("left-pad: %+v", lp)
	}
	if _, err := sbom.Read(strings.NewReader(`{"hello":1}`)); !errors.Is(err, sbom.ErrNotSBOM) {
		t.Errorf("not an SBOM: %v", err)
	}
}
