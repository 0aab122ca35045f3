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
