package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/agent"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/shareddata"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// recordedActions are host actions that Falco's stable rules and Vigil's
// default rules both detect; $W is a scratch directory.
const recordedActions = `
set -e
cat /etc/shadow >/dev/null
ln -s /etc/shadow "$W/shadow-link"
mkdir -p "$W/www/a/b" && cd "$W/www/a/b" && cat ../../../../../../../../etc/passwd >/dev/null && cd /
echo x > "$W/f"; grep -r "BEGIN RSA PRIVATE" "$W" >/dev/null || true; find "$W" -name id_rsa >/dev/null
cp /bin/true /dev/shm/vigil-pipeline-e2e && /dev/shm/vigil-pipeline-e2e
echo old > /var/log/vigil-pipeline-e2e.log && : > /var/log/vigil-pipeline-e2e.log
shred -u "$W/f"
`

// lockedBuffer is an io.Writer the agent's stdout output and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// TestRunAndReplaySameAlerts: the same recorded actions (on the host and
// in a containerd container), run live through the agent (real sensor,
// Falco's stable rules and Vigil's default rules) and replayed from a capture of the events the agent evaluated, give the
// same alerts byte for byte — and `vigil run`'s stdout, `vigil replay`,
// `vigil alerts --json` (the store) and /api/alerts write each of them
// with the same bytes.
func TestRunAndReplaySameAlerts(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	dir := t.TempDir()
	falco := shareddata.FalcoRules(t)
	env := containertest.New(t)
	shadow := filepath.Join(dir, "shadow") // the test image has none
	if err := os.WriteFile(shadow, []byte("root:*:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctr := env.Run(t, containertest.Spec{
		Mounts: []specs.Mount{{Destination: "/etc/shadow", Type: "bind", Source: shadow, Options: []string{"rbind", "ro"}}}})
	short := ctr.ID[:12]
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.Hostname = "pipeline-e2e"
	cfg.Rules.Default = true
	cfg.Rules.Files = []string{falco}
	cfg.Rules.Watch = false
	cfg.Dedup.Window = 0
	cfg.Outputs.Stdout.Enabled = true
	cfg.Outputs.Stdout.Format = "json"
	cfg.Outputs.Stdout.QueueSize = 65536
	cfg.Store.Path = filepath.Join(dir, "db", "alerts.db")
	cfg.Store.FlushInterval = 20 * time.Millisecond
	cfg.HTTP.Enabled = true
	cfg.HTTP.Listen = freeLoopback(t)
	cfg.HTTP.TokenFile = token

	// The capture: every event the agent evaluated that belongs to the
	// actions' process tree or the container, as `vigil trace --json`
	// writes it.
	var (
		capMu   sync.Mutex
		capture []byte
		enc     event.JSONEncoder
		root    = make(chan uint32, 1)
		rootPID uint32
	)
	inTree := func(ev *event.Event) bool {
		if rootPID == 0 {
			select {
			case rootPID = <-root:
			default:
				return false
			}
		}
		if ev.PID == rootPID || (ev.Container != nil && ev.Container.ID == short) {
			return true
		}
		for p := ev.Proc; p != nil; p = p.Parent {
			if p.PID == rootPID {
				return true
			}
		}
		return false
	}
	var stdout lockedBuffer
	a, err := agent.New(cfg, &agent.Options{Stdout: &stdout, NoSignals: true, Logger: slog.New(slog.DiscardHandler),
		Tap: func(ev *event.Event) {
			if inTree(ev) {
				capMu.Lock()
				capture = enc.Append(capture, ev)
				capMu.Unlock()
			}
		}})
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
	base := "http://" + cfg.HTTP.Listen
	pollUntil(t, 30*time.Second, "agent healthy", func() bool {
		select {
		case err := <-done:
			testkernel.SkipIfErr(t, err)
			t.Fatalf("agent stopped: %v", err)
		default:
		}
		r, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	})

	t.Cleanup(func() { os.Remove("/dev/shm/vigil-pipeline-e2e"); os.Remove("/var/log/vigil-pipeline-e2e.log") })
	// The shell is held on a pipe until its pid is known to the filter.
	sh := exec.Command("sh", "-c", "read go; "+recordedActions)
	sh.Env = append(os.Environ(), "W="+t.TempDir())
	in, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var shOut bytes.Buffer
	sh.Stdout, sh.Stderr = &shOut, &shOut
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	root <- uint32(sh.Process.Pid)
	io.WriteString(in, "go\n")
	in.Close()
	if err := sh.Wait(); err != nil {
		t.Fatalf("actions: %v\n%s", err, shOut.String())
	}
	if code, out := ctr.Exec(t, 10*time.Second, "sh", "-c", "cat /etc/shadow >/dev/null; ln -s /etc/shadow /tmp/l"); code != 0 {
		t.Fatalf("container actions: %d %s", code, out)
	}

	// Live: the alerts of the actions' tree (vigil.process is the process
	// and its ancestors) and of the container on stdout.
	root2 := int(sh.Process.Pid)
	liveOf := func() []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(string(stdout.Bytes())), "\n") {
			var al struct {
				Vigil struct {
					Process   []struct{ PID int } `json:"process"`
					Container struct{ ID string } `json:"container"`
				} `json:"vigil"`
			}
			if json.Unmarshal([]byte(line), &al) != nil {
				continue
			}
			if al.Vigil.Container.ID == short {
				out = append(out, line)
				continue
			}
			for _, p := range al.Vigil.Process {
				if p.PID == root2 {
					out = append(out, line)
					break
				}
			}
		}
		sort.Strings(out)
		return out
	}
	// Wait until the live alerts stop growing (the pipeline is behind the
	// kernel by a poll interval at most) and the API has them all.
	var live []string
	stable := 0
	pollUntil(t, 30*time.Second, "live alerts settle", func() bool {
		n := len(liveOf())
		if n > 0 && n == len(live) {
			stable++
		} else {
			stable = 0
		}
		live = liveOf()
		return stable >= 10 // 200 ms without a new alert
	})
	apiOf := func() map[string]string {
		req, _ := http.NewRequest("GET", base+"/api/alerts?since=1h&limit=100000", nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var raw []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			t.Fatalf("/api/alerts: %v", err)
		}
		m := map[string]string{}
		for _, x := range raw {
			m[uuidOf(t, x)] = string(x)
		}
		return m
	}
	var api map[string]string
	pollUntil(t, 10*time.Second, "the store has the live alerts", func() bool {
		api = apiOf()
		for _, l := range live {
			if _, ok := api[uuidOf(t, []byte(l))]; !ok {
				return false
			}
		}
		return true
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the deferred stop

	// The rule sets each fired on the actions, on the host and in the
	// container.
	rulesFired := map[string]bool{}
	inCtr := 0
	for _, l := range live {
		var al struct {
			Rule  string
			Vigil struct{ Container struct{ ID string } }
		}
		_ = json.Unmarshal([]byte(l), &al)
		rulesFired[al.Rule] = true
		if al.Vigil.Container.ID == short {
			inCtr++
		}
	}
	if inCtr < 2 {
		t.Errorf("live: %d alerts from the container, want the shadow read and the symlink", inCtr)
	}
	for _, want := range []string{"Read sensitive file untrusted", "Vigil Sensitive File Read",
		"Create Symlink Over Sensitive Files", "Execution from /dev/shm", "Clear Log Activities"} {
		if !rulesFired[want] {
			t.Errorf("live: %q did not fire; fired: %v", want, rulesFired)
		}
	}

	// Replay the capture with the same rules and hostname.
	capMu.Lock()
	capPath := filepath.Join(dir, "capture.jsonl")
	err = os.WriteFile(capPath, capture, 0o600)
	capMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runRulesCLI(t, "replay", "-r", falco, "--hostname", cfg.Hostname, capPath)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut)
	}
	replayed := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(replayed)
	if strings.Join(replayed, "\n") != strings.Join(live, "\n") {
		t.Fatalf("live and replayed alerts differ\nlive (%d):\n%s\nreplay (%d):\n%s", len(live), strings.Join(live, "\n"),
			len(replayed), strings.Join(replayed, "\n"))
	}

	// The store through `vigil alerts --json` and the API: the same bytes.
	stored, errOut, err := runRulesCLI(t, "alerts", "--db", cfg.Store.Path, "--json", "--since", "1h", "--limit", "100000")
	if err != nil {
		t.Fatalf("vigil alerts: %v\n%s", err, errOut)
	}
	byUUID := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(stored), "\n") {
		byUUID[uuidOf(t, []byte(l))] = l
	}
	for _, l := range live {
		u := uuidOf(t, []byte(l))
		if byUUID[u] != l {
			t.Errorf("vigil alerts differs from vigil run:\n run: %s\n alerts: %s", l, byUUID[u])
		}
		if api[u] != l {
			t.Errorf("/api/alerts differs from vigil run:\n run: %s\n api: %s", l, api[u])
		}
	}
	t.Logf("%d alerts of %d rules (%v), identical in run, replay, vigil alerts and /api/alerts; %d capture bytes", len(live), len(rulesFired), rulesFired, len(capture))
}

func uuidOf(t *testing.T, b []byte) string {
	t.Helper()
	var x struct{ UUID string }
	if err := json.Unmarshal(b, &x); err != nil || x.UUID == "" {
		t.Fatalf("alert without uuid: %s", b)
	}
	return x.UUID
}
