package sbom_test

import (
	"database/sql"
	"encoding/binary"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// rpmWrittenHeaders builds packages with rpmbuild, records them with rpm
// --justdb in a sqlite rpmdb and returns that database file and the header
// blobs rpm wrote into it, in package order.
func rpmWrittenHeaders(t *testing.T, specs ...string) (string, [][]byte) {
	t.Helper()
	rpmbuild, err1 := exec.LookPath("rpmbuild")
	rpmBin, err2 := exec.LookPath("rpm")
	if err1 != nil || err2 != nil {
		testkernel.Skip(t, "rpm and rpmbuild not installed (Debian package rpm)")
	}
	top := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	os.MkdirAll(filepath.Join(top, "SPECS"), 0o755)
	dbDir := filepath.Join(top, "db")
	os.MkdirAll(dbDir, 0o755)
	run(rpmBin, "--dbpath", dbDir, "--define", "_db_backend sqlite", "--initdb")
	for i, s := range specs {
		spec := filepath.Join(top, "SPECS", "p"+string(rune('0'+i))+".spec")
		os.WriteFile(spec, []byte(s+"Summary: test package\nBuildArch: noarch\n%description\nA package written for the tests.\n%files\n"), 0o644)
		run(rpmbuild, "--define", "_topdir "+top, "-bb", spec)
	}
	pkgs, _ := filepath.Glob(filepath.Join(top, "RPMS", "noarch", "*.rpm"))
	if len(pkgs) != len(specs) {
		t.Fatalf("rpmbuild produced %v", pkgs)
	}
	run(rpmBin, append([]string{"--dbpath", dbDir, "--define", "_db_backend sqlite", "-i", "--justdb", "--nodeps"}, pkgs...)...)
	file := filepath.Join(dbDir, "rpmdb.sqlite")
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(file)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT blob FROM Packages ORDER BY hnum")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var blobs [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	if len(blobs) != len(specs) {
		t.Fatalf("%d headers in the rpmdb for %d packages", len(blobs), len(specs))
	}
	return file, blobs
}

// Issue 17 item 4: the RPM cataloger reads the ndb Packages.db of recent
// SUSE images. The package headers are rpm's own (rpmbuild, then rpm
// --justdb); the ndb container around them is laid out by sbom.WriteNDB
// after rpm's lib/backend/ndb/rpmpkg.c, because this Debian rpm has no ndb
// backend. The packages must be the ones the same headers give through the
// sqlite cataloger.
func TestRPMNDB(t *testing.T) {
	sqliteFile, blobs := rpmWrittenHeaders(t,
		"Name: vigil-hello\nVersion: 1.2.3\nRelease: 4.test\nEpoch: 2\nLicense: MIT\n",
		"Name: vigil-world\nVersion: 0.9\nRelease: 1.lp155\nLicense: GPL-2.0-or-later\n",
		"Name: vigil-big\nVersion: 7\nRelease: 1\nLicense: BSD-3-Clause\n")
	rpmdb, err := os.ReadFile(sqliteFile)
	if err != nil {
		t.Fatal(err)
	}
	// A free slot between packages, as a removed package leaves.
	ndb := sbom.WriteNDB([][]byte{blobs[0], nil, blobs[1], blobs[2]})
	osRelease := it.File("etc/os-release", 0o644, []byte("ID=\"opensuse-leap\"\nVERSION_ID=\"15.5\"\n"))
	catalog := func(path string, db []byte) []sbom.Package {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "img")
		if _, err := it.WriteOCILayout(dir, "example.com/leap:15.5", it.Config{},
			it.Layer(osRelease, it.File(path, 0o644, db))); err != nil {
			t.Fatal(err)
		}
		s, warns, err := sbom.Catalog(openImage(t, dir))
		if err != nil || len(warns) > 0 {
			t.Fatalf("%s: %v %v", path, err, warns)
		}
		return s.Packages
	}
	got := catalog("usr/lib/sysimage/rpm/Packages.db", ndb)
	want := catalog("usr/lib/sysimage/rpm/rpmdb.sqlite", rpmdb)
	key := func(p sbom.Package) string { return p.PURL + " " + strings.Join(p.Licenses, ",") + " " + p.Version }
	var gk, wk []string
	for _, p := range got {
		gk = append(gk, key(p))
		if p.Location != "/usr/lib/sysimage/rpm/Packages.db" || p.Ecosystem != "openSUSE" {
			t.Errorf("package %s: location %s ecosystem %s", p.Name, p.Location, p.Ecosystem)
		}
	}
	for _, p := range want {
		wk = append(wk, key(p))
	}
	slices.Sort(gk)
	slices.Sort(wk)
	if len(gk) != 3 || !slices.Equal(gk, wk) {
		t.Fatalf("ndb packages\n%s\nwant (sqlite, same headers)\n%s", strings.Join(gk, "\n"), strings.Join(wk, "\n"))
	}
	if !slices.ContainsFunc(got, func(p sbom.Package) bool {
		return p.Name == "vigil-hello" && p.Version == "2:1.2.3-4.test" &&
			p.PURL == "pkg:rpm/opensuse-leap/vigil-hello@1.2.3-4.test?arch=noarch&distro=opensuse-leap-15.5&epoch=2&upstream=vigil-hello"
	}) {
		t.Errorf("vigil-hello with its epoch missing: %+v", got)
	}
}

