package sbom_test

import (
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// rpmHeader encodes a package header blob as rpmdb stores it (index count,
// data length, 16-byte entries, data): strings, and the epoch as INT32.
func rpmHeader(fields map[int]string, epoch int) []byte {
	var index, data []byte
	add := func(tag, typ int, v []byte, align int) {
		for len(data)%align != 0 {
			data = append(data, 0)
		}
		e := make([]byte, 16)
		binary.BigEndian.PutUint32(e, uint32(tag))
		binary.BigEndian.PutUint32(e[4:], uint32(typ))
		binary.BigEndian.PutUint32(e[8:], uint32(len(data)))
		binary.BigEndian.PutUint32(e[12:], 1)
		index = append(index, e...)
		data = append(data, v...)
	}
	for _, tag := range []int{1000, 1001, 1002, 1014, 1022, 1044} {
		if v, ok := fields[tag]; ok {
			add(tag, 6, append([]byte(v), 0), 1)
		}
	}
	if epoch >= 0 {
		v := make([]byte, 4)
		binary.BigEndian.PutUint32(v, uint32(epoch))
		add(1003, 4, v, 4)
	}
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, uint32(len(index)/16))
	binary.BigEndian.PutUint32(b[4:], uint32(len(data)))
	return append(append(b, index...), data...)
}

// Item 4: the RPM cataloger reads rpmdb.sqlite (Fedora/RHEL 9 layout),
// with epochs, releases, source RPMs and licences.
func TestRPMSqlite(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]byte{
		rpmHeader(map[int]string{1000: "openssl-libs", 1001: "3.0.7", 1002: "24.el9", 1014: "ASL 2.0", 1022: "x86_64", 1044: "openssl-3.0.7-24.el9.src.rpm"}, 1),
		rpmHeader(map[int]string{1000: "bash", 1001: "5.1.8", 1002: "6.el9_1", 1014: "GPLv3+", 1022: "x86_64", 1044: "bash-5.1.8-6.el9_1.src.rpm"}, -1),
		rpmHeader(map[int]string{1000: "gpg-pubkey", 1001: "fd431d51", 1002: "4ae0493b"}, -1),
		[]byte{0, 0, 0, 9, 0, 0, 0, 1}, // corrupt: 9 entries in an 8-byte blob
	} {
		if _, err := db.Exec(`INSERT INTO Packages (blob) VALUES (?)`, h); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	rpmdb, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	layer := it.Layer(
		it.File("etc/os-release", 0o644, []byte("NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\n")),
		it.File("var/lib/rpm/rpmdb.sqlite", 0o644, rpmdb),
	)
	dir := filepath.Join(t.TempDir(), "img")
	if _, err := it.WriteOCILayout(dir, "example.com/rocky:9", it.Config{}, layer); err != nil {
		t.Fatal(err)
	}
	img := openImage(t, dir)
	s, warns, err := sbom.Catalog(img)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.Packages {
		got = append(got, p.PURL+" "+p.Ecosystem+" "+p.SourceName+" "+strings.Join(p.Licenses, ","))
	}
	want := []string{
		"pkg:rpm/rocky/bash@5.1.8-6.el9_1?arch=x86_64&distro=rocky-9.3&upstream=bash Rocky Linux bash GPLv3+",
		"pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1&upstream=openssl Rocky Linux openssl ASL 2.0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := s.Packages[1]; p.Version != "1:3.0.7-24.el9" {
		t.Errorf("openssl-libs version %q, want the epoch in it", p.Version)
	}
	if !strings.Contains(strings.Join(warns, "\n"), "var/lib/rpm/rpmdb.sqlite: package 4: rpm header: 9 entries") {
		t.Errorf("corrupt header not reported: %v", warns)
	}
}

