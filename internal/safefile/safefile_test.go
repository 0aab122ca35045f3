package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// plant makes dir/name a symlink to a victim file and returns the victim.
func plant(t *testing.T, dir, name string) string {
	t.Helper()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return victim
}

func assertUntouched(t *testing.T, victim string) {
	t.Helper()
	b, err := os.ReadFile(victim)
	if err != nil || string(b) != "precious" {
		t.Fatalf("victim %s changed: %q, %v", victim, b, err)
	}
}

func TestWriteFileReplacesPlantedSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := plant(t, dir, "out.json")
	target := filepath.Join(dir, "out.json")
	if err := WriteFile(target, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertUntouched(t, victim)
	st, err := os.Lstat(target)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("target mode %v, want a regular 0600 file", st.Mode())
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("target holds %q", b)
	}
	assertNoTemps(t, dir, "out.json")
}

func TestCreateNewRefusesExistingAndSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := plant(t, dir, "link")
	if _, err := CreateNew(filepath.Join(dir, "link"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateNew over a symlink: %v, want ErrExist", err)
	}
	assertUntouched(t, victim)
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateNew(dangling, 0o600); err == nil {
		t.Fatal("CreateNew through a dangling symlink succeeded")
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Fatal("the dangling symlink's target was created")
	}
}

func TestCreateNewModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	f, err := CreateNew(filepath.Join(t.TempDir(), "f"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

func TestOpenAppendRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := plant(t, dir, "alerts.log")
	_, err := OpenAppend(filepath.Join(dir, "alerts.log"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("OpenAppend over a symlink: %v", err)
	}
	assertUntouched(t, victim)
}

func TestAbortKeepsTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "keep")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(target, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half")
	f.Abort()
	f.Abort()
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Fatalf("target holds %q after Abort", b)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	assertNoTemps(t, dir, "keep")
}

func assertNoTemps(t *testing.T, dir, keep string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != keep {
			t.Errorf("left behind %s", e.Name())
		}
	}
}
