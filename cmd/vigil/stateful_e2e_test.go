package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/agent"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// scanScript connects to 40 loopback ports (none listening: each is
// refused), then downloads a program from the test's HTTP server and runs
// it (when $RUN is set) or only reads it.
const scanScript = `
p=47100; while [ $p -lt 47140 ]; do echo | nc -w 1 127.0.0.1 $p 2>/dev/null; p=$((p+1)); done
wget -q -O /tmp/payload "http://$SRV/payload" && chmod +x /tmp/payload
if [ -n "$RUN" ]; then /tmp/payload true; else cat /tmp/payload >/dev/null; /bin/true; fi
exit 0`

// benignScript retries one closed port 40 times and downloads a file it
// only reads.
const benignScript = `
i=0; while [ $i -lt 40 ]; do echo | nc -w 1 127.0.0.1 47199 2>/dev/null; i=$((i+1)); done
wget -q -O /tmp/payload "http://$SRV/payload" && cat /tmp/payload >/dev/null && /bin/true
exit 0`

// TestStatefulRulesLive runs the agent (real sensor, default rules) while a
// containerd container scans 40 loopback ports with busybox nc and then
// downloads a program from a local HTTP server and executes it: the port
// scan rule fires once (one window), the download-then-execute rule fires.
// A second container retrying one port and downloading a file it only
// reads fires neither.
func TestStatefulRulesLive(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	payload, err := exec.LookPath("busybox") // static: runs in the test image
	if err != nil {
		t.Skip("busybox (static) not installed: " + err.Error())
	}
	env := containertest.New(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, payload) })}
	go srv.Serve(ln)
	defer srv.Close()

	cfg := config.DefaultConfig()
	cfg.Hostname = "stateful-e2e"
	cfg.Rules.Default = true
	cfg.Rules.Watch = false
	cfg.Dedup.Window = 0
	cfg.Outputs.Stdout.Enabled = true
	cfg.Outputs.Stdout.Format = "json"
	cfg.Store.Enabled = false
	cfg.HTTP.Enabled = true
	cfg.HTTP.Listen = freeLoopback(t)
	var stdout lockedBuffer
	a, err := agent.New(cfg, &agent.Options{Stdout: &stdout, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	pollUntil(t, 30*time.Second, "agent healthy", func() bool {
		select {
		case err := <-done:
			testkernel.SkipIfErr(t, err)
			t.Fatalf("agent stopped: %v", err)
		default:
		}
		r, err := http.Get("http://" + cfg.HTTP.Listen + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})

	run := func(script string, env2 ...string) string {
		c := env.Run(t, containertest.Spec{HostNetwork: true, Args: []string{"sh", "-c", script},
			Env: append([]string{"SRV=" + ln.Addr().String()}, env2...)})
		if code := c.Wait(t, 30*time.Second); code != 0 {
			t.Fatalf("container exit %d: %s", code, c.Output())
		}
		return c.ID[:12]
	}
	benign := run(benignScript)
	attack := run(scanScript, "RUN=1")

	alerts := func(ctr string) map[string]int {
		n := map[string]int{}
		for _, line := range strings.Split(string(stdout.Bytes()), "\n") {
			var al struct {
				Rule  string `json:"rule"`
				Vigil struct {
					Container struct{ ID string } `json:"container"`
				} `json:"vigil"`
			}
			if json.Unmarshal([]byte(line), &al) == nil && al.Vigil.Container.ID == ctr {
				n[al.Rule]++
			}
		}
		return n
	}
	const scan, dl = "Vigil Port Scan From Container", "Vigil Download Then Execute"
	pollUntil(t, 30*time.Second, "the stateful alerts", func() bool {
		n := alerts(attack)
		return n[scan] > 0 && n[dl] > 0
	})
	// The attack container's events are all in: its download and exec came
	// after the scan. Nothing more may arrive for it, nor for the benign one.
	got, quiet := alerts(attack), alerts(benign)
	t.Logf("alerts of the attack container: %v; of the benign one: %v", got, quiet)
	if got[scan] != 1 {
		t.Errorf("port scan rule fired %d times for one scan in one window, want 1", got[scan])
	}
	if got[dl] != 1 {
		t.Errorf("download-then-execute fired %d times, want 1", got[dl])
	}
	if got["Vigil Write Then Execute"] != 0 {
		t.Errorf("write-then-execute fired on a download (reported by %s)", dl)
	}
	if quiet[scan] != 0 || quiet[dl] != 0 {
		t.Errorf("benign container (one port retried, a download only read) fired: %v", quiet)
	}
	if t.Failed() {
		t.Logf("alerts:\n%s", stdout.Bytes())
	}
}
