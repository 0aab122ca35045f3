package agent

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// testAgent is an agent a test runs (runAgent).
type testAgent struct {
	*Agent
	exited chan struct{} // closed when Run returned
	err    error         // Run's error, once exited is closed
	stop   func()
}

// runAgent creates an agent on cfg with opts (nil: none; NoSignals and a
// silent logger are always set) and runs it until stop is called or the
// test ends. stop cancels Run, waits for it and fails the test on its
// error (unless the test was skipped); it may be called more than once.
func runAgent(t *testing.T, cfg *config.Config, opts *Options) (a *Agent, stop func()) {
	t.Helper()
	ta := launch(t, cfg, opts)
	return ta.Agent, ta.stop
}

// launch is runAgent, with the means to see whether Run returned.
func launch(t *testing.T, cfg *config.Config, opts *Options) *testAgent {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	opts.NoSignals = true
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{Agent: a, exited: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		ta.err = a.Run(ctx)
		close(ta.exited)
	}()
	stopped := false
	ta.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-ta.exited
		if ta.err != nil && !t.Skipped() {
			t.Error(ta.err)
		}
	}
	t.Cleanup(ta.stop)
	return ta
}

// running reports whether Run has not returned; it fails the test with
// Run's error when it has.
func (ta *testAgent) running(t *testing.T) bool {
	t.Helper()
	select {
	case <-ta.exited:
		t.Fatalf("agent stopped: %v", ta.err)
		return false
	default:
		return true
	}
}

// startAgent runs an agent with the real sensor (runAgent) and waits until
// it is healthy; it skips when the sensor cannot start on this host.
func startAgent(t *testing.T, cfg *config.Config) (a *Agent, stop func()) {
	t.Helper()
	ta := launch(t, cfg, nil)
	ta.waitHealthy(t)
	return ta.Agent, ta.stop
}

// waitHealthy waits until the agent is healthy; it skips when Run failed
// because the sensor cannot start on this host.
func (ta *testAgent) waitHealthy(t *testing.T) {
	t.Helper()
	waitFor(t, "agent running", func() bool {
		select {
		case <-ta.exited:
			testkernel.SkipIfErr(t, ta.err)
			t.Fatal("agent stopped")
		default:
		}
		return ta.health() == nil
	})
}

// freeAddr returns a loopback address with a port free a moment ago, for
// an agent to listen on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