// Item 4: the RPM cataloger reads the Berkeley DB rpmdb (RHEL/CentOS 7
// and 8), built here with Berkeley DB's own db_load (db-util), with
// headers large enough to live on overflow pages.
func TestRPMBerkeleyDB(t *testing.T) {
	dbLoad, err := exec.LookPath("db_load")
	if err != nil {
		testkernel.Skip(t, "db_load not installed (Debian package db-util)")
	}
	long := strings.Repeat("GPLv2+ and LGPLv2+ and BSD ", 200) // > a page: overflow chain
	var in strings.Builder
	in.WriteString("VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n")
	put := func(hnum uint32, v []byte) {
		k := make([]byte, 4)
		binary.LittleEndian.PutUint32(k, hnum)
		in.WriteString(" " + hex.EncodeToString(k) + "\n " + hex.EncodeToString(v) + "\n")
	}
	put(0, []byte{3, 0, 0, 0}) // rpm's "next package number" record
	put(1, rpmHeader(map[int]string{1000: "glibc", 1001: "2.28", 1002: "236.el8", 1014: "LGPLv2+", 1022: "x86_64", 1044: "glibc-2.28-236.el8.src.rpm"}, -1))
	put(2, rpmHeader(map[int]string{1000: "kernel-tools", 1001: "4.18.0", 1002: "513.el8", 1014: long, 1022: "x86_64", 1044: "kernel-4.18.0-513.el8.src.rpm"}, 0))
	put(3, rpmHeader(map[int]string{1000: "perl-IO", 1001: "1.38", 1002: "422.el8", 1014: "GPL+ or Artistic", 1022: "x86_64", 1044: "perl-5.26.3-422.el8.src.rpm"}, 0))
	in.WriteString("DATA=END\n")
	dbPath := filepath.Join(t.TempDir(), "Packages")
	cmd := exec.Command(dbLoad, "-f", "/dev/stdin", dbPath)
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("db_load: %v\n%s", err, out)
	}
	bdb, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	layer := it.Layer(
		it.File("etc/os-release", 0o644, []byte("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"8.9\"\n")),
		it.File("var/lib/rpm/Packages", 0o644, bdb),
	)
	dir := filepath.Join(t.TempDir(), "img")
	if _, err := it.WriteOCILayout(dir, "example.com/rhel:8", it.Config{}, layer); err != nil {
		t.Fatal(err)
	}
	s, warns, err := sbom.Catalog(openImage(t, dir))
	if err != nil || len(warns) > 0 {
		t.Fatalf("%v %v", err, warns)
	}
	var got []string
	for _, p := range s.Packages {
		got = append(got, p.Name+" "+p.Version+" "+p.SourceName+" "+p.Ecosystem+" "+strconv.Itoa(len(strings.Join(p.Licenses, ""))))
	}
	want := []string{"glibc 2.28-236.el8 glibc Red Hat 7", "kernel-tools 4.18.0-513.el8 kernel Red Hat " + strconv.Itoa(len(long)), "perl-IO 1.38-422.el8 perl Red Hat 16"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The sqlite cataloger on a database written by rpm itself: a package
// built with rpmbuild and recorded with rpm --justdb (rpm's own header
// encoding, not the test's).
func TestRPMSqliteWrittenByRPM(t *testing.T) {
	rpmbuild, err1 := exec.LookPath("rpmbuild")
	rpmBin, err2 := exec.LookPath("rpm")
	if err1 != nil || err2 != nil {
		testkernel.Skip(t, "rpm and rpmbuild not installed (Debian package rpm)")
	}
	top := t.TempDir()
	os.MkdirAll(filepath.Join(top, "SPECS"), 0o755)
	spec := filepath.Join(top, "SPECS", "hello.spec")
	os.WriteFile(spec, []byte("Name: vigil-hello\nVersion: 1.2.3\nRelease: 4.test\nEpoch: 2\nSummary: test package\nLicense: MIT and BSD-3-Clause\nBuildArch: noarch\n%description\nA package written for the tests.\n%files\n"), 0o644)
	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run(rpmbuild, "--define", "_topdir "+top, "-bb", spec)
	pkgs, _ := filepath.Glob(filepath.Join(top, "RPMS", "noarch", "*.rpm"))
	if len(pkgs) != 1 {
		t.Fatalf("rpmbuild produced %v", pkgs)
	}
	dbDir := filepath.Join(top, "db")
	os.MkdirAll(dbDir, 0o755)
	run(rpmBin, "--dbpath", dbDir, "--define", "_db_backend sqlite", "--initdb")
	run(rpmBin, "--dbpath", dbDir, "--define", "_db_backend sqlite", "-i", "--justdb", "--nodeps", pkgs[0])
	rpmdb, err := os.ReadFile(filepath.Join(dbDir, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	layer := it.Layer(
		it.File("etc/os-release", 0o644, []byte("ID=\"almalinux\"\nVERSION_ID=\"9.3\"\n")),
		it.File("var/lib/rpm/rpmdb.sqlite", 0o644, rpmdb),
	)
	dir := filepath.Join(t.TempDir(), "img")
	if _, err := it.WriteOCILayout(dir, "example.com/alma:9", it.Config{}, layer); err != nil {
		t.Fatal(err)
	}
	s, warns, err := sbom.Catalog(openImage(t, dir))
	if err != nil || len(warns) > 0 || len(s.Packages) != 1 {
		t.Fatalf("%v %v %+v", err, warns, s.Packages)
	}
	p := s.Packages[0]
	if p.Name != "vigil-hello" || p.Version != "2:1.2.3-4.test" || p.Arch != "noarch" || p.SourceName != "vigil-hello" ||
		strings.Join(p.Licenses, "") != "MIT and BSD-3-Clause" || p.Ecosystem != "AlmaLinux" ||
		p.PURL != "pkg:rpm/almalinux/vigil-hello@1.2.3-4.test?arch=noarch&distro=almalinux-9.3&epoch=2&upstream=vigil-hello" {
		t.Errorf("package %+v", p)
	}
}
