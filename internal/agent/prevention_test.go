package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestPreventionDryRun: with a host policy that kills a program and
// dry_run on, running the program is reported as an alert ("dry-run:
// kill") in the outputs and the program is not killed.
func TestPreventionDryRun(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, enforce.ProbeHost().ExecKill)
	dir := t.TempDir()
	prog := filepath.Join(dir, "vigil-prev-test")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(`
name: test-kill
scope: {host: true}
process:
  default: allow
  rules:
    - name: no-prev-test
      action: kill
      names: [vigil-prev-test]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSinks(t)
	rulesPath := filepath.Join(dir, "rules.yaml")
	_ = os.WriteFile(rulesPath, []byte(shadowRule), 0o600)
	cfg := s.config(t, rulesPath)
	cfg.Policy.Files = []string{pol}
	cfg.DryRun = true
	a := launch(t, cfg, nil)
	deadline := time.Now().Add(30 * time.Second)
	for countRule(fileAlerts(s.file), RulePrevention) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no prevention alert")
		}
		a.running(t)
		if err := exec.Command(prog).Run(); err != nil {
			t.Fatalf("dry-run killed or failed the program: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // pace the retries
	}
	for _, x := range fileAlerts(s.file) {
		if x["rule"] == RulePrevention {
			out := x["output"].(string)
			if !strings.Contains(out, "dry-run: kill") || !strings.Contains(out, "policy=test-kill") {
				t.Errorf("prevention alert %s", out)
			}
		}
	}
}

// A host policy names two files, one of which does not exist when the agent
// starts: the other is blocked at once, the missing one is counted, and once
// it is created the agent marks it (its 5 s check) and blocks it too.
func TestPreventionMissingPathMarkedOnceCreated(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, enforce.ProbeHost().Fanotify)
	dir := t.TempDir()
	there, later := filepath.Join(dir, "there"), filepath.Join(dir, "later")
	os.WriteFile(there, []byte("there\n"), 0o644)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("name: two-files\nscope: {host: true}\nfile:\n  rules: [{name: files, action: block, access: read, paths: ["+there+", "+later+"]}]\n"), 0o600)
	cfg, _ := imageAgentConfig(t)
	cfg.Policy.Files = []string{pol}
	a, _ := startAgent(t, cfg)
	var e *enforce.Enforcer
	waitFor(t, "policy applied", func() bool {
		a.gate.mu.Lock()
		defer a.gate.mu.Unlock()
		e = a.gate.e
		return e != nil && e.Plan() != nil
	})
	if u := e.Plan().Unmarked; len(u) != 1 || u[0] != later {
		t.Errorf("unmarked %q, want [%s]", u, later)
	}
	blocked := func(p string) bool {
		out, err := exec.Command("cat", p).CombinedOutput()
		return err != nil && strings.Contains(string(out), "Operation not permitted")
	}
	if !blocked(there) {
		t.Fatalf("%s readable beside a missing rule path", there)
	}
	os.WriteFile(later, []byte("later\n"), 0o644)
	waitFor(t, "the created file blocked", func() bool { return blocked(later) })
	if u := e.Plan().Unmarked; len(u) != 0 {
		t.Errorf("unmarked %q after the file was created", u)
	}
}
