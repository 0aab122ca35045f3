package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// killRule matches the exec of the uniquely named binary name.
func killRule(name, actions string) string {
	return fmt.Sprintf(`
- rule: Test response %[1]s
  desc: test
  condition: evt.type in (execve, execveat) and proc.name = %[1]s
  output: Response test (proc=%%proc.name pid=%%proc.pid)
  priority: WARNING
  actions: [%[2]s]
`, name, actions)
}

// uniqueSleep copies sleep to a unique name (so that no other rule or
// process matches) and returns its path and name.
func uniqueSleep(t *testing.T) (string, string) {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("vgr%d", os.Getpid()%1000000)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, name
}

// responseAgent starts an agent with the real sensor and one rule with
// actions; it returns the agent's alert file.
func responseAgent(t *testing.T, rule string, dryRun bool) (*Agent, string) {
	t.Helper()
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	cfg.DryRun = dryRun
	a, _ := startAgent(t, cfg)
	return a, s.file
}

// ruleAlert waits for the rule's alert in the file and returns it.
func ruleAlert(t *testing.T, file, rule string) map[string]any {
	t.Helper()
	var got map[string]any
	waitFor(t, "alert of "+rule, func() bool {
		for _, x := range fileAlerts(file) {
			if x["rule"] == rule {
				got = x
				return true
			}
		}
		return false
	})
	return got
}

func alertAction(al map[string]any) (string, map[string]any) {
	vig, _ := al["vigil"].(map[string]any)
	action, _ := vig["action"].(string)
	of, _ := al["output_fields"].(map[string]any)
	return action, of
}

// TestResponseKillRealExec: a rule with actions: [kill] matching a real
// exec kills the process by SIGKILL, and the alert says so.
func TestResponseKillRealExec(t *testing.T) {
	testkernel.RequireRoot(t)
	path, name := uniqueSleep(t)
	a, file := responseAgent(t, killRule(name, "kill"), false)

	cmd := exec.Command(path, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-errc:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("process still running 20s after exec: not killed")
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) {
		t.Fatalf("wait: %v", werr)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("process ended by %v, want SIGKILL", ws)
	}
	al := ruleAlert(t, file, "Test response "+name)
	action, of := alertAction(al)
	want := fmt.Sprintf("kill pid=%d: killed", cmd.Process.Pid)
	if action != want || of["vigil.action.kill"] != "killed" {
		t.Fatalf("vigil.action %q (want %q), fields %v", action, want, of)
	}
	if v := metricValue(scrape(t, a)["vigil_response_actions_total"], "result", "killed"); v != 1 {
		t.Errorf("vigil_response_actions_total{result=killed} = %v", v)
	}
}

// TestResponseDryRun: with dry_run the same process survives and the
// alert says dry-run.
func TestResponseDryRun(t *testing.T) {
	testkernel.RequireRoot(t)
	path, name := uniqueSleep(t)
	_, file := responseAgent(t, killRule(name, "kill"), true)

	cmd := exec.Command(path, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	al := ruleAlert(t, file, "Test response "+name)
	action, of := alertAction(al)
	if !strings.HasSuffix(action, ": dry-run") || of["vigil.action.kill"] != "dry-run" {
		t.Fatalf("vigil.action %q, fields %v", action, of)
	}
	// The alert is delivered after the action ran: the process is alive.
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("dry-run process is gone: %v", err)
	}
	var ws syscall.WaitStatus
	if pid, err := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil); pid != 0 || err != nil {
		t.Fatalf("dry-run process exited: %v %v", ws, err)
	}
}

// TestResponsePauseRealContainer: actions: [pause] on an exec in a real
// containerd container freezes the container's cgroup.
func TestResponsePauseRealContainer(t *testing.T) {
	testkernel.RequireRoot(t)
	env := containertest.New(t)
	sock := containertest.StartContainerd(t)
	c := env.Run(t, containertest.Spec{Args: []string{"/bin/sh", "-c", "while :; do /bin/sleep 0.2; done"}, NoStart: true})
	t.Cleanup(func() {
		if err := enforce.Thaw(c.CgroupPath); err != nil {
			t.Errorf("thaw: %v", err)
		}
	})
	rule := fmt.Sprintf(`
- rule: Test response pause
  desc: test
  condition: evt.type in (execve, execveat) and container.id = %s
  output: Response test (proc=%%proc.name pid=%%proc.pid container=%%container.id)
  priority: WARNING
  actions: [pause]
`, c.ID[:12])
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	cfg.Containers.Sockets = []string{sock}
	startAgent(t, cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// The first execs may come before the container's metadata is known
	// (refused: not a container process); wait for a pause.
	var action string
	waitFor(t, "pause alert", func() bool {
		for _, x := range fileAlerts(s.file) {
			if x["rule"] != "Test response pause" {
				continue
			}
			act, of := alertAction(x)
			if of["vigil.action.pause"] == "paused" {
				action = act
				return true
			}
		}
		return false
	})
	if !strings.Contains(action, "pause cgroup="+c.CgroupPath+": paused") {
		t.Errorf("vigil.action %q", action)
	}
	if !cgroupFrozen(t, c.CgroupPath) {
		t.Fatal("container cgroup does not report frozen")
	}
}

// cgroupFrozen reads the kernel's view: v2 cgroup.events "frozen 1", else
// the v1 freezer state.
func cgroupFrozen(t *testing.T, cg string) bool {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(enforce.CgroupV2Root, cg, "cgroup.events")); err == nil && strings.Contains(string(b), "frozen 1") {
		return true
	}
	b, err := os.ReadFile(filepath.Join(enforce.CgroupV1Freezer, cg, "freezer.state"))
	return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
}

