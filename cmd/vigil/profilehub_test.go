package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/hub"
	"github.com/vigilsec/vigil/internal/profile"
)

// TestProfileCommandsThroughHub: two nodes send their profiles of one
// workload (and node-a a deviation alert) to a real hub (embedded NATS,
// HTTP API on loopback); vigil profile --hub lists the fleet's merge, shows
// it, exports it, diffs it against a node's document, refuses an accept
// with the viewer token, and accepts with the admin token (by value and by
// the deviation alert's UUID): a third node's fleet client then receives
// the merge holding the accepted behaviours.
func TestProfileCommandsThroughHub(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hub.New(ctx, hub.Options{Store: filepath.Join(dir, "hub.db"), Listen: "127.0.0.1:0",
		NATS:        hub.NATSOptions{Name: "hub", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")},
		ViewerToken: "viewer-secret", AdminToken: "admin-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	go h.Run(ctx)
	for h.Addr() == "" {
		time.Sleep(10 * time.Millisecond)
	}
	api := "http://" + h.Addr()
	viewer, admin := filepath.Join(dir, "viewer"), filepath.Join(dir, "admin")
	os.WriteFile(viewer, []byte("viewer-secret\n"), 0o600)
	os.WriteFile(admin, []byte("admin-secret\n"), 0o600)

	k, _ := profile.ParseKeyBy("label:app")
	c := &event.Container{ID: "abcdefabcdef", FullID: "abcdefabcdef00", Type: "docker", MetadataKnown: true,
		Labels: map[string]string{"app": "web"}}
	t0 := time.Now()
	connect := func(at time.Time, peer string) *event.Event {
		ap := netip.MustParseAddrPort(peer)
		return &event.Event{Type: event.TypeConnect, Time: at.UnixNano(), Container: c, Comm: "web",
			Addr: event.SockAddr{Family: syscall.AF_INET, IP: ap.Addr(), Port: ap.Port()}, FDInfo: &event.FDInfo{L4Proto: "tcp"}}
	}
	shared := make(chan *profile.Profile, 16)
	client := func(node string) *fleet.Client {
		o := fleet.Options{URL: h.NATSURL(), Node: node, SpoolDir: filepath.Join(dir, "spool-"+node)}
		if node == "node-c" {
			o.ApplyProfile = func(doc []byte) {
				if p, err := profile.Decode(doc, "shared", profile.Limits{}); err == nil {
					shared <- p
				}
			}
		}
		fc, err := fleet.Connect(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fc.Close() })
		go fc.Run(ctx)
		return fc
	}
	nodeA := filepath.Join(dir, "node-a.json")
	var deviation *alert.Alert
	for node, peer := range map[string]string{"node-a": "10.0.0.5:5432", "node-b": "10.0.0.6:6379"} {
		l := profile.NewLearner(profile.Options{KeyBy: k, Window: time.Minute, Hostname: node,
			OnDeviation: func(a *alert.Alert) { deviation = a }})
		l.Observe(connect(t0, peer))
		l.Tick(t0.Add(2 * time.Minute))
		fc := client(node)
		p := l.Snapshot()[0]
		doc, _ := p.MarshalJSON()
		if err := fc.PublishProfile(ctx, doc); err != nil {
			t.Fatal(err)
		}
		if node == "node-a" {
			os.WriteFile(nodeA, doc, 0o600)
			l.Observe(connect(t0.Add(3*time.Minute), "10.0.0.8:443"))
			if deviation == nil {
				t.Fatal("node-a raised no deviation")
			}
			if err := fc.Output().Write(ctx, deviation); err != nil {
				t.Fatal(err)
			}
		}
	}
	client("node-c")

	hubFlags := []string{"--hub", api, "--token-file", viewer}
	var out string
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, err = runVigilCmd(t, append([]string{"profile", "show"}, hubFlags...)...)
		if err == nil && strings.Contains(out, "node-a,node-b") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("show --hub: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "label:app=web") || !strings.Contains(out, "monitoring") {
		t.Errorf("show --hub:\n%s", out)
	}
	out, _, err = runVigilCmd(t, append([]string{"profile", "show", "label:app=web"}, hubFlags...)...)
	if err != nil || !strings.Contains(out, "10.0.0.5:5432/tcp") || !strings.Contains(out, "10.0.0.6:6379/tcp") {
		t.Fatalf("show NAME --hub: %v\n%s", err, out)
	}
	exported := filepath.Join(dir, "fleet.json")
	if _, _, err := runVigilCmd(t, append([]string{"profile", "export", "label:app=web", "-o", exported}, hubFlags...)...); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(exported); err != nil || !strings.Contains(string(b), "10.0.0.6:6379/tcp") {
		t.Fatalf("export --hub: %v %s", err, b)
	}
	out, _, err = runVigilCmd(t, append([]string{"profile", "diff", "label:app=web", nodeA}, hubFlags...)...)
	if err != nil || !strings.Contains(out, "- egress 10.0.0.6:6379/tcp") || strings.Contains(out, "10.0.0.5:5432") {
		t.Fatalf("diff --hub: %v\n%s", err, out)
	}
	if _, _, err := runVigilCmd(t, append([]string{"profile", "diff", "label:app=web"}, hubFlags...)...); err == nil {
		t.Error("diff --hub with one name: no error")
	}
	_, _, err = runVigilCmd(t, append([]string{"profile", "accept", "label:app=web", "egress", "10.0.0.7:5432/tcp"}, hubFlags...)...)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("accept with the viewer token: %v, want 403", err)
	}

	adminFlags := []string{"--hub", api, "--token-file", admin}
	out, _, err = runVigilCmd(t, append([]string{"profile", "accept", "label:app=web", "egress", "10.0.0.7:5432/tcp"}, adminFlags...)...)
	if err != nil || !strings.Contains(out, "accepted egress 10.0.0.7:5432/tcp") {
		t.Fatalf("accept --hub: %v\n%s", err, out)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		_, _, err = runVigilCmd(t, append([]string{"profile", "accept", deviation.UUID}, adminFlags...)...)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the alert reaches the hub's store
	}
	if err != nil {
		t.Fatalf("accept UUID --hub: %v", err)
	}
	out, _, err = runVigilCmd(t, append([]string{"profile", "show", "label:app=web"}, hubFlags...)...)
	if err != nil || !strings.Contains(out, "10.0.0.7:5432/tcp") || !strings.Contains(out, "10.0.0.8:443/tcp") {
		t.Fatalf("show after accept: %v\n%s", err, out)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		select {
		case p := <-shared:
			if got := strings.Join(p.Items(profile.KindEgress), " "); strings.Contains(got, "10.0.0.7:5432/tcp") && strings.Contains(got, "10.0.0.8:443/tcp") {
				return
			}
		case <-time.After(time.Until(deadline)):
			t.Fatal("node-c never received the merge with the accepted behaviours")
		}
	}
}
