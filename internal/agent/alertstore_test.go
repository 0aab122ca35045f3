package agent

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/store"
)

// TestStartsWithoutStore: a store that cannot be opened (its directory
// is a regular file here; a full or read-only filesystem does the same)
// does not stop the agent: it starts, raises an internal alert, keeps
// detecting, and opens the store once it can, storing from then on.
func TestStartsWithoutStore(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	dbDir := filepath.Dir(s.db)
	if err := os.WriteFile(dbDir, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Store.RetryInterval = 50 * time.Millisecond
	src := &fakeSource{ch: make(chan struct{}, 10)}
	a, _ := runAgent(t, cfg, &Options{Source: src}) // New succeeds with an unavailable store
	waitFor(t, "store-unavailable alert", func() bool { return countRule(fileAlerts(s.file), RuleStoreUnavailable) == 1 })
	for _, x := range fileAlerts(s.file) {
		if x["rule"] == RuleStoreUnavailable && !strings.Contains(x["output"].(string), dbDir) {
			t.Errorf("alert does not say why: %v", x["output"])
		}
	}
	src.ch <- struct{}{}
	waitFor(t, "detection without the store", func() bool { return countRule(fileAlerts(s.file), "Test shadow read") == 1 })

	// The obstacle goes: the store opens on a retry and stores.
	os.Remove(dbDir)
	waitFor(t, "store-available alert", func() bool { return countRule(fileAlerts(s.file), RuleStoreAvailable) == 1 })
	src.ch <- struct{}{}
	waitFor(t, "alert in the store", func() bool {
		st := a.Store()
		if st == nil {
			return false
		}
		as, err := st.Query(context.Background(), store.Filter{Rule: "Test shadow read", Since: time.Now().Add(-time.Hour)})
		return err == nil && len(as) == 1
	})
}

// TestStoreDropsRaiseAlerts (#12 item 8): when the store's writer is held
// (another process holds the database's write lock) its queue fills, and
// the drops raise the queue overflow alert on the other outputs and are
// counted by name.
func TestStoreDropsRaiseAlerts(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	cfg.Store.QueueSize = 1
	cfg.Store.BatchSize = 1
	src := &fakeSource{ch: make(chan struct{}, 100)}
	a, err := New(cfg, &Options{Source: src, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// Another writer holds the lock: the store's first insert waits.
	db, err := sql.Open("sqlite", s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { conn.ExecContext(context.Background(), "ROLLBACK"); conn.Close() }) }
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range 20 {
		src.ch <- struct{}{}
	}
	waitFor(t, "the overflow alert of the store queue", func() bool {
		for _, x := range fileAlerts(s.file) {
			if x["rule"] == queue.RuleOverflow && x["output_fields"].(map[string]any)["vigil.queue"] == "store" {
				return true
			}
		}
		return false
	})
	if v := metricValue(scrape(t, a)["vigil_queue_dropped_total"], "queue", "store"); v < 1 {
		t.Errorf("vigil_queue_dropped_total{queue=store} = %v", v)
	}
	release() // before Run stops: it flushes what is queued
}
