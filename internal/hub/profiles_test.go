package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/profile"
)

// learned returns the document of a profile of workload app=web learned on
// host from an exec of prog and a connection to peer.
func learned(t *testing.T, host, prog, peer string) []byte {
	t.Helper()
	k, _ := profile.ParseKeyBy("label:app")
	l := profile.NewLearner(profile.Options{KeyBy: k, Window: time.Millisecond, Hostname: host})
	c := &event.Container{ID: "abcdefabcdef", FullID: "abcdefabcdef00", Type: "docker", MetadataKnown: true,
		Labels: map[string]string{"app": "web"}}
	t0 := time.Now()
	l.Observe(&event.Event{Type: event.TypeExecve, Time: t0.UnixNano(), Container: c, Exec: &event.Exec{ExePath: prog, Filename: prog}})
	ap := netip.MustParseAddrPort(peer)
	l.Observe(&event.Event{Type: event.TypeConnect, Time: t0.UnixNano(), Container: c,
		Addr: event.SockAddr{Family: syscall.AF_INET, IP: ap.Addr(), Port: ap.Port()}, FDInfo: &event.FDInfo{L4Proto: "tcp"}})
	l.Tick(t0.Add(time.Second))
	ps := l.Snapshot()
	if len(ps) != 1 {
		t.Fatalf("%d profiles learned", len(ps))
	}
	b, err := ps[0].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHubMergesProfiles: two nodes publish their profiles of one workload
// over the fleet's transport; the hub keeps each node's newest and its API
// serves their merge (the union of the sets, both hosts); a profile
// message that does not decode is dropped, the stored ones stay.
func TestHubMergesProfiles(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, Options{Store: filepath.Join(dir, "hub.db"), NATS: NATSOptions{Name: "hub", StoreDir: filepath.Join(dir, "js")},
		ViewerToken: "viewer-token"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publish := func(node string, doc []byte) {
		t.Helper()
		c, err := fleet.Connect(fleet.Options{URL: h.NATSURL(), Node: node, SpoolDir: filepath.Join(dir, "spool-"+node)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go c.Run(ctx)
		if err := c.PublishProfile(ctx, doc); err != nil {
			t.Fatalf("%s: publish: %v", node, err)
		}
	}
	publish("node-a", learned(t, "node-a", "/usr/sbin/nginx", "10.0.0.5:5432"))
	publish("node-b", learned(t, "node-b", "/usr/sbin/nginx", "10.0.0.6:6379"))
	publish("node-b", []byte(`{"name": "label:app=web", "version": "two"}`))

	get := func(path string) (int, []byte) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer viewer-token")
		w := httptest.NewRecorder()
		h.Handler().ServeHTTP(w, r)
		return w.Code, w.Body.Bytes()
	}
	var merged *profile.Profile
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get("/api/profiles/" + url.PathEscape("label:app=web"))
		if code == http.StatusOK {
			p, err := profile.Decode(body, "api", profile.Limits{})
			if err != nil {
				t.Fatalf("the API's profile: %v\n%s", err, body)
			}
			if len(p.Hosts) == 2 {
				merged = p
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no merged profile: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := merged.Items(profile.KindEgress); !slices.Equal(got, []string{"10.0.0.5:5432/tcp", "10.0.0.6:6379/tcp"}) {
		t.Errorf("merged egress %q", got)
	}
	if got := merged.Items(profile.KindProgram); !slices.Equal(got, []string{"/usr/sbin/nginx"}) {
		t.Errorf("merged programs %q", got)
	}
	if !slices.Equal(merged.Hosts, []string{"node-a", "node-b"}) || merged.State != profile.Monitoring {
		t.Errorf("merged hosts %q state %s", merged.Hosts, merged.State)
	}
	code, body := get("/api/profiles")
	var list []ProfileSummary
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) != 1 || list[0].Name != "label:app=web" {
		t.Errorf("profile list: %d %s", code, body)
	}
	if code, _ := get("/api/profiles/" + url.PathEscape("label:app=none")); code != http.StatusNotFound {
		t.Errorf("an unknown profile: %d, want 404", code)
	}
	waitBad := time.Now().Add(5 * time.Second)
	for h.bad.Load() == 0 && time.Now().Before(waitBad) {
		time.Sleep(20 * time.Millisecond)
	}
	if h.bad.Load() == 0 {
		t.Error("the bad profile message was not counted")
	}
	rows, err := h.Store().NodeProfiles(ctx, "label:app=web")
	if err != nil || len(rows) != 2 || rows[1].Node != "node-b" || rows[1].Version != 1 {
		t.Errorf("stored: %+v %v", rows, err)
	}
}

// TestAgentsTakeFleetProfile: two nodes learn one workload, each a peer of
// its own, and send their profiles through the embedded hub on loopback;
// each node's fleet client takes the hub's merge (the profiles bucket)
// into its Learner, so the peer learned on the other node is no deviation
// while a peer neither learned is one. The nodes then send their merged
// profiles back (as the agent's sync does) and the hub does not put the
// merge again: nothing new.
func TestAgentsTakeFleetProfile(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, Options{Store: filepath.Join(dir, "hub.db"), NATS: NATSOptions{Name: "hub", StoreDir: filepath.Join(dir, "js")}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, _ := profile.ParseKeyBy("label:app")
	c := &event.Container{ID: "abcdefabcdef", FullID: "abcdefabcdef00", Type: "docker", MetadataKnown: true,
		Labels: map[string]string{"app": "web"}}
	t0 := time.Now()
	connect := func(at time.Time, peer string) *event.Event {
		ap := netip.MustParseAddrPort(peer)
		return &event.Event{Type: event.TypeConnect, Time: at.UnixNano(), Container: c, Comm: "web",
			Addr: event.SockAddr{Family: syscall.AF_INET, IP: ap.Addr(), Port: ap.Port()}, FDInfo: &event.FDInfo{L4Proto: "tcp"}}
	}
	type node struct {
		l          *profile.Learner
		c          *fleet.Client
		deviations chan string
	}
	nodes := map[string]*node{}
	for name, peer := range map[string]string{"node-a": "10.0.0.5:5432", "node-b": "10.0.0.6:6379"} {
		n := &node{deviations: make(chan string, 16)}
		n.l = profile.NewLearner(profile.Options{KeyBy: k, Window: time.Minute, Hostname: name,
			OnDeviation: func(a *alert.Alert) { v, _ := a.Field(profile.FieldValue); n.deviations <- v.(string) }})
		n.l.Observe(&event.Event{Type: event.TypeExecve, Time: t0.UnixNano(), Container: c,
			Exec: &event.Exec{ExePath: "/usr/sbin/web", Filename: "/usr/sbin/web"}})
		n.l.Observe(connect(t0, peer))
		n.l.Tick(t0.Add(2 * time.Minute)) // monitoring
		var err error
		n.c, err = fleet.Connect(fleet.Options{URL: h.NATSURL(), Node: name, SpoolDir: filepath.Join(dir, "spool-"+name),
			ApplyProfile: func(doc []byte) {
				p, err := profile.Decode(doc, "hub", profile.Limits{})
				if err != nil {
					t.Errorf("%s: the hub's profile: %v", name, err)
					return
				}
				n.l.Adopt(p)
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.c.Close()
		go n.c.Run(ctx)
		nodes[name] = n
	}
	send := func(n *node) {
		t.Helper()
		for _, p := range n.l.Snapshot() {
			b, err := p.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := n.c.PublishProfile(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range nodes {
		send(n)
	}
	both := []string{"10.0.0.5:5432/tcp", "10.0.0.6:6379/tcp"}
	for name, n := range nodes {
		deadline := time.Now().Add(15 * time.Second)
		for {
			ps := n.l.Profiles()
			if len(ps) == 1 && slices.Equal(ps[0].Items(profile.KindEgress), both) {
				if ps[0].State != profile.Monitoring || ps[0].Version < 2 {
					t.Errorf("%s: the fleet's profile taken as %s version %d, want monitoring, a new version", name, ps[0].State, ps[0].Version)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never took the fleet's profile: %v", name, ps[0].Items(profile.KindEgress))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	after := t0.Add(3 * time.Minute)
	for name, n := range nodes {
		for _, peer := range []string{"10.0.0.5:5432", "10.0.0.6:6379", "10.0.0.9:4444"} {
			n.l.Observe(connect(after, peer))
		}
		select {
		case v := <-n.deviations:
			if v != "10.0.0.9:4444/tcp" {
				t.Errorf("%s: deviation %s, want only the peer no node learned", name, v)
			}
		default:
			t.Errorf("%s: no deviation for a peer no node learned", name)
		}
		select {
		case v := <-n.deviations:
			t.Errorf("%s: deviation %s", name, v)
		default:
		}
	}

	// The merged profiles go back to the hub (the agent's next sync):
	// their merge is what was shared, so it is not put again.
	key := fleet.ProfileKey("label:app=web")
	e, err := h.profKV.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	rev := e.Revision()
	for _, n := range nodes {
		send(n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := h.Store().NodeProfiles(ctx, "label:app=web")
		if err == nil && len(rows) == 2 && rows[0].Version >= 3 && rows[1].Version >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes' merged profiles not stored: %+v %v", rows, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the batch that stored them shares after storing
	if e, err := h.profKV.Get(ctx, key); err != nil || e.Revision() != rev {
		t.Errorf("the unchanged merge was put again (revision %d, was %d): %v", e.Revision(), rev, err)
	}
}