// Bad Packages.db input: a clear error with the byte offset, or the bad
// package skipped with a warning naming its slot and offset; never a panic.
func TestRPMNDBBadInput(t *testing.T) {
	h := func(name string) []byte { // a small header of the test's own
		return rpmHeaderFor(name)
	}
	good := sbom.WriteNDB([][]byte{h("a"), h("b")})
	le := binary.LittleEndian
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	firstBlob := int(le.Uint32(good[32+8:])) * 16
	for _, tc := range []struct {
		name string
		db   []byte
		err  string // an error containing this, or
		warn string // a warning containing this, with pkgs packages
		pkgs int
	}{
		{"empty", nil, "offset 0 (0x0): 0 bytes: shorter than the 32-byte header", "", 0},
		{"not ndb", []byte(strings.Repeat("SQLite format 3\x00", 4)), "not an rpm ndb package database", "", 0},
		{"version", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 7); return b }), "offset 4 (0x4): version 7", "", 0},
		{"slot pages beyond the file", mutate(func(b []byte) []byte { le.PutUint32(b[12:], 99); return b }), "offset 12 (0xc): 99 slot pages", "", 0},
		{"cut short", good[:len(good)-5], "not a multiple of 16 (truncated?)", "", 0},
		{"bad slot magic", mutate(func(b []byte) []byte { copy(b[48:], "XXXX"); return b }), "offset 48 (0x30): slot 3: bad magic", "", 0},
		{"checksum", mutate(func(b []byte) []byte { b[firstBlob+20] ^= 0xff; return b }), "", "slot 2 (package 1): blob at offset 4096: checksum", 1},
		{"blob outside", mutate(func(b []byte) []byte { le.PutUint32(b[32+8:], 1_000_000); return b }), "", "offset 32 (0x20): slot 2 (package 1): blocks 1000000+", 1},
		{"blob of another package", mutate(func(b []byte) []byte { le.PutUint32(b[firstBlob+4:], 9); return b }), "", "blob of package 9 in the slot of package 1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, warns, err := sbom.ParseRPMNDB(tc.db)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(pkgs) != tc.pkgs || len(warns) != 1 || !strings.Contains(warns[0], tc.warn) {
				t.Fatalf("err %v, %d packages, warnings %q; want %d packages and %q", err, len(pkgs), warns, tc.pkgs, tc.warn)
			}
		})
	}
}

// rpmHeaderFor is a header blob with a name, version and release.
func rpmHeaderFor(name string) []byte {
	return rpmHeader(map[int]string{1000: name, 1001: "1.0", 1002: "1", 1022: "noarch"}, -1)
}
