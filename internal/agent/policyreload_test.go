package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const reloadPolicy = `
name: %NAME%
scope: {host: true}
process:
  default: allow
  rules:
    - name: no-x
      action: kill
      names: [vigil-reload-test]
`

// TestPolicyReload: a reload with a broken policy file keeps the policies
// in force and raises an internal alert with the file:line:col error; a
// good one swaps them and tells the prevention loop. (Parsing only: no
// enforcer, no root.)
func TestPolicyReload(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(pol, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(reloadPolicy, "%NAME%", "first", 1))
	s := newSinks(t)
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	cfg.Policy.Files = []string{pol}
	a, err := New(cfg, &Options{NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.closeSinks)
	if ps := a.currentPolicies(); len(ps) != 1 || ps[0].Name != "first" {
		t.Fatalf("policies at start: %+v", ps)
	}

	// Broken: an unknown action on line 8.
	write(strings.Replace(strings.Replace(reloadPolicy, "%NAME%", "second", 1), "action: kill", "action: explode", 1))
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), pol+":8:") {
		t.Fatalf("reload of a broken policy: %v", err)
	}
	if ps := a.currentPolicies(); len(ps) != 1 || ps[0].Name != "first" {
		t.Fatalf("policies after a broken reload: %+v", ps)
	}
	select {
	case <-a.pol.changed():
		t.Fatal("broken reload signalled a change")
	default:
	}
	var msg string
	waitFor(t, "policy reload alert", func() bool {
		for _, x := range fileAlerts(s.file) {
			if x["rule"] == RulePolicyReloadFailed {
				msg, _ = x["output"].(string)
				return true
			}
		}
		return false
	})
	if !strings.Contains(msg, pol+":8:") {
		t.Errorf("alert output lacks the position: %q", msg)
	}

	// Fixed: swapped in, prevention told.
	write(strings.Replace(reloadPolicy, "%NAME%", "second", 1))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if ps := a.currentPolicies(); len(ps) != 1 || ps[0].Name != "second" {
		t.Fatalf("policies after reload: %+v", ps)
	}
	select {
	case <-a.pol.changed():
	default:
		t.Fatal("good reload did not signal the prevention loop")
	}

	// rules.watch also watches the policy files.
	a.cfg.Rules.Watch = true
	a.cfg.Rules.WatchInterval = 20 * time.Millisecond
	// The change lands before the watcher starts (CI once raced this way):
	// it must still be seen, since it is newer than the policies in force.
	write(strings.Replace(reloadPolicy, "%NAME%", "third-policy", 1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.watchPolicies(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "policy reload on file change", func() bool {
		ps := a.currentPolicies()
		return len(ps) == 1 && ps[0].Name == "third-policy"
	})
}
