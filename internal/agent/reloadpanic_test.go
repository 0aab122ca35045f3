package agent

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReloadOfCrashingRulesKeepsRules: a rules file that used to crash the
// loader (a required_plugin_versions entry without a name) fails the reload
// with a positioned error; the agent keeps its rules, raises the internal
// alert and still detects.
func TestReloadOfCrashingRulesKeepsRules(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	a, err := New(cfg, &Options{NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.closeSinks)
	crash := shadowRule + "- required_plugin_versions: [{version: 0.7.0}]\n"
	if err := os.WriteFile(rulesPath, []byte(crash), 0o600); err != nil {
		t.Fatal(err)
	}
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), rulesPath+":8:30:") {
		t.Fatalf("reload of the crashing file: %v, want an error at %s:8:30", err, rulesPath)
	}
	if rs := a.Ruleset(); len(rs.Rules) != 1 || rs.Rules[0].Name != "Test shadow read" {
		t.Fatalf("rules after the failed reload: %v", rs.Rules)
	}
	waitFor(t, "reload-failed alert", func() bool { return countRule(fileAlerts(s.file), RuleReloadFailed) == 1 })
}

// TestReloadSurvivesPanic: whatever panics inside a reload is turned into
// a failed reload (rules kept, alert raised) instead of ending the agent.
func TestReloadSurvivesPanic(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	a, err := New(cfg, &Options{NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.closeSinks)
	err = a.guardReload(func() error { var m map[string]int; m["x"]++; return nil })
	if err == nil || !strings.Contains(err.Error(), "panic") || !strings.Contains(err.Error(), "reloadpanic_test.go") {
		t.Fatalf("guarded panic: %v, want an error naming the panic and where", err)
	}
	if !errors.Is(err, errReloadPanic) {
		t.Errorf("%v does not match errReloadPanic", err)
	}
	if rs := a.Ruleset(); len(rs.Rules) != 1 {
		t.Fatalf("rules after the panic: %v", rs.Rules)
	}
	waitFor(t, "reload-failed alert for the panic", func() bool { return countRule(fileAlerts(s.file), RuleReloadFailed) == 1 })
}
