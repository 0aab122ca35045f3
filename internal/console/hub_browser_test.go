package console_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/hub"
)

// hubAlert is the i-th alert a fleet test node publishes: rules Hub R1..R3,
// namespaces shop, pay, ops in turn.
func hubAlert(node string, i int) *alert.Alert {
	return &alert.Alert{UUID: alert.NewUUID(), Time: time.Now().UTC().Add(-time.Duration(i) * time.Second), Rule: fmt.Sprintf("Hub R%d", i%3+1),
		Priority: alert.PriorityWarning, Source: alert.SourceSyscall, Hostname: node, Output: fmt.Sprintf("alert %d of %s", i, node),
		Vigil: alert.Context{Count: 1, Container: &alert.Container{ID: fmt.Sprintf("%012x", i), Name: "app", Image: "nginx:1.27",
			PodNamespace: []string{"shop", "pay", "ops"}[i%3], PodName: fmt.Sprintf("web-%d", i%2)}}}
}

// TestHubConsoleInBrowser drives the hub's console in headless Chromium
// over a real hub (embedded NATS JetStream, SQLite) fed by two nodes
// through their fleet clients: the pages load with no console errors;
// filters narrow the fleet's alert list as the published alerts say; a
// node's new alert appears live within 2 s of its publication; an admin
// pushes a rule file from the rules page (one with an error comes back
// with its file:line:col and is not pushed); a viewer sees no push control
// and a push from the viewer's session is refused (403), nothing pushed.
func TestHubConsoleInBrowser(t *testing.T) {
	br := newBrowser(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hub.New(ctx, hub.Options{Store: filepath.Join(dir, "hub.db"), Listen: "127.0.0.1:0",
		NATS:        hub.NATSOptions{Name: "hub", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")},
		ViewerToken: viewerToken, AdminToken: adminToken, AliveAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for h.Addr() == "" {
		time.Sleep(10 * time.Millisecond)
	}
	base := "http://" + h.Addr()

	// Two nodes publish 12 alerts each.
	clients := map[string]*fleet.Client{}
	var sent []*alert.Alert
	for _, node := range []string{"node-a", "node-b"} {
		c, err := fleet.Connect(fleet.Options{URL: h.NATSURL(), Node: node, SpoolDir: filepath.Join(dir, node),
			HeartbeatInterval: 200 * time.Millisecond, Heartbeat: func() fleet.Heartbeat {
				return fleet.Heartbeat{Time: time.Now().UTC(), Version: "v-browser"}
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go c.Run(ctx)
		clients[node] = c
		var as []*alert.Alert
		for i := range 12 {
			as = append(as, hubAlert(node, i))
		}
		if err := c.Output().WriteBatch(ctx, as); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, as...)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := h.Store().CountAlerts(ctx); n == int64(len(sent)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the published alerts were not stored in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	count := func(keep func(a *alert.Alert) bool) int {
		n := 0
		for _, a := range sent {
			if keep(a) {
				n++
			}
		}
		return n
	}

	br.run(t, "login page", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	br.login(t, base, adminToken)
	br.shot(t, "hub-alerts")
	for _, tc := range []struct {
		kv   []string
		keep func(a *alert.Alert) bool
	}{
		{[]string{"rule", "Hub R1"}, func(a *alert.Alert) bool { return a.Rule == "Hub R1" }},
		{[]string{"node", "node-b"}, func(a *alert.Alert) bool { return a.Hostname == "node-b" }},
		{[]string{"namespace", "pay", "node", "node-a"}, func(a *alert.Alert) bool {
			return a.Vigil.Container.PodNamespace == "pay" && a.Hostname == "node-a"
		}},
		{[]string{"pod", "web-1", "rule", "Hub R2"}, func(a *alert.Alert) bool {
			return a.Vigil.Container.PodName == "web-1" && a.Rule == "Hub R2"
		}},
	} {
		want := count(tc.keep)
		if want == 0 || want == len(sent) {
			t.Fatalf("filter %v narrows nothing: %d", tc.kv, want)
		}
		if n := br.filter(t, base, tc.kv...); n != want {
			t.Errorf("filter %v: %d rows, want %d", tc.kv, n, want)
		}
	}
	br.shot(t, "hub-alerts-filtered")

	// Live: a node's new alert is in the list within 2 s of its publication.
	br.run(t, "live list", goTo("#/alerts"), chromedp.WaitVisible(chromedp.CSS(`#live-status.ok`)))
	live := hubAlert("node-a", 0)
	live.Rule = "Hub live"
	start := time.Now()
	if err := clients["node-a"].Output().Write(ctx, live); err != nil {
		t.Fatal(err)
	}
	for {
		uuids := value(t, br, "live rows", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#alerts-body tr[data-uuid]")).map(tr => tr.dataset.uuid)`))
		if strings.Contains(strings.Join(uuids, " "), live.UUID) {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the new alert is not in the list 2 s after its publication (%d rows)", len(uuids))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("live alert shown %v after its publication", time.Since(start).Round(time.Millisecond))

	br.run(t, "nodes", goTo("#/nodes"))
	if nodes := br.text(t, "#nodes"); !strings.Contains(nodes, "node-a") || !strings.Contains(nodes, "node-b") || !strings.Contains(nodes, "v-browser") {
		t.Errorf("nodes page: %q", nodes)
	}
	br.shot(t, "hub-nodes")

	// An admin pushes from the rules page: an error comes back positioned
	// and nothing is pushed; a good file becomes bundle version 1.
	br.run(t, "rules page", goTo("#/rules"))
	push := func(file string) string {
		br.run(t, "push", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`document.getElementById("push-result").removeAttribute("class"); null`)(ctx, t)
			return err
		}), chromedp.SetValue(chromedp.ID("push-rules"), file), chromedp.Click(chromedp.ID("push-btn")),
			chromedp.WaitVisible(chromedp.CSS(`#push-result[class]`)))
		return br.text(t, "#push-result")
	}
	bad := "- rule: Console broken\n  desc: x\n  condition: evt.type = openat and fd.nam = /etc/x\n  output: x\n  priority: WARNING\n"
	if got := push(bad); !strings.Contains(got, "site.yaml:3:") {
		t.Errorf("push of a broken file: %q", got)
	}
	br.expectError(t, "status of 422", "/console/api/rules") // the refused push, as the page shows it
	if bs, _ := h.Store().Bundles(ctx); len(bs) != 0 {
		t.Fatalf("the broken file was pushed: %+v", bs)
	}
	good := "- rule: Console pushed\n  desc: x\n  condition: evt.type = openat and fd.name = /etc/x\n  output: x\n  priority: WARNING\n"
	if got := push(good); !strings.Contains(got, "version 1") {
		t.Errorf("push of a good file: %q", got)
	}
	br.shot(t, "hub-rules-pushed")
	br.noErrors(t)

	// A viewer: no push control, and a push from the viewer's session is
	// refused.
	br.run(t, "logout", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("token")))
	br.login(t, base, viewerToken)
	br.run(t, "viewer rules", goTo("#/rules"))
	if n := value(t, br, "push controls", chromedp.Evaluate[int](`document.querySelectorAll("#push-form, #push-btn, #reload-rules").length`)); n != 0 {
		t.Errorf("the viewer sees %d push controls", n)
	}
	status := value(t, br, "viewer push", chromedp.Evaluate[int](`fetch("/console/api/rules?name=site.yaml", {method: "POST",
		headers: {"X-Vigil-Console": "1"}, credentials: "same-origin", body: `+fmt.Sprintf("%q", good)+`}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Errorf("a push from the viewer's session: %d, want 403", status)
	}
	br.expectError(t, "status of 403", "/console/api/rules")
	if bs, _ := h.Store().Bundles(ctx); len(bs) != 1 {
		t.Errorf("bundles after the viewer's push: %d, want 1", len(bs))
	}
	br.shot(t, "hub-viewer-rules")
	br.noErrors(t)
}

// expectError takes from the console errors the one of a request the test
// made fail on purpose (its text and URL containing these); it fails the
// test when there is none.
func (b *browser) expectError(t testing.TB, text, url string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b.mu.Lock()
		for i, e := range b.errors {
			if strings.Contains(e, text) && strings.Contains(e, url) {
				b.errors = append(b.errors[:i], b.errors[i+1:]...)
				b.mu.Unlock()
				return
			}
		}
		b.mu.Unlock()
		if time.Now().After(deadline) {
			t.Errorf("no console error %q for %s", text, url)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
