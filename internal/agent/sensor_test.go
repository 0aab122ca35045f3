package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testkernel"
)

const catShadowRule = `
- rule: Test cat shadow
  desc: test
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and proc.name = cat
  output: Shadow read by cat (proc=%proc.name file=%fd.name pid=%proc.pid parent=%proc.pname cmdline=%proc.cmdline)
  priority: WARNING
  tags: [test]
`

// catShadow runs cat /etc/shadow until n alerts of the rule are in the file.
func catShadow(t *testing.T, file string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for countRule(fileAlerts(file), "Test cat shadow") < n {
		if time.Now().After(deadline) {
			t.Fatalf("no alert for cat /etc/shadow (want %d)", n)
		}
		if err := exec.Command("cat", "/etc/shadow").Run(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // pace the retries
	}
}

// TestEndToEndRealSensor: a real process reading /etc/shadow raises an alert
// that reaches a file, an HTTP server, a syslog receiver and the store; a
// broken reload keeps detection going; the store has the alerts after the
// agent restarts.
func TestEndToEndRealSensor(t *testing.T) {
	testkernel.RequireRoot(t)
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	a, stop := startAgent(t, cfg)

	catShadow(t, s.file, 1)
	waitFor(t, "alert over HTTP", func() bool { return s.httpCount() >= 1 })
	s.waitSyslog(t, "Test cat shadow")
	fa := fileAlerts(s.file)
	var got map[string]any
	for _, x := range fa {
		if x["rule"] == "Test cat shadow" {
			got = x
		}
	}
	of := got["output_fields"].(map[string]any)
	if of["proc.name"] != "cat" || of["fd.name"] != "/etc/shadow" {
		t.Errorf("output_fields %v", of)
	}
	vig := got["vigil"].(map[string]any)
	if procs, _ := vig["process"].([]any); len(procs) < 2 {
		t.Errorf("ancestry %v", vig["process"])
	}

	// Broken reload: old rules stay, detection goes on.
	if err := os.WriteFile(rulesPath, []byte(brokenRule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Fatal("broken rules reloaded")
	}
	before := countRule(fileAlerts(s.file), "Test cat shadow")
	catShadow(t, s.file, before+1)
	fams := scrape(t, a)
	if v := metricValue(fams["vigil_events_total"], "type", "openat"); v <= 0 {
		t.Errorf("openat events = %v", v)
	}
	stop()

	// Restart: a new agent on the same store still finds the alerts.
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	a2, stop2 := startAgent(t, cfg)
	as, err := a2.Store().Query(context.Background(), store.Filter{Rule: "Test cat shadow", Since: time.Now().Add(-time.Hour)})
	if err != nil || len(as) < 2 {
		t.Fatalf("store after restart: %d alerts, %v", len(as), err)
	}
	if as[0].Vigil.Process[0].Comm != "cat" {
		t.Errorf("stored ancestry %+v", as[0].Vigil.Process)
	}
	stop2()
}

const shadowByNameRule = `
- rule: Test shadow by name
  desc: test
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and proc.name = cat
  output: Shadow read (proc=%proc.name exe=%proc.exepath pid=%proc.pid)
  priority: WARNING
  tags: [test]
`

// TestNarrowedEventTypesKeepProcessNames: with sensor.event_types narrowed
// to openat, a shell that opens a file and then execs cat must be seen as
// cat when cat opens /etc/shadow — the agent adds the process events the
// process table needs (issue #11.3), it does not keep the shell's name.
func TestNarrowedEventTypesKeepProcessNames(t *testing.T) {
	testkernel.RequireRoot(t)
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowByNameRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Sensor.EventTypes = []string{"openat"}
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	cfg.Store.Enabled = false
	a, stop := startAgent(t, cfg)
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for countRule(fileAlerts(s.file), "Test shadow by name") == 0 {
		if time.Now().After(deadline) {
			fams := scrape(t, a)
			t.Fatalf("no alert for an exec'd cat reading /etc/shadow (openat events: %v)",
				metricValue(fams["vigil_events_total"], "type", "openat"))
		}
		shellThenCat(t)
	}
	// Only openat reaches the engine: the process events the table needed
	// are not counted as evaluated events of other types.
	for _, al := range fileAlerts(s.file) {
		if al["rule"] != "Test shadow by name" {
			t.Errorf("unexpected alert %v", al["rule"])
		}
	}
}

// shellThenCat runs a shell that opens a file itself, waits on a fifo until
// the agent has had time to learn it as sh, then becomes cat in the same
// process and reads /etc/shadow.
func shellThenCat(t *testing.T) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `exec 3</etc/hostname; read x <"$1"; exec cat /etc/shadow >/dev/null`, "sh", fifo)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the agent sees the shell's open and reads /proc: sh
	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
