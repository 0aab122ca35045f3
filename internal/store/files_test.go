package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// TestDatabaseFilesNotWorldReadable: alerts hold command lines and paths,
// so the database and its WAL and shared-memory files are 0600 whatever
// the umask, and an existing database left readable is tightened.
func TestDatabaseFilesNotWorldReadable(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := openT(t, path, Options{})
	if err := s.Insert(context.Background(), []*alert.Alert{mk("R", "host", alert.PriorityWarning, time.Now())}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
		}
	}
	s.Close()

	os.Chmod(path, 0o644)
	s = openT(t, path, Options{})
	defer s.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("existing database left %v", st.Mode().Perm())
	}
}

// TestPathIsNotAURI: '?', '#' and '%' in the store path are part of the
// file name; they must not select another file or pass options to SQLite.
func TestPathIsNotAURI(t *testing.T) {
	for _, name := range []string{"alerts.db?mode=memory", "alerts.db#frag", "alerts%2Edb"} {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		s := openT(t, path, Options{})
		if err := s.Insert(context.Background(), []*alert.Alert{mk("R", "host", alert.PriorityWarning, time.Now())}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%q: the database is not at its path; the directory holds %v", name, names)
		}
		for _, other := range []string{"alerts.db", "alerts.db-wal"} {
			if _, err := os.Stat(filepath.Join(dir, other)); err == nil {
				t.Errorf("%q: opened %s instead", name, other)
			}
		}
		e, err := OpenExisting(path)
		if err != nil {
			t.Fatalf("%q: reopen: %v", name, err)
		}
		n, err := e.Count(context.Background())
		e.Close()
		if err != nil || n != 1 {
			t.Errorf("%q: reopened store holds %d alerts (%v), want 1", name, n, err)
		}
	}
}
