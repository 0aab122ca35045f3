package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"
)

// plantSymlink makes dir/name a symlink, as another user could in a shared
// directory, to a file root cares about; it returns that file.
func plantSymlink(t *testing.T, dir, name string) string {
	t.Helper()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return victim
}

func victimUntouched(t *testing.T, what, victim string) {
	t.Helper()
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious\n" {
		t.Errorf("%s wrote through a planted symlink: victim now %.60q (%v)", what, b, err)
	}
}

// TestOutputsDoNotFollowPlantedSymlinks: every file a command writes
// replaces a symlink planted at its name instead of writing through it, and
// is not world-readable.
func TestOutputsDoNotFollowPlantedSymlinks(t *testing.T) {
	dir := t.TempDir()

	// vigil db import: the index used to go through a fixed .index.tmp.
	osv := filepath.Join(dir, "osv")
	os.MkdirAll(osv, 0o755)
	os.WriteFile(filepath.Join(osv, "GHSA-x.json"), []byte(`{"id":"GHSA-x","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}`), 0o644)
	db := filepath.Join(dir, "db")
	os.MkdirAll(db, 0o755)
	victim := plantSymlink(t, db, ".index.tmp")
	if out, err := runVigil(t, "db", "import", osv, "--db", db); err != nil {
		t.Fatalf("db import: %v\n%s", err, out)
	}
	victimUntouched(t, "db import", victim)

	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc", "os-release"), []byte("ID=alpine\nVERSION_ID=3.20.0\n"), 0o644)
	conns := filepath.Join(dir, "conns.json")
	os.WriteFile(conns, []byte(`[{"src": {"namespace": "shop", "labels": {"app": "web"}}, "dst": {"namespace": "shop", "labels": {"app": "api"}}, "port": 8080}]`), 0o644)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"image sbom", []string{"image", "sbom", rootfs}},
		{"compliance report", []string{"compliance", "report", "--framework", "nist", "--manifests", shareddata.KubernetesGoat(t)}},
		{"advise netpol", []string{"advise", "netpol", "--connections", conns}},
	} {
		out := filepath.Join(dir, "out-"+c.args[0])
		victim := plantSymlink(t, dir, filepath.Base(out))
		if msg, err := runVigil(t, append(c.args, "-o", out)...); err != nil {
			t.Errorf("%s: %v\n%s", c.name, err, msg)
			continue
		}
		victimUntouched(t, c.name+" -o", victim)
		st, err := os.Lstat(out)
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s -o: output %v (%v), want a non-empty regular file readable by its owner only", c.name, st.Mode(), err)
		}
	}
}
