package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// TestReloadOnFileChange: with rules.watch, editing the rules file swaps
// the rules without SIGHUP.
func TestReloadOnFileChange(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Rules.Watch = true
	cfg.Rules.WatchInterval = 20 * time.Millisecond
	src := &fakeSource{ch: make(chan struct{}, 10)}
	a, _ := runAgent(t, cfg, &Options{Source: src})
	renamed := strings.Replace(shadowRule, "Test shadow read", "Renamed shadow read", 1)
	if err := os.WriteFile(rulesPath, []byte(renamed), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload after the file changed", func() bool { return a.Ruleset().Rules[0].Name == "Renamed shadow read" })
	src.ch <- struct{}{}
	waitFor(t, "alert of the new rule", func() bool { return countRule(fileAlerts(s.file), "Renamed shadow read") == 1 })
}

// TestHandleNoMatchDoesNotAllocate: an event that matches no rule costs no
// allocation in the agent's part of the pipeline (counting, container,
// engine).
func TestHandleNoMatchDoesNotAllocate(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(s.config(t, rulesPath), &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeSinks()
	a.pipe.SetContext(nil, nil, &event.Container{ID: "host"})
	ev := event.Event{Type: event.TypeOpenat, PID: 1, Path: "/etc/hostname", Ret: 3, DirFD: event.AtFDCWD,
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDFile, Name: "/etc/hostname"}}
	if n := testing.AllocsPerRun(1000, func() { a.handle(&ev) }); n != 0 {
		t.Fatalf("%v allocations per unmatched event", n)
	}
}
