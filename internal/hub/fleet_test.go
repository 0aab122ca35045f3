package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/rules"
)

// testHub is a hub on loopback with an embedded NATS server.
type testHub struct {
	*Hub
	cancel context.CancelFunc
	done   chan error
}

func startHub(t *testing.T, o Options) *testHub {
	t.Helper()
	if o.NATS.Listen == "" {
		o.NATS.Listen = "127.0.0.1:0"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	h, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	th := &testHub{Hub: h, cancel: cancel, done: make(chan error, 1)}
	go func() { th.done <- h.Run(ctx) }()
	<-h.ready
	t.Cleanup(th.stop)
	return th
}

// stop stops the hub and its embedded NATS (idempotent).
func (th *testHub) stop() {
	if th.cancel == nil {
		return
	}
	th.cancel()
	<-th.done
	th.Close()
	th.cancel = nil
}

func newAlert(node string, i int) *alert.Alert {
	return &alert.Alert{UUID: alert.NewUUID(), Time: time.Now().UTC(), Rule: "Test rule", Priority: alert.PriorityWarning,
		Source: alert.SourceSyscall, Hostname: node, Output: fmt.Sprintf("alert %d of %s", i, node),
		OutputFields: []alert.Field{{Name: "seq", Value: int64(i)}}, Vigil: alert.Context{Count: 1}}
}

// waitCount waits until the store holds want alerts (or fails after d).
func waitCount(t *testing.T, s Store, want int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	var n int64
	for time.Now().Before(deadline) {
		n, _ = s.CountAlerts(context.Background())
		if n >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n != want {
		t.Fatalf("store holds %d alerts, want %d", n, want)
	}
}

// streamAlerts reads the alert subjects of the stream in stream order.
func streamAlerts(t *testing.T, url string, tlsFiles ...string) []*alert.Alert {
	t.Helper()
	var opts []nats.Option
	if len(tlsFiles) == 3 {
		c, err := fleet.ClientTLS(tlsFiles[0], tlsFiles[1], tlsFiles[2])
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, nats.Secure(c))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, fleet.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"vigil.alert.*"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*alert.Alert
	for {
		b, err := c.Fetch(1000, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			a := new(alert.Alert)
			if err := a.UnmarshalJSON(m.Data()); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
			n++
			if md, _ := m.Metadata(); md != nil && md.Sequence.Stream >= info.State.LastSeq {
				return out
			}
		}
		if n == 0 {
			return out
		}
	}
}

// TestHubOutageSpoolDrainsInOrder: under a steady alert rate the hub (and
// its embedded NATS) goes away for VIGIL_FLEET_OUTAGE (default 3s; the
// bench runs 60s); the agent spools, then drains in order when the hub is
// back: every alert in the store exactly once, the stream in production
// order.
func TestHubOutageSpoolDrainsInOrder(t *testing.T) {
	outage := 3 * time.Second
	if v := os.Getenv("VIGIL_FLEET_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("VIGIL_FLEET_OUTAGE: %v", err)
		}
		outage = d
	}
	rate := 200 // alerts/s
	dir := t.TempDir()
	o := Options{Store: filepath.Join(dir, "hub.db"), NATS: NATSOptions{Name: "hub", StoreDir: filepath.Join(dir, "js")}}
	h := startHub(t, o)
	url := h.NATSURL()
	o.NATS.Listen = strings.TrimPrefix(url, "nats://")

	c, err := fleet.Connect(fleet.Options{URL: url, Node: "n1", SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	out := c.Output()

	var sent []string
	produce := func(d time.Duration) {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			<-tick.C
			a := newAlert("n1", len(sent))
			if err := out.Write(ctx, a); err != nil {
				t.Fatalf("write %d: %v", len(sent), err)
			}
			sent = append(sent, a.UUID)
		}
	}
	produce(time.Second)
	h.stop() // the hub and its NATS are gone
	produce(outage)
	if st := c.Stats(); st.SpoolLen == 0 {
		t.Fatalf("nothing spooled during the outage: %+v", st)
	}
	spooledAtReturn := c.Stats().SpoolLen
	h = startHub(t, o) // back, same port, same stream and store
	produce(time.Second)
	waitCount(t, h.Store(), int64(len(sent)), 30*time.Second)
	st := c.Stats()
	if st.SpoolLen != 0 || st.SpoolDropped != 0 {
		t.Fatalf("spool after drain: %+v", st)
	}
	got := streamAlerts(t, url)
	if len(got) != len(sent) {
		t.Fatalf("stream holds %d alerts, %d were sent", len(got), len(sent))
	}
	for i, a := range got {
		if a.UUID != sent[i] {
			t.Fatalf("stream alert %d is %s, want %s (order lost)", i, a.UUID, sent[i])
		}
	}
	t.Logf("outage %v at %d alerts/s: %d alerts, %d spooled at the hub's return, all stored once in order", outage, rate, len(sent), spooledAtReturn)
}

// TestHubMTLSNodeIdentity: with mutual TLS a node publishes its alerts as
// itself; publishing on another node's subject is refused; a client
// without a certificate of the CA is not let in.
func TestHubMTLSNodeIdentity(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if _, err := GenerateCerts(CertsOptions{Dir: certs, Nodes: []string{"n1", "n2"}}); err != nil {
		t.Fatal(err)
	}
	f := func(n string) string { return filepath.Join(certs, n) }
	stls, err := ServerTLS(f("ca.pem"), f("hub.pem"), f("hub-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ctls, err := fleet.ClientTLS(f("ca.pem"), f("hub.pem"), f("hub-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	h := startHub(t, Options{Store: filepath.Join(dir, "hub.db"), NATS: NATSOptions{Name: "hub", StoreDir: filepath.Join(dir, "js"), TLS: stls},
		ClientTLS: ctls})
	url := h.NATSURL()

	n1TLS, _ := fleet.ClientTLS(f("ca.pem"), f("node-n1.pem"), f("node-n1-key.pem"))
	shared := make(chan []byte, 4)
	c, err := fleet.Connect(fleet.Options{URL: url, Node: "n1", SpoolDir: filepath.Join(dir, "spool"), TLS: n1TLS,
		ApplyProfile: func(doc []byte) { shared <- doc }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	for i := range 20 {
		if err := c.Output().Write(ctx, newAlert("n1", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, h.Store(), 20, 10*time.Second)
	if st := c.Stats(); st.Published != 20 || st.Spooled != 0 {
		t.Fatalf("n1 over mTLS: %+v", st)
	}
	// n1 sends its profile and reads the fleet's merge back (the
	// profiles bucket is readable with a node's identity).
	if err := c.PublishProfile(ctx, learned(t, "n1", "/usr/sbin/nginx", "10.0.0.5:5432")); err != nil {
		t.Fatal(err)
	}
	select {
	case doc := <-shared:
		if p, err := profile.Decode(doc, "shared", profile.Limits{}); err != nil || p.Name != "label:app=web" {
			t.Fatalf("n1 read the shared profile %s: %v", doc, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("n1 did not read the fleet's profile over mTLS")
	}

	// n1's certificate, publishing as n2.
	var mu sync.Mutex
	var asyncErr error
	nc, err := nats.Connect(url, nats.Secure(n1TLS), nats.CustomInboxPrefix(fleet.InboxPrefix("n1")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { mu.Lock(); asyncErr = err; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = js.Publish(pctx, fleet.AlertSubject("n2"), newAlert("n2", 0).AppendJSON(nil), jetstream.WithRetryAttempts(0))
	pcancel()
	if err == nil {
		t.Fatal("n1 published an alert as n2")
	}
	mu.Lock()
	if asyncErr == nil || !strings.Contains(strings.ToLower(asyncErr.Error()), "permissions violation") {
		t.Errorf("server error = %v, want a permissions violation", asyncErr)
	}
	mu.Unlock()
	// Reading another node's replies is refused too.
	if _, err := nc.SubscribeSync(fleet.InboxPrefix("n2") + ".>"); err == nil {
		nc.Flush()
		deadline := time.Now().Add(3 * time.Second)
		for {
			mu.Lock()
			e := asyncErr
			mu.Unlock()
			if e != nil && strings.Contains(e.Error(), fleet.InboxPrefix("n2")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscribing to n2's inbox: no violation (%v)", e)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if as, _ := h.Store().Alerts(ctx, AlertFilter{Node: "n2"}); len(as) != 0 {
		t.Fatalf("the store holds %d alerts of n2", len(as))
	}

	// No client certificate; a certificate of another CA.
	if nc, err := nats.Connect(url, nats.Secure(&tlsNoCert), nats.RootCAs(f("ca.pem")), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without a certificate was let in")
	}
	other := filepath.Join(dir, "other")
	if _, err := GenerateCerts(CertsOptions{Dir: other, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	otherTLS, _ := fleet.ClientTLS(f("ca.pem"), filepath.Join(other, "node-n1.pem"), filepath.Join(other, "node-n1-key.pem"))
	if nc, err := nats.Connect(url, nats.Secure(otherTLS), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a certificate of another CA was let in")
	}
	// The generated files are not readable by others.
	ents, _ := os.ReadDir(certs)
	for _, e := range ents {
		if info, _ := e.Info(); info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %04o", e.Name(), info.Mode().Perm())
		}
	}
}

// TestHubAPIRolesAndRules: the API needs a token; a viewer reads but
// cannot push rules; an admin pushes a bundle, a node refuses it with the
// positioned error (keeping its rules), the admin rolls back and the node
// acknowledges.
func TestHubAPIRolesAndRules(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, Options{Store: filepath.Join(dir, "hub.db"), NATS: NATSOptions{Name: "hub", StoreDir: filepath.Join(dir, "js")},
		ViewerToken: "view-tok", AdminToken: "admin-tok", AliveAfter: time.Minute})
	base := "http://" + h.Addr()

	// A node that compiles what it is pushed with the real rules loader.
	var inForce []fleet.BundleFile
	var mu sync.Mutex
	apply := func(b *fleet.Bundle) (rules.Diagnostics, error) {
		var files []rules.File
		for _, f := range b.Files {
			files = append(files, rules.File{Name: f.Name, Data: []byte(f.Data)})
		}
		rs := rules.LoadAndCompile(nil, files...)
		if err := rs.Err(); err != nil {
			return rs.Diags, err
		}
		mu.Lock()
		inForce = b.Files
		mu.Unlock()
		return nil, nil
	}
	c, err := fleet.Connect(fleet.Options{URL: h.NATSURL(), Node: "n1", SpoolDir: filepath.Join(dir, "spool"),
		HeartbeatInterval: 100 * time.Millisecond, ApplyRules: apply,
		Heartbeat: func() fleet.Heartbeat {
			return fleet.Heartbeat{Time: time.Now().UTC(), Version: "test", EventsPerSec: 3, Lost: map[string]uint64{"ringbuf_full": 1}, RSSBytes: 42}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)

	do := func(method, path, tok, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	good := `- rule: Pushed rule
  desc: pushed
  condition: evt.type = openat and fd.name = /etc/pushed
  output: pushed %fd.name
  priority: WARNING
`
	bad := "- rule: Broken pushed rule\n  desc: x\n  condition: evt.type = openat and no.such.field = 1\n  output: x\n  priority: WARNING\n"
	push := func(tok, name, data string) (int, string) {
		b, _ := json.Marshal(map[string]any{"files": []fleet.BundleFile{{Name: name, Data: data}}})
		return do("POST", "/api/rules", tok, string(b))
	}
	if code, _ := do("GET", "/api/alerts", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := do("GET", "/api/alerts", "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := push("view-tok", "a.yaml", good); code != http.StatusForbidden {
		t.Fatalf("viewer push: %d, want 403", code)
	}
	if code, body := push("admin-tok", "../a.yaml", good); code != http.StatusBadRequest || !strings.Contains(body, "base name") {
		t.Fatalf("push of ../a.yaml: %d %s", code, body)
	}
	if code, body := push("admin-tok", "a.yaml", good); code != 200 || !strings.Contains(body, `"version":1`) {
		t.Fatalf("admin push: %d %s", code, body)
	}
	waitAck := func(v uint64) fleet.Ack {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			code, body := do("GET", "/api/rules", "view-tok", "")
			if code != 200 {
				t.Fatalf("GET /api/rules: %d %s", code, body)
			}
			var bs []BundleStatus
			json.Unmarshal([]byte(body), &bs)
			for _, b := range bs {
				if b.Version == v && len(b.Acks) > 0 {
					return b.Acks[0]
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no acknowledgement of version %d", v)
		return fleet.Ack{}
	}
	if a := waitAck(1); !a.OK || a.Node != "n1" {
		t.Fatalf("ack of 1: %+v", a)
	}
	if code, _ := push("admin-tok", "a.yaml", bad); code != 200 {
		t.Fatal(code)
	}
	a := waitAck(2)
	if a.OK || len(a.Errors) == 0 || a.Errors[0].File != "a.yaml" || a.Errors[0].Line != 3 || a.Errors[0].Col == 0 ||
		!strings.Contains(a.Errors[0].Msg, "no.such.field") {
		t.Fatalf("ack of the broken bundle: %+v", a)
	}
	mu.Lock()
	if len(inForce) != 1 || inForce[0].Data != good {
		t.Fatalf("rules in force after the refusal: %+v", inForce)
	}
	mu.Unlock()
	if code, body := do("POST", "/api/rules/rollback?to=1", "view-tok", ""); code != http.StatusForbidden {
		t.Fatalf("viewer rollback: %d %s", code, body)
	}
	if code, body := do("POST", "/api/rules/rollback?to=9", "admin-tok", ""); code != http.StatusNotFound {
		t.Fatalf("rollback to a missing version: %d %s", code, body)
	}
	if code, body := do("POST", "/api/rules/rollback?to=1", "admin-tok", ""); code != 200 || !strings.Contains(body, `"version":3`) {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if a := waitAck(3); !a.OK {
		t.Fatalf("ack of the rollback: %+v", a)
	}
	if st := c.Stats(); st.RulesVersion != 3 {
		t.Fatalf("node rules version %d", st.RulesVersion)
	}

	// Alerts and nodes through the API, with filters.
	for i := range 10 {
		a := newAlert("n1", i)
		if i%2 == 0 {
			a.Rule = "Other rule"
		}
		c.Output().Write(ctx, a)
	}
	waitCount(t, h.Store(), 10, 10*time.Second)
	code, body := do("GET", "/api/alerts?rule=Other+rule&node=n1&since=1h", "view-tok", "")
	var as []StoredAlert
	if code != 200 || json.Unmarshal([]byte(body), &as) != nil || len(as) != 5 {
		t.Fatalf("filtered alerts: %d %d %s", code, len(as), body)
	}
	if code, body := do("GET", "/api/alerts?priority=bogus", "view-tok", ""); code != 400 || !strings.Contains(body, "priority") {
		t.Fatalf("bad filter: %d %s", code, body)
	}
	time.Sleep(300 * time.Millisecond)
	code, body = do("GET", "/api/nodes", "view-tok", "")
	var ns []NodeStatus
	if code != 200 || json.Unmarshal([]byte(body), &ns) != nil || len(ns) != 1 || !ns[0].Alive || ns[0].Heartbeat.RulesVersion != 0 && false ||
		ns[0].Heartbeat.Lost["ringbuf_full"] != 1 || ns[0].Heartbeat.RSSBytes != 42 {
		t.Fatalf("nodes: %d %s", code, body)
	}
}

var tlsNoCert = tls.Config{MinVersion: tls.VersionTLS12}

// TestHubConsole: the web console mounted by the hub shows the fleet's
// alerts with their incident timeline and the nodes; a viewer cannot push
// rules; an admin's rule file with an error comes back with its position
// and is not pushed; a good one becomes the next bundle version.
func TestHubConsole(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, Options{Store: filepath.Join(dir, "hub.db"), NATS: NATSOptions{Name: "hub", StoreDir: filepath.Join(dir, "js")},
		ViewerToken: "view-tok", AdminToken: "admin-tok", AliveAfter: time.Minute})
	base := "http://" + h.Addr()
	c, err := fleet.Connect(fleet.Options{URL: h.NATSURL(), Node: "n1", SpoolDir: filepath.Join(dir, "spool"),
		HeartbeatInterval: 100 * time.Millisecond, Heartbeat: func() fleet.Heartbeat {
			return fleet.Heartbeat{Time: time.Now().UTC(), Version: "v-test", Lost: map[string]uint64{"shed": 2}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	a := newAlert("n1", 0)
	a.Vigil.Container = &alert.Container{ID: "c1", Image: "busybox:1", PodNamespace: "prod", PodName: "web-1"}
	if err := c.Output().Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	c.SendIncident(&alert.Incident{UUID: a.UUID, Complete: true, Events: []alert.IncidentEvent{
		{Time: a.Time.UnixNano(), Type: "execve", PID: 10, Comm: "sh", What: "/bin/cat /etc/shadow"},
		{Time: a.Time.UnixNano() + 1, Type: "openat", PID: 10, Comm: "cat", What: "/etc/shadow", Alert: true}}})
	waitCount(t, h.Store(), 1, 10*time.Second)

	do := func(method, path, tok, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Vigil-Console", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := do("GET", "/console/api/alerts?namespace=prod", "view-tok", ""); code != 200 || !strings.Contains(body, a.UUID) {
		t.Fatalf("console alerts: %d %s", code, body)
	}
	if code, body := do("GET", "/console/api/alerts?namespace=dev", "view-tok", ""); code != 200 || strings.Contains(body, a.UUID) {
		t.Fatalf("console alerts filtered out: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := do("GET", "/console/api/alerts/"+a.UUID, "view-tok", "")
		if code == 200 && strings.Contains(body, "/etc/shadow") && strings.Contains(body, "/bin/cat /etc/shadow") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert detail without its incident: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if code, body := do("GET", "/console/api/nodes", "view-tok", ""); code != 200 || !strings.Contains(body, `"n1"`) || !strings.Contains(body, "v-test") {
		t.Fatalf("console nodes: %d %s", code, body)
	}
	good := "- rule: Console pushed\n  desc: x\n  condition: evt.type = openat and fd.name = /etc/x\n  output: x\n  priority: WARNING\n"
	if code, _ := do("POST", "/console/api/rules?name=site.yaml", "view-tok", good); code != http.StatusForbidden {
		t.Fatalf("viewer push through the console: %d", code)
	}
	bad := "- rule: Console broken\n  desc: x\n  condition: evt.type = openat and fd.nam = /etc/x\n  output: x\n  priority: WARNING\n"
	if code, body := do("POST", "/console/api/rules?name=site.yaml", "admin-tok", bad); code == 200 || !strings.Contains(body, "site.yaml:3:") {
		t.Fatalf("broken push through the console: %d %s", code, body)
	}
	if bs, _ := h.Store().Bundles(ctx); len(bs) != 0 {
		t.Fatalf("the broken file was pushed: %+v", bs)
	}
	if code, body := do("POST", "/console/api/rules?name=site.yaml", "admin-tok", good); code != 200 || !strings.Contains(body, "version 1") {
		t.Fatalf("admin push through the console: %d %s", code, body)
	}
}

// TestIncidentFirstFormHeld: an incident's first form (before the after
// window closed) waits for its complete form, which supersedes it, and is
// not sent at all when that comes; one whose complete form does not come
// within the hold is sent alone; the hub stores the latest form of each.
func TestIncidentFirstFormHeld(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, Options{Store: filepath.Join(dir, "hub.db"), NATS: NATSOptions{Name: "hub", StoreDir: filepath.Join(dir, "js")}})
	c, err := fleet.Connect(fleet.Options{URL: h.NATSURL(), Node: "n1", SpoolDir: filepath.Join(dir, "spool"), IncidentHold: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	ev := alert.IncidentEvent{Time: 1, Type: "openat", PID: 1, Comm: "cat", What: "/etc/shadow", Alert: true}
	c.SendIncident(&alert.Incident{UUID: "a", Events: []alert.IncidentEvent{ev}})
	c.SendIncident(&alert.Incident{UUID: "a", Complete: true, Events: []alert.IncidentEvent{ev, ev}})
	c.SendIncident(&alert.Incident{UUID: "b", Events: []alert.IncidentEvent{ev}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, _ := h.Store().Incident(ctx, "a")
		b, _ := h.Store().Incident(ctx, "b")
		if a != nil && b != nil {
			if !strings.Contains(string(a), `"complete":true`) || !strings.Contains(string(b), `"complete":false`) {
				t.Fatalf("stored incidents: a %s, b %s", a, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incidents not stored: a %s, b %s", a, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The stream holds a's complete form and b's first form only.
	nc, err := nats.Connect(h.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, fleet.Stream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"vigil.incident.*"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(10, jetstream.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for m := range b.Messages() {
		ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
	}
	if strings.Join(ids, " ") != "incident:a incident-partial:b" {
		t.Fatalf("incident messages in the stream: %v", ids)
	}
}
