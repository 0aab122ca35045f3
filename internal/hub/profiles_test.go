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
	var list []profileSummary
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
