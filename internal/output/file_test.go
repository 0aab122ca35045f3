package output

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "alerts.json")
	one := len(appendAlert(nil, testAlert(1), FormatJSON))
	f, err := NewFile(FileOptions{Path: p, Format: FormatJSON, MaxSize: int64(3*one + one/2), MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := f.Write(ctx, testAlert(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// 10 alerts, 3 per file: p has 1, p.1 and p.2 have 3, the rest was dropped by rotation.
	for name, want := range map[string]int{p: 1, p + ".1": 3, p + ".2": 3} {
		ls := lines(t, name)
		if len(ls) != want {
			t.Errorf("%s: %d lines, want %d", name, len(ls), want)
		}
		for _, l := range ls {
			checkFalcoShape(t, []byte(l))
		}
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Errorf("backup beyond max_backups: %v", err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

func TestFileReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "alerts.log")
	f, err := NewFile(FileOptions{Path: p, Format: FormatText})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	_ = f.Write(ctx, testAlert(1))
	// logrotate moves the file away; writes keep going to the moved file until Reopen.
	if err := os.Rename(p, p+".old"); err != nil {
		t.Fatal(err)
	}
	_ = f.Write(ctx, testAlert(2))
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	_ = f.Write(ctx, testAlert(3))
	if n := len(lines(t, p+".old")); n != 2 {
		t.Errorf("old file: %d lines, want 2", n)
	}
	ls := lines(t, p)
	if len(ls) != 1 {
		t.Fatalf("new file: %d lines, want 1", len(ls))
	}
	// The text form escapes the newline in the output: one alert, one line.
	if want := `Warning Sensitive file opened (file=/etc/shadow proc=cat\n)`; len(ls[0]) < len(want) || ls[0][len(ls[0])-len(want):] != want {
		t.Errorf("text line %q", ls[0])
	}
}

// TestFileBuffered: through the dispatcher the file output writes many
// alerts per system call, yet a lone alert is in the file without waiting,
// rotation still holds, and Close writes what is pending.
func TestFileBuffered(t *testing.T) {
	p := filepath.Join(t.TempDir(), "alerts.json")
	one := len(appendAlert(nil, testAlert(1), FormatJSON))
	f, err := NewFile(FileOptions{Path: p, Format: FormatJSON, MaxSize: int64(100*one + one/2), MaxBackups: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(Options{})
	d.Add(f, alert.PriorityDebug, 1024)
	d.Send(testAlert(1))
	waitFor(t, "lone alert in the file", 10*time.Second, func() bool {
		b, _ := os.ReadFile(p)
		return len(b) == one
	})
	if s := d.Stats()[0]; s.Sent != 1 {
		t.Errorf("sent %d, want 1", s.Sent)
	}
	// A burst of 149 more: 150 in all, 100 per file.
	for i := 0; i < 149; i++ {
		d.Send(testAlert(1))
	}
	waitFor(t, "burst delivered", 10*time.Second, func() bool { return d.Stats()[0].Sent == 150 })
	if got := len(lines(t, p)) + len(lines(t, p+".1")); got != 150 {
		t.Errorf("%d lines in the file and its backup, want 150", got)
	}
	if n := len(lines(t, p+".1")); n != 100 {
		t.Errorf("backup has %d lines, want 100 (MaxSize)", n)
	}
	// Direct WriteBuffered without Flush: Close writes it.
	if err := f.WriteBuffered(context.Background(), testAlert(2)); err != nil {
		t.Fatal(err)
	}
	before := len(lines(t, p))
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, p)
	if len(ls) != before+1 {
		t.Fatalf("after Close %d lines, want %d", len(ls), before+1)
	}
	for _, l := range ls {
		checkFalcoShape(t, []byte(l))
	}
}
