package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/hub"
)

// TestFleetAgentToHub: an agent with hub.url publishes its alerts and
// heartbeats to a real hub (embedded NATS JetStream, SQLite); a rule
// bundle with an error is refused with its positioned error and the agent
// keeps its rules; a good one is put in force and acknowledged.
func TestFleetAgentToHub(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hub.New(ctx, hub.Options{Store: filepath.Join(dir, "hub.db"),
		NATS: hub.NATSOptions{Name: "hub", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(ctx) }()

	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := newSinks(t).config(t, rulesPath)
	cfg.Outputs.File.Enabled, cfg.Outputs.HTTP.Enabled, cfg.Outputs.Syslog.Enabled, cfg.Store.Enabled = false, false, false, false
	cfg.Hostname = "node.one"
	cfg.Hub.URL = h.NATSURL()
	cfg.Hub.SpoolDir = filepath.Join(dir, "spool")
	cfg.Hub.RulesDir = filepath.Join(dir, "hub-rules")
	cfg.Hub.HeartbeatInterval = 100 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{ch: make(chan struct{}, 100)}
	a, err := New(cfg, &Options{Source: src, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()

	for range 25 {
		src.ch <- struct{}{}
	}
	waitFor(t, "25 alerts at the hub", func() bool {
		n, _ := h.Store().CountAlerts(ctx)
		return n == 25
	})
	as, err := h.Store().Alerts(ctx, hub.AlertFilter{Node: "node_one", Rule: "Test shadow read"})
	if err != nil || len(as) != 25 {
		t.Fatalf("alerts of node_one: %d, %v", len(as), err)
	}
	waitFor(t, "a heartbeat", func() bool {
		ns, _ := h.Store().Nodes(ctx)
		return len(ns) == 1 && ns[0].Name == "node_one" && ns[0].Heartbeat.RSSBytes > 0 && ns[0].Heartbeat.Version != ""
	})

	ack := func(v uint64) *fleet.Ack {
		var got *fleet.Ack
		waitFor(t, "acknowledgement", func() bool {
			bs, _ := h.Store().Bundles(ctx)
			for _, b := range bs {
				if b.Version == v && len(b.Acks) == 1 {
					got = &b.Acks[0]
					return true
				}
			}
			return false
		})
		return got
	}
	broken := "- rule: Pushed broken\n  desc: x\n  condition: evt.type = openat and proc.nme = sh\n  output: x\n  priority: WARNING\n"
	b, err := h.Push(ctx, []fleet.BundleFile{{Name: "pushed.yaml", Data: broken}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := ack(b.Version); got.OK || len(got.Errors) == 0 || got.Errors[0].File != "pushed.yaml" || got.Errors[0].Line != 3 ||
		!strings.Contains(got.Errors[0].Msg, "proc.nme") {
		t.Fatalf("ack of the broken bundle: %+v", got)
	}
	if rs := a.Ruleset(); len(rs.Rules) != 1 || rs.Rules[0].Name != "Test shadow read" {
		t.Fatalf("rules in force after the refusal: %d", len(rs.Rules))
	}
	if ents, _ := os.ReadDir(cfg.Hub.RulesDir); len(ents) != 0 {
		t.Fatalf("the refused bundle was written: %v", ents)
	}

	good := "- rule: Pushed rule\n  desc: x\n  condition: evt.type = openat and fd.name = /etc/pushed\n  output: pushed %fd.name\n  priority: WARNING\n"
	b, err = h.Push(ctx, []fleet.BundleFile{{Name: "pushed.yaml", Data: good}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := ack(b.Version); !got.OK {
		t.Fatalf("ack of the good bundle: %+v", got)
	}
	names := map[string]bool{}
	for _, r := range a.Ruleset().Rules {
		names[r.Name] = true
	}
	if !names["Pushed rule"] || !names["Test shadow read"] {
		t.Fatalf("rules in force: %v", names)
	}
	st, err := os.Lstat(filepath.Join(cfg.Hub.RulesDir, "pushed.yaml"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("pushed file: %v %v", st, err)
	}
	waitFor(t, "the heartbeat's rules version", func() bool {
		ns, _ := h.Store().Nodes(ctx)
		return len(ns) == 1 && ns[0].Heartbeat.RulesVersion == b.Version
	})
	cancel()
	if err := <-agentDone; err != nil {
		t.Fatal(err)
	}
	<-hubDone
}

// TestFleetAgentToHubMTLS: agents configured with the files of `vigil hub
// certs` (hub.tls.*) against a hub with mutual TLS: the node with its own
// certificate publishes and the hub stores its alerts under its name; an
// agent with no client certificate is not let in, and an agent with
// node1's certificate that calls itself node2 may not publish as node2:
// neither gets anything stored, both keep their alerts (and incidents) in
// the spool.
func TestFleetAgentToHubMTLS(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	certs := filepath.Join(dir, "certs")
	if _, err := hub.GenerateCerts(hub.CertsOptions{Dir: certs, Nodes: []string{"node1"}}); err != nil {
		t.Fatal(err)
	}
	f := func(n string) string { return filepath.Join(certs, n) }
	o := hub.Options{Store: filepath.Join(dir, "hub.db"), NATS: hub.NATSOptions{Name: "hub", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")}}
	if err := o.UseTLS(f("ca.pem"), f("hub.pem"), f("hub-key.pem")); err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(ctx) }()
	if !strings.HasPrefix(h.NATSURL(), "tls://") {
		t.Fatalf("hub NATS URL %s", h.NATSURL())
	}

	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	type node struct {
		a    *Agent
		src  *fakeSource
		done chan error
	}
	start := func(name, nodeName, cert, key string) *node {
		cfg := newSinks(t).config(t, rulesPath)
		cfg.Outputs.File.Enabled, cfg.Outputs.HTTP.Enabled, cfg.Outputs.Syslog.Enabled, cfg.Store.Enabled = false, false, false, false
		cfg.Hub.URL = h.NATSURL()
		cfg.Hub.Node = nodeName
		cfg.Hub.TLS.CAFile, cfg.Hub.TLS.CertFile, cfg.Hub.TLS.KeyFile = f("ca.pem"), cert, key
		cfg.Hub.SpoolDir = filepath.Join(dir, name, "spool")
		cfg.Hub.RulesDir = filepath.Join(dir, name, "rules")
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		n := &node{src: &fakeSource{ch: make(chan struct{}, 100)}, done: make(chan error, 1)}
		if n.a, err = New(cfg, &Options{Source: n.src, NoSignals: true, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		go func() { n.done <- n.a.Run(ctx) }()
		return n
	}
	good := start("good", "node1", f("node-node1.pem"), f("node-node1-key.pem"))
	noCert := start("nocert", "node3", "", "")
	impostor := start("impostor", "node2", f("node-node1.pem"), f("node-node1-key.pem"))
	for _, n := range []*node{good, noCert, impostor} {
		for range 10 {
			n.src.ch <- struct{}{}
		}
	}
	waitFor(t, "node1's 10 alerts at the hub", func() bool {
		n, _ := h.Store().CountAlerts(ctx)
		return n >= 10
	})
	waitFor(t, "the refused agents' alerts in their spools", func() bool {
		return noCert.a.fleet.Stats().SpoolLen >= 10 && impostor.a.fleet.Stats().SpoolLen >= 10 // alerts and their incidents
	})
	time.Sleep(300 * time.Millisecond)
	if n, _ := h.Store().CountAlerts(ctx); n != 10 {
		t.Fatalf("store holds %d alerts, want node1's 10 only", n)
	}
	if as, _ := h.Store().Alerts(ctx, hub.AlertFilter{Node: "node1"}); len(as) != 10 {
		t.Fatalf("alerts of node1: %d", len(as))
	}
	if st := noCert.a.fleet.Stats(); st.Connected || st.Published != 0 {
		t.Fatalf("agent without a client certificate: %+v", st)
	}
	if st := impostor.a.fleet.Stats(); st.Published != 0 {
		t.Fatalf("agent publishing as node2 with node1's certificate: %+v", st)
	}
	cancel()
	for _, n := range []*node{good, noCert, impostor} {
		<-n.done
	}
	<-hubDone
}
