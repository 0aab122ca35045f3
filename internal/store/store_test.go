package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

func mk(rule, ctr string, p alert.Priority, t time.Time) *alert.Alert {
	a := &alert.Alert{UUID: alert.NewUUID(), Time: t, Rule: rule, Priority: p, Source: alert.SourceSyscall,
		Hostname: "h", Output: rule + " happened", Tags: []string{"t"},
		OutputFields: []alert.Field{{Name: "proc.name", Value: "cat"}, {Name: "proc.pid", Value: int64(5)}},
		Vigil:        alert.Context{Count: 1}}
	if ctr != "host" {
		a.Vigil.Container = &alert.Container{ID: ctr, Name: "web"}
	}
	return a
}

func openT(t *testing.T, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQueries(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "a", "alerts.db"), Options{})
	defer s.Close()
	var mode string
	var av int
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	if err := s.db.QueryRow("PRAGMA auto_vacuum").Scan(&av); err != nil || av != 2 {
		t.Fatalf("auto_vacuum %d %v", av, err)
	}
	base := time.Now().Add(-time.Hour)
	var as []*alert.Alert
	for i := 0; i < 30; i++ {
		rule := []string{"R1", "R2", "R3"}[i%3]
		ctr := []string{"host", "aaaaaaaaaaaa"}[i%2]
		p := []alert.Priority{alert.PriorityCritical, alert.PriorityWarning, alert.PriorityNotice, alert.PriorityDebug, alert.PriorityError}[i%5]
		as = append(as, mk(rule, ctr, p, base.Add(time.Duration(i)*time.Minute)))
	}
	if err := s.Insert(ctx, as); err != nil {
		t.Fatal(err)
	}
	warn := alert.PriorityWarning
	for _, tc := range []struct {
		name string
		f    Filter
		want func(a *alert.Alert) bool
	}{
		{"all", Filter{}, func(*alert.Alert) bool { return true }},
		{"since", Filter{Since: base.Add(20 * time.Minute)}, func(a *alert.Alert) bool { return !a.Time.Before(base.Add(20 * time.Minute)) }},
		{"until", Filter{Until: base.Add(5 * time.Minute)}, func(a *alert.Alert) bool { return !a.Time.After(base.Add(5 * time.Minute)) }},
		{"rule", Filter{Rule: "R2"}, func(a *alert.Alert) bool { return a.Rule == "R2" }},
		{"container", Filter{Container: "aaaaaaaaaaaa"}, func(a *alert.Alert) bool { return a.ContainerID() == "aaaaaaaaaaaa" }},
		{"container full id", Filter{Container: "aaaaaaaaaaaa" + "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}, func(a *alert.Alert) bool { return a.ContainerID() == "aaaaaaaaaaaa" }},
		{"host", Filter{Container: "host"}, func(a *alert.Alert) bool { return a.ContainerID() == "host" }},
		{"priority", Filter{Priority: &warn}, func(a *alert.Alert) bool { return a.Priority <= alert.PriorityWarning }},
		{"combined", Filter{Rule: "R1", Container: "host", Priority: &warn}, func(a *alert.Alert) bool {
			return a.Rule == "R1" && a.ContainerID() == "host" && a.Priority <= warn
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Query(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, a := range as {
				if tc.want(a) {
					want = append(want, a.UUID)
				}
			}
			if len(got) != len(want) || len(want) == 0 {
				t.Fatalf("%d alerts, want %d", len(got), len(want))
			}
			for i := range got { // oldest first
				if got[i].UUID != want[i] {
					t.Fatalf("alert %d: %s, want %s", i, got[i].UUID, want[i])
				}
			}
		})
	}
	got, _ := s.Query(ctx, Filter{Limit: 5})
	if len(got) != 5 || got[4].UUID != as[29].UUID || got[0].UUID != as[25].UUID {
		t.Fatal("limit must keep the newest, oldest first")
	}
	if got[4].Output != "R3 happened" || got[4].ContainerID() != "aaaaaaaaaaaa" || len(got[4].OutputFields) != 2 {
		t.Fatalf("decoded %+v", got[4])
	}
}

func TestUpdateReplacesCount(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "alerts.db"), Options{})
	defer s.Close()
	a := mk("R", "host", alert.PriorityError, time.Now())
	_ = s.Insert(ctx, []*alert.Alert{a})
	u := *a
	u.Vigil.Count, u.Vigil.Update = 7, true
	_ = s.Insert(ctx, []*alert.Alert{&u})
	got, _ := s.Query(ctx, Filter{})
	if len(got) != 1 || got[0].Vigil.Count != 7 {
		t.Fatalf("%d alerts, count %d", len(got), got[0].Vigil.Count)
	}
}

func TestRunBatchesAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := openT(t, path, Options{BatchSize: 10, FlushInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	for i := 0; i < 25; i++ {
		if !s.Add(mk("R", "host", alert.PriorityError, time.Now())) {
			t.Fatal("queue full")
		}
	}
	// Two full batches are written without waiting for the flush interval.
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Written < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("batches not written: %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // the partial batch is flushed on shutdown
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenExisting(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.Count(context.Background()); n != 25 {
		t.Fatalf("%d alerts after restart, want 25", n)
	}
	if _, err := OpenExisting(filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, ErrNoStore) {
		t.Fatalf("missing store: %v", err)
	}
}

func TestAddDropsWhenFull(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "alerts.db"), Options{QueueSize: 3})
	defer s.Close()
	for i := 0; i < 5; i++ {
		s.Add(mk("R", "host", alert.PriorityError, time.Now()))
	}
	if st := s.Stats(); st.Dropped != 2 || st.Queued != 3 {
		t.Fatalf("%+v", st)
	}
}

func TestRetentionAge(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "alerts.db"), Options{Retention: 24 * time.Hour})
	defer s.Close()
	now := time.Now()
	var as []*alert.Alert
	for i := 0; i < 10; i++ {
		as = append(as, mk("R", "host", alert.PriorityError, now.Add(-time.Duration(i)*6*time.Hour)))
	}
	_ = s.Insert(ctx, as)
	n, err := s.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// Ages 0, 6, 12, 18 and 24 h stay (24 h is not older than 24 h); 30 h and older go.
	if left, _ := s.Count(ctx); n != 5 || left != 5 {
		t.Fatalf("pruned %d, left %d", n, left)
	}
}

func TestRetentionSize(t *testing.T) {
	ctx := context.Background()
	const max = 256 << 10
	s := openT(t, filepath.Join(t.TempDir(), "alerts.db"), Options{MaxSize: max})
	defer s.Close()
	now := time.Now()
	var newest *alert.Alert
	for b := 0; b < 20; b++ {
		var as []*alert.Alert
		for i := 0; i < 100; i++ {
			a := mk("R", "host", alert.PriorityError, now.Add(time.Duration(b*100+i)*time.Millisecond))
			a.Output = string(make([]byte, 500))
			as = append(as, a)
			newest = a
		}
		_ = s.Insert(ctx, as)
	}
	before, _ := s.DataSize(ctx)
	if before <= max {
		t.Fatalf("test data too small: %d", before)
	}
	n, err := s.Prune(ctx, now)
	if err != nil || n == 0 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	after, _ := s.DataSize(ctx)
	if after > max {
		t.Fatalf("size %d after prune, limit %d", after, max)
	}
	got, _ := s.Query(ctx, Filter{Limit: 1})
	if len(got) != 1 || got[0].UUID != newest.UUID {
		t.Fatal("the newest alert must survive")
	}
	oldest, _ := s.Query(ctx, Filter{Until: now.Add(time.Duration(n-1) * time.Millisecond)})
	if len(oldest) != 0 {
		t.Fatalf("%d old alerts survived while newer were kept", len(oldest))
	}
}

const crashEnv = "VIGIL_STORE_CRASH_DB"

// TestMain runs crashWriter instead of the tests when it is the child of
// TestCrashMidWrite.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashWriter(path)
		return
	}
	os.Exit(m.Run())
}

// crashWriter writes batches of 100 alerts until it is killed.
func crashWriter(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for {
		var as []*alert.Alert
		for i := 0; i < 100; i++ {
			as = append(as, mk("crash", "host", alert.PriorityError, time.Now()))
		}
		if err := s.Insert(context.Background(), as); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// TestCrashMidWrite kills a writer with SIGKILL while it writes batches and
// checks that the database reopens intact with whole batches only.
func TestCrashMidWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var s *Store
	var lastErr error
	deadline := time.Now().Add(90 * time.Second)
	for {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("writer made no progress: %v", lastErr)
		}
		if s == nil {
			if _, err := os.Stat(path); err == nil {
				s, lastErr = OpenExisting(path)
			}
		}
		if s != nil {
			n, err := s.Count(context.Background())
			if err == nil && n >= 300 {
				break
			}
			lastErr = err
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	s.Close()

	s, err := OpenExisting(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ok string
	if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q %v", ok, err)
	}
	n, err := s.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n < 300 || n%100 != 0 {
		t.Fatalf("%d alerts after the crash: want whole batches of 100", n)
	}
	// Still writable.
	if err := s.Insert(context.Background(), []*alert.Alert{mk("after", "host", alert.PriorityError, time.Now())}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d alerts (%d batches) survived the SIGKILL", n, n/100)
}
