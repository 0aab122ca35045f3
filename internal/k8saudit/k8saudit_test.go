package k8saudit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/shareddata"
)

// auditRules compiles Falco's k8s_audit_rules.yaml, unmodified.
func auditRules(t testing.TB) *rules.Ruleset {
	t.Helper()
	b, err := os.ReadFile(shareddata.K8sAuditRules(t))
	if err != nil {
		t.Fatal(err)
	}
	prio := rules.PriorityDebug
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &prio}, rules.File{Name: "k8s_audit_rules.yaml", Data: b})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules)+rs.Disabled != 48 {
		t.Fatalf("%d rules, %d disabled", len(rs.Rules), rs.Disabled)
	}
	return rs
}

// testEvent reads testdata/NAME.json, an audit event written for the tests.
func testEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func eventList(items ...[]byte) []byte {
	return []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + string(bytes.Join(items, []byte(","))) + `]}`)
}

// want: the upstream rules each event must fire, with the outputs Falco's
// k8saudit plugin gives (list fields as (a,b), JSON values as JSON text,
// a missing field as <NA>).
var want = map[string][]string{
	"privileged-pod": {
		`Create HostPid Pod: Pod started using host pid namespace (user=mallory pod=evil resource=pods ns=default images=(docker.io/library/busybox:1.36))`,
		`Create Privileged Pod: Pod started with privileged container (user=mallory pod=evil resource=pods ns=default images=(docker.io/library/busybox:1.36) init_images=(alpine:3.20) ephemeral_images=<NA>)`,
		`Disallowed K8s User: K8s Operation performed by user not in allowed list of users (user=mallory target=evil/pods verb=create uri=/api/v1/namespaces/default/pods?fieldManager=kubectl-run resp=201)`,
	},
	"exec-pod": {
		`Attach/Exec Pod: Attach/Exec to pod (user=mallory pod=web-7d4b9c resource=pods ns=default action=exec command=sh)`,
	},
	"attach-pod": {
		`Attach/Exec Pod: Attach/Exec to pod (user=mallory pod=db-0 resource=pods ns=prod action=attach command=<NA>)`,
	},
	"crb-cluster-admin": {
		`Attach to cluster-admin Role: Cluster Role Binding to cluster-admin role (user=mallory subject=({"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory"}))`,
		`Disallowed K8s User: K8s Operation performed by user not in allowed list of users (user=mallory target=backdoor/clusterrolebindings verb=create uri=/apis/rbac.authorization.k8s.io/v1/clusterrolebindings resp=201)`,
		`K8s ClusterRoleBinding Created: K8s ClusterRoleBinding Created (user=mallory binding=backdoor resource=clusterrolebindings subjects=({"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory"}) role=cluster-admin resp=201 decision=allow reason=RBAC: allowed by ClusterRoleBinding "root")`,
	},
	"secret-get": {
		`Disallowed K8s User: K8s Operation performed by user not in allowed list of users (user=mallory target=db-password/secrets verb=get uri=/api/v1/namespaces/prod/secrets/db-password resp=200)`,
		`K8s Secret Get Successfully: K8s Secret Get Successfully (user=mallory secret=db-password ns=prod resource=secrets resp=200 decision=allow reason=RBAC: allowed by RoleBinding "reader/prod")`,
	},
	"benign-list-pods": nil, // a controller listing pods: nothing fires
}

// collector evaluates events on the Run goroutine and keeps what fired.
type collector struct {
	mu   sync.Mutex
	e    *engine.Engine
	got  map[string][]string // by auditID
	evts int
	seen chan struct{} // one per event
}

func newCollector(t testing.TB) *collector {
	return &collector{e: engine.New(auditRules(t), nil), got: map[string][]string{}, seen: make(chan struct{}, 1000)}
}

func (c *collector) handle(ev *event.Event) {
	id := string(ev.Audit.V.GetStringBytes("auditID"))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evts++
	c.e.Evaluate(ev, func(m *engine.Match) {
		if m.Rule.Source != event.SourceK8sAudit {
			panic("rule of source " + m.Rule.Source)
		}
		c.got[id] = append(c.got[id], m.Rule.Name+": "+m.Output)
	})
	select {
	case c.seen <- struct{}{}:
	default:
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evts
}

func auditID(t testing.TB, name string) string {
	var d Decoder
	items, err := d.Check(testEvent(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(items[0].GetStringBytes("auditID"))
}

// server starts a webhook over TLS with a self-signed certificate and
// returns it with a client that trusts the certificate.
func server(t *testing.T, o ServerOptions) (*Server, *http.Client) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	o.Listen = "127.0.0.1:0"
	o.Token = "s3cret"
	o.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return s, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func post(t *testing.T, c *http.Client, s *Server, token string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "https://"+s.Addr()+Path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitEvents waits for n more evaluated events.
func waitEvents(t *testing.T, c *collector, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-c.seen:
		case <-timeout:
			t.Fatalf("%d events evaluated, waited for %d more", c.count(), n)
		}
	}
}

// TestWebhookFiresUpstreamRules posts the test events as one EventList to
// the webhook (TLS, bearer token) and checks that exactly the expected
// upstream rules fire for each, with Falco's outputs.
func TestWebhookFiresUpstreamRules(t *testing.T) {
	c := newCollector(t)
	s, client := server(t, ServerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx, c.handle) }()

	var names []string
	var items [][]byte
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		items = append(items, testEvent(t, n))
	}
	if code := post(t, client, s, "s3cret", eventList(items...)); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	waitEvents(t, c, len(names))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		got := c.got[auditID(t, n)]
		sort.Strings(got)
		if !slices.Equal(got, want[n]) {
			t.Errorf("%s fired:\n  %s\nwant:\n  %s", n, strings.Join(got, "\n  "), strings.Join(want[n], "\n  "))
		}
	}
}

