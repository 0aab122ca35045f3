package enforce

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// gateEvents collects the enforcer's gate events.
func gateEvents() (chan GateEvent, func(GateEvent)) {
	ch := make(chan GateEvent, 16)
	return ch, func(ev GateEvent) {
		select {
		case ch <- ev:
		default:
		}
	}
}

func waitGate(t *testing.T, ch chan GateEvent, up bool) GateEvent {
	t.Helper()
	timeout := time.After(20 * time.Second) // a hang guard, not a measurement
	for {
		select {
		case ev := <-ch:
			if ev.Up == up {
				return ev
			}
		case <-timeout:
			t.Fatalf("no gate event up=%v", up)
		}
	}
}

func blockSecret(t *testing.T, e *Enforcer) (secret string, vfd int) {
	t.Helper()
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	victim, vfd := testCgroup(t)
	secret = filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	src := fmt.Sprintf("name: f\nscope: {containers: {names: [victim]}}\nfile:\n  rules: [{name: secret, action: block, paths: [%s]}]\n", secret)
	ps, err := policy.Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{target("victim", victim)}); err != nil {
		t.Fatal(err)
	}
	if got := runHelper(t, vfd, "open", secret); got != "EPERM" {
		t.Fatalf("open before the fault = %s, want EPERM", got)
	}
	return secret, vfd
}

// TestGateKilledIsRestarted: killing the fanotify gate child used to turn
// file blocking off silently. The enforcer notices at once (an event with
// the reason), starts a new gate with the same marks, reports it back up,
// and blocking is in force again.
func TestGateKilledIsRestarted(t *testing.T) {
	ch, on := gateEvents()
	e := newEnforcer(t, Options{OnGate: on})
	secret, vfd := blockSecret(t, e)
	pid := e.GateStatus().PID
	if pid <= 0 {
		t.Fatal("no gate pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	down := waitGate(t, ch, false)
	if down.Reason == "" {
		t.Errorf("down event without a reason: %+v", down)
	}
	up := waitGate(t, ch, true)
	t.Logf("blocking off for %s between the gate's death and its replacement", up.Time.Sub(down.Time))
	st := e.GateStatus()
	if !st.Up || st.Restarts != 1 || st.PID == pid {
		t.Fatalf("gate status after restart: %+v", st)
	}
	if got := runHelper(t, vfd, "open", secret); got != "EPERM" {
		t.Fatalf("open after the restart = %s, want EPERM", got)
	}
}

// TestGateFrozenAnsweredByWatchdog: a stopped gate must not hang guarded
// opens forever. The watchdog answers what is pending with the fallback
// (deny here), counts it, and replaces the gate.
func TestGateFrozenAnsweredByWatchdog(t *testing.T) {
	ch, on := gateEvents()
	e := newEnforcer(t, Options{OnGate: on, FileFallback: FallbackDeny, FileTimeout: 200 * time.Millisecond})
	secret, vfd := blockSecret(t, e)
	pid := e.GateStatus().PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	got := make(chan string, 1)
	go func() { got <- runHelper(t, vfd, "open", secret) }()
	select {
	case r := <-got:
		if r != "EPERM" {
			t.Errorf("open while the gate is frozen = %s, want the fallback EPERM", r)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a measurement
		t.Fatal("guarded open hung behind a frozen gate")
	}
	down := waitGate(t, ch, false)
	waitGate(t, ch, true)
	st := e.GateStatus()
	if st.Watchdog != 1 || st.Answered == 0 {
		t.Errorf("watchdog not counted: %+v (down: %+v)", st, down)
	}
	if r := runHelper(t, vfd, "open", secret); r != "EPERM" {
		t.Fatalf("open after the watchdog restart = %s, want EPERM", r)
	}
}
