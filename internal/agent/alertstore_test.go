package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	a, err := New(cfg, &Options{Source: src, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New with an unavailable store: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
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
