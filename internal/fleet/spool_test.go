package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func rec(i int) Record {
	return Record{ID: fmt.Sprint("id-", i), Subject: "vigil.alert.n1", Data: []byte(fmt.Sprintf(`{"n":%d,"pad":"%0100d"}`, i, i))}
}

// TestSpoolOrderAcrossSegmentsAndRestart: records come out in the order
// they went in, across segment files and a reopen, each once.
func TestSpoolOrderAcrossSegmentsAndRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := OpenSpool(SpoolOptions{Dir: dir, SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) < 5 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	for _, p := range append(segs, dir) {
		st, _ := os.Stat(p)
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s mode %04o: readable by others", p, perm)
		}
	}
	next := 0
	take := func(s *Spool, n int) {
		for range n {
			r, ok, err := s.Peek()
			if err != nil || !ok {
				t.Fatalf("Peek at %d: ok=%v err=%v", next, ok, err)
			}
			if r.ID != fmt.Sprint("id-", next) || r.Subject != "vigil.alert.n1" || string(r.Data) != string(rec(next).Data) {
				t.Fatalf("record %d = %q %q", next, r.ID, r.Data)
			}
			s.Pop()
			next++
		}
	}
	take(s, 40)
	s.Close()
	// Restart: the fully sent segments are gone; the partly sent one is
	// read again from its start (the hub drops the copies by id).
	s, err = OpenSpool(SpoolOptions{Dir: dir, SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, _, _ := s.Peek()
	var firstN int
	fmt.Sscanf(first.ID, "id-%d", &firstN)
	if firstN > 40 || firstN < 30 {
		t.Fatalf("after reopen the first record is %s, want one of the segment being sent (≤ id-40)", first.ID)
	}
	next = firstN
	for i := range 10 {
		if err := s.Append(rec(100 + i)); err != nil {
			t.Fatal(err)
		}
	}
	take(s, 110-firstN)
	if _, ok, _ := s.Peek(); ok || s.Len() != 0 || s.Bytes() != 0 {
		t.Fatalf("spool not empty: len=%d bytes=%d", s.Len(), s.Bytes())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(left) != 0 {
		t.Fatalf("segments left after everything was sent: %v", left)
	}
}

// TestSpoolBounded: past MaxBytes records are dropped and counted; what
// was kept is intact.
func TestSpoolBounded(t *testing.T) {
	s, err := OpenSpool(SpoolOptions{Dir: t.TempDir(), MaxBytes: 10 * int64(len(encodeRecord(rec(0))))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	full := 0
	for i := range 15 {
		if err := s.Append(rec(i)); errors.Is(err, ErrSpoolFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full != 5 || s.Dropped() != 5 || s.Len() != 10 {
		t.Fatalf("full=%d dropped=%d len=%d; want 5 5 10", full, s.Dropped(), s.Len())
	}
	r, _, _ := s.Peek()
	if r.ID != "id-0" {
		t.Fatalf("head %s", r.ID)
	}
}

// TestSpoolTornRecord: a record cut by a crash mid-write is dropped
// (counted); the records before it are kept.
func TestSpoolTornRecord(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenSpool(SpoolOptions{Dir: dir})
	for i := range 3 {
		s.Append(rec(i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, _ := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write(encodeRecord(rec(3))[:20])
	f.Close()
	s, err := OpenSpool(SpoolOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != 3 || s.Dropped() != 1 {
		t.Fatalf("len=%d dropped=%d; want 3 1", s.Len(), s.Dropped())
	}
	s.Append(rec(4))
	var ids []string
	for {
		r, ok, err := s.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		ids = append(ids, r.ID)
		s.Pop()
	}
	if fmt.Sprint(ids) != "[id-0 id-1 id-2 id-4]" {
		t.Fatalf("records %v", ids)
	}
}

// TestSpoolRefusesSymlinks: a symlink planted as the spool directory or as
// a segment is refused, not followed.
func TestSpoolRefusesSymlinks(t *testing.T) {
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	os.Mkdir(victim, 0o755)
	link := filepath.Join(base, "spool")
	os.Symlink(victim, link)
	if _, err := OpenSpool(SpoolOptions{Dir: link}); err == nil {
		t.Fatal("a symlinked spool directory was used")
	}
	dir := filepath.Join(base, "real")
	os.Mkdir(dir, 0o700)
	target := filepath.Join(base, "target")
	os.WriteFile(target, nil, 0o644)
	os.Symlink(target, filepath.Join(dir, "00000000000000000001.seg"))
	if _, err := OpenSpool(SpoolOptions{Dir: dir}); err == nil {
		t.Fatal("a symlinked segment was opened")
	}
	if st, _ := os.Stat(victim); st.Mode().Perm() != 0o755 {
		t.Fatalf("victim directory mode changed to %04o", st.Mode().Perm())
	}
}