// TestWebhookRefuses: bad token, bad method, malformed batches (nothing of
// a batch with one bad item is evaluated), an oversized body and a full
// queue are refused with their status and counted; nothing is evaluated.
func TestWebhookRefuses(t *testing.T) {
	c := newCollector(t)
	s, client := server(t, ServerOptions{MaxBodyBytes: 64 << 10, QueueSize: 2})
	good := eventList(testEvent(t, "secret-get"))
	cases := []struct {
		name   string
		token  string
		body   []byte
		code   int
		reason string
	}{
		{"no token", "", good, http.StatusUnauthorized, ReasonUnauthorized},
		{"wrong token", "s3creT", good, http.StatusUnauthorized, ReasonUnauthorized},
		{"not JSON", "s3cret", []byte(`{"kind":"EventList","items":[`), http.StatusBadRequest, ReasonMalformed},
		{"not a list", "s3cret", []byte(`{"kind":"PodList","items":[]}`), http.StatusBadRequest, ReasonMalformed},
		{"bad item", "s3cret", eventList(testEvent(t, "secret-get"), []byte(`{"auditID":"x"}`)), http.StatusBadRequest, ReasonMalformed},
		{"items not a list", "s3cret", []byte(`{"kind":"EventList","items":{}}`), http.StatusBadRequest, ReasonMalformed},
		{"too large", "s3cret", eventList(bytes.Repeat(append(testEvent(t, "secret-get"), ','), 200), testEvent(t, "secret-get")), http.StatusRequestEntityTooLarge, ReasonTooLarge},
	}
	for _, tc := range cases {
		if code := post(t, client, s, tc.token, tc.body); code != tc.code {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+s.Addr()+Path, nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	}
	for reason, n := range map[string]uint64{ReasonUnauthorized: 2, ReasonMalformed: 4, ReasonTooLarge: 1, ReasonMethod: 1} {
		if got := s.Rejected(reason); got != n {
			t.Errorf("rejected %s = %d, want %d", reason, got, n)
		}
	}
	// Nobody drains the queue yet: two batches fit, the third gets 429.
	for i, want := range []int{200, 200, 429, 429} {
		if code := post(t, client, s, "s3cret", good); code != want {
			t.Errorf("batch %d: status %d, want %d", i, code, want)
		}
	}
	if s.Rejected(ReasonQueueFull) != 2 {
		t.Errorf("queue_full = %d", s.Rejected(ReasonQueueFull))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx, c.handle) }()
	waitEvents(t, c, 2) // the two queued batches
	// Batches are evaluated in order: once a last one is, any refused batch
	// that had slipped through would have been counted before it.
	if code := post(t, client, s, "s3cret", good); code != 200 {
		t.Fatalf("last batch: %d", code)
	}
	waitEvents(t, c, 1)
	if c.count() != 3 {
		t.Errorf("%d events evaluated, want the 3 accepted", c.count())
	}
}

// TestReadLog reads an audit log (JSON lines, as the log backend writes
// them): every event is evaluated; a malformed line is an error naming it.
func TestReadLog(t *testing.T) {
	c := newCollector(t)
	var log bytes.Buffer
	for _, n := range []string{"privileged-pod", "exec-pod", "crb-cluster-admin"} {
		log.Write(testEvent(t, n))
		log.WriteString("\n\n")
	}
	if !IsLog(log.Bytes()) || IsLog([]byte(`{"type":"openat","time":1}`)) {
		t.Fatal("IsLog")
	}
	if err := ReadLog(context.Background(), bytes.NewReader(log.Bytes()), "audit.log", c.handle); err != nil {
		t.Fatal(err)
	}
	if c.evts != 3 || len(c.got[auditID(t, "crb-cluster-admin")]) != 3 {
		t.Fatalf("%d events, %v", c.evts, c.got)
	}
	log.WriteString("{\"kind\":\"Event\",\"verb\":\n")
	err := ReadLog(context.Background(), bytes.NewReader(log.Bytes()), "audit.log", c.handle)
	if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "audit.log:7: ") {
		t.Fatalf("malformed line: %v", err)
	}
}
