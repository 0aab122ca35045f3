package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/hub"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// loopCapture replays a recorded capture through the pipeline in a loop,
// every interval, each round's event times shifted (so each round's alerts
// are new alerts, with new UUIDs), until ctx ends or stop is closed.
type loopCapture struct {
	data     []byte
	interval time.Duration
	stop     chan struct{}
}

func (l *loopCapture) Run(ctx context.Context, fn func(*event.Event)) error {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for round := int64(1); ; round++ {
		select {
		case <-ctx.Done():
			return nil
		case <-l.stop:
			<-ctx.Done()
			return nil
		case <-t.C:
		}
		shift := round * int64(time.Hour)
		err := pipeline.NewCaptureSource(bytes.NewReader(l.data), "fire.jsonl").Run(ctx, func(ev *event.Event) {
			ev.Time += shift
			fn(ev)
		})
		if err != nil {
			return err
		}
	}
}

func (l *loopCapture) Close() error { return nil }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestFleetClusterExactlyOnce: three agents (one on the real sensor, two
// replaying a recorded capture through the pipeline) publish to a
// three-server NATS JetStream cluster on loopback (stream replicated 3
// times); mid-stream one NATS server is killed (and started again) and
// the hub is restarted. Every alert each agent delivered is in the hub's
// store exactly once and in the stream exactly once.
func TestFleetClusterExactlyOnce(t *testing.T) {
	testkernel.RequireRoot(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Three NATS servers.
	type natsNode struct {
		opts hub.NATSOptions
		srv  *server.Server
	}
	var nodes [3]*natsNode
	var routes, urls []string
	for i := range nodes {
		cp := freePort(t)
		nodes[i] = &natsNode{opts: hub.NATSOptions{Name: fmt.Sprint("nats-", i), Listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			StoreDir: filepath.Join(dir, fmt.Sprint("js", i)), ClusterName: "vigil", ClusterListen: fmt.Sprintf("127.0.0.1:%d", cp)}}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cp))
		urls = append(urls, "nats://"+nodes[i].opts.Listen)
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		n.opts.Routes = routes
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := hub.StartNATS(n.opts)
			if err != nil {
				t.Error(err)
				return
			}
			n.srv = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	defer func() {
		for _, n := range nodes {
			if n.srv != nil {
				n.srv.Shutdown()
			}
		}
	}()
	clusterURL := strings.Join(urls, ",")

	hubOpts := hub.Options{NATSURL: clusterURL, Store: filepath.Join(dir, "hub.db"), Stream: hub.StreamOptions{Replicas: 3, AckWait: 2 * time.Second}}
	startHub := func() (*hub.Hub, func()) {
		h, err := hub.New(ctx, hubOpts)
		if err != nil {
			t.Fatal(err)
		}
		hctx, hcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.Run(hctx) }()
		return h, func() { hcancel(); <-done; h.Close() }
	}
	h, stopHub := startHub()

	// Agents.
	fire, err := os.ReadFile("../../rules/testdata/captures/directory-traversal-to-sensitive-file/fire.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	type node struct {
		name  string
		file  string
		agent *Agent
		stop  func()
	}
	var agents []*node
	newAgent := func(name string, src Source, rulesPath string) {
		file := filepath.Join(dir, name+".json")
		cfg := config.DefaultConfig()
		cfg.Rules.Default = false
		cfg.Rules.Files = []string{rulesPath}
		cfg.Rules.Watch = false
		cfg.Dedup.Window = 0
		cfg.Outputs.Stdout.Enabled, cfg.Store.Enabled, cfg.HTTP.Enabled = false, false, false
		cfg.Outputs.File.Enabled, cfg.Outputs.File.Path = true, file
		cfg.Hostname = name
		cfg.Hub.URL = clusterURL
		cfg.Hub.SpoolDir = filepath.Join(dir, name, "spool")
		cfg.Hub.RulesDir = filepath.Join(dir, name, "rules")
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		var a *Agent
		var stop func()
		if src == nil {
			a, stop = startAgent(t, cfg)
		} else {
			a, err = New(cfg, &Options{Source: src, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			actx, acancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- a.Run(actx) }()
			stop = func() { acancel(); <-done }
		}
		agents = append(agents, &node{name: name, file: file, agent: a, stop: stop})
	}
	rulesPath := filepath.Join(dir, "cat.yaml")
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	newAgent("sensor-1", nil, rulesPath)
	caps := []*loopCapture{{data: fire, interval: 10 * time.Millisecond, stop: make(chan struct{})},
		{data: fire, interval: 10 * time.Millisecond, stop: make(chan struct{})}}
	capRules := filepath.Join(dir, "traversal.yaml")
	if err := os.WriteFile(capRules, []byte(traversalRule), 0o600); err != nil {
		t.Fatal(err)
	}
	newAgent("capture-1", caps[0], capRules)
	newAgent("capture-2", caps[1], capRules)

	// The real sensor's load: cat /etc/shadow, steadily.
	catDone := make(chan struct{})
	catStop := make(chan struct{})
	go func() {
		defer close(catDone)
		for {
			select {
			case <-catStop:
				return
			case <-time.After(20 * time.Millisecond):
				_ = exec.Command("cat", "/etc/shadow").Run()
			}
		}
	}()

	time.Sleep(1500 * time.Millisecond)
	nodes[1].srv.Shutdown() // one NATS server dies mid-stream
	nodes[1].srv.WaitForShutdown()
	time.Sleep(1500 * time.Millisecond)
	first := h
	stopHub() // the hub restarts mid-stream
	time.Sleep(500 * time.Millisecond)
	h, stopHub = startHub()
	defer func() { stopHub() }()
	nodes[1].srv, err = hub.StartNATS(nodes[1].opts) // and the NATS server comes back
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	close(catStop)
	<-catDone
	for _, c := range caps {
		close(c.stop)
	}
	time.Sleep(200 * time.Millisecond) // the last alerts reach the outputs
	// The spools drain now that the hub and the cluster are back: wait for
	// it (an alert still spooled at stop waits for the agent's next start,
	// which this test does not make).
	drainBy := time.Now().Add(30 * time.Second)
	for _, a := range agents {
		for a.agent.fleet.Stats().SpoolLen != 0 && time.Now().Before(drainBy) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, a := range agents {
		a.stop() // flushes the file output and the hub output (spool kept on disk)
	}

	// Every alert each agent delivered (its file output), across agents.
	want := map[string]string{}
	perNode := map[string]int{}
	for _, a := range agents {
		for _, m := range fileAlerts(a.file) {
			u, _ := m["uuid"].(string)
			if prev, dup := want[u]; dup {
				t.Fatalf("uuid %s delivered twice (%s, %s)", u, prev, a.name)
			}
			want[u] = a.name
			perNode[a.name]++
		}
	}
	for _, a := range agents {
		if perNode[a.name] == 0 {
			t.Fatalf("%s delivered no alert", a.name)
		}
	}
	spooled := map[string]uint64{}
	for _, a := range agents {
		st := a.agent.fleet.Stats()
		spooled[a.name] = st.Spooled
		if st.SpoolLen != 0 { // sent on the next start; the store must hold them already or fail below
			t.Logf("%s: %d alerts left in the spool at stop", a.name, st.SpoolLen)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	var stored []hubAlert
	for {
		stored = storedAlerts(t, h)
		if len(stored) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := map[string]int{}
	for _, s := range stored {
		got[s.uuid]++
		if want[s.uuid] == "" {
			t.Errorf("stored alert %s was delivered by no agent", s.uuid)
		} else if want[s.uuid] != s.node {
			t.Errorf("alert %s stored as node %s, delivered by %s", s.uuid, s.node, want[s.uuid])
		}
	}
	missing := 0
	missingBy := map[string]int{}
	for u := range want {
		if got[u] != 1 {
			missing++
			missingBy[want[u]]++
		}
	}
	if missing > 0 || len(stored) != len(want) {
		t.Fatalf("%d alerts delivered (%v), %d stored, %d not stored exactly once (%v); the stream holds %d alert messages",
			len(want), perNode, len(stored), missing, missingBy, streamAlertCount(t, clusterURL))
	}
	// And the stream holds each alert once: the message ids dropped the
	// copies that retries sent.
	if n := streamAlertCount(t, clusterURL); n != len(want) {
		t.Fatalf("stream holds %d alert messages, %d alerts were delivered", n, len(want))
	}
	t.Logf("%d alerts (%v; through the spool: %v) through a NATS server kill and a hub restart: each stored once (deliveries lost on the way and held for: %d, then %d)",
		len(want), perNode, spooled, first.Stats().Gaps, h.Stats().Gaps)
}

// traversalRule fires on the recorded capture's open of ../../etc/passwd
// (the agent's own process table does not know the recorded processes, so
// the rule looks at the event alone).
const traversalRule = `
- rule: Test traversal open
  desc: test
  condition: evt.type in (open, openat, openat2) and fd.name contains passwd
  output: Traversal open (file=%fd.name)
  priority: WARNING
`

type hubAlert struct{ uuid, node string }

func storedAlerts(t *testing.T, h *hub.Hub) []hubAlert {
	t.Helper()
	as, err := h.Store().Alerts(context.Background(), hub.AlertFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]hubAlert, 0, len(as))
	for _, s := range as {
		var a alert.Alert
		if err := a.UnmarshalJSON(s.Alert); err != nil {
			t.Fatal(err)
		}
		out = append(out, hubAlert{uuid: a.UUID, node: s.Node})
	}
	return out
}

// streamAlertCount counts the alert messages of the stream.
func streamAlertCount(t *testing.T, url string) int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, fleet.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("vigil.alert.*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}