// TestResponseGuards: container-only actions refuse host processes, and
// kill refuses pid 1 and the agent itself; nothing is called.
func TestResponseGuards(t *testing.T) {
	r := newResponder(metrics.NewRegistry(), false, nil)
	called := 0
	r.kill = func(int) error { called++; return nil }
	r.killCG = func(string) error { called++; return nil }
	r.freeze = func(string, time.Duration) error { called++; return nil }
	for _, tc := range []struct {
		j    responseJob
		act  rules.Action
		want string
	}{
		{responseJob{pid: 1234}, rules.ActionPause, "refused: not a container process"},
		{responseJob{pid: 1234}, rules.ActionKillContainer, "refused: not a container process"},
		{responseJob{pid: 1}, rules.ActionKill, "refused: protected pid 1"},
		{responseJob{pid: os.Getpid()}, rules.ActionKill, fmt.Sprintf("refused: protected pid %d", os.Getpid())},
		{responseJob{pid: 0}, rules.ActionKill, "refused: protected pid 0"},
	} {
		if got := r.do(&tc.j, tc.act); got != tc.want {
			t.Errorf("%s %+v: %q, want %q", tc.act, tc.j, got, tc.want)
		}
	}
	if called != 0 {
		t.Errorf("%d actions performed", called)
	}
	// Allowed ones call the enforcer and report its error.
	r.freeze = func(string, time.Duration) error { return errors.New("boom") }
	if got := r.do(&responseJob{pid: 1234, cgroup: "/x"}, rules.ActionPause); got != "failed: boom" {
		t.Errorf("failed freeze: %q", got)
	}
	r.dryRun = true
	if got := r.do(&responseJob{pid: 1234}, rules.ActionKill); got != ResultDryRun {
		t.Errorf("dry-run: %q", got)
	}
}

// TestResponseKillContainer: actions: [kill_container] on an exec in a
// real containerd container kills the container's processes.
func TestResponseKillContainer(t *testing.T) {
	testkernel.RequireRoot(t)
	env := containertest.New(t)
	sock := containertest.StartContainerd(t)
	c := env.Run(t, containertest.Spec{Args: []string{"/bin/sh", "-c", "while :; do /bin/sleep 0.2; done"}, NoStart: true})
	rule := fmt.Sprintf(`
- rule: Test response stop
  desc: test
  condition: evt.type in (execve, execveat) and container.id = %s
  output: Response test (proc=%%proc.name container=%%container.id)
  priority: WARNING
  actions: [stop]
`, c.ID[:12])
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled = false
	cfg.Outputs.Syslog.Enabled = false
	cfg.Containers.Sockets = []string{sock}
	startAgent(t, cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if code := c.Wait(t, 30*time.Second); code != 128+9 {
		t.Errorf("container exit %d, want 137 (SIGKILL)", code)
	}
	waitFor(t, "kill_container alert", func() bool {
		for _, x := range fileAlerts(s.file) {
			if _, of := alertAction(x); x["rule"] == "Test response stop" && of["vigil.action.kill_container"] == "killed" {
				return true
			}
		}
		return false
	})
}

// TestResponseQueueFullDrops: with the worker stalled, respond never
// blocks; a job that does not fit is delivered at once as dropped and
// counted.
func TestResponseQueueFullDrops(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
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
	ev := &event.Event{PID: 4242}
	for i := 0; i < responseQueueSize+1; i++ {
		a.respond(ev, []rules.Action{rules.ActionKill}, &alert.Alert{Rule: "Queue test", Vigil: alert.Context{Count: 1}})
	}
	if v := metricValue(scrape(t, a)["vigil_response_actions_total"], "result", ResultDropped); v != 1 {
		t.Errorf("dropped = %v, want 1", v)
	}
	waitFor(t, "dropped alert", func() bool {
		for _, x := range fileAlerts(s.file) {
			if _, of := alertAction(x); x["rule"] == "Queue test" && strings.HasPrefix(fmt.Sprint(of["vigil.action.kill"]), "dropped") {
				return true
			}
		}
		return false
	})
	if n := a.resp.jobs.Len(); n != responseQueueSize {
		t.Errorf("queue holds %d jobs", n)
	}
}
