package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/vigilsec/vigil/internal/fleet"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestHubTLSClusterAndHTTPS: with the files of `vigil hub certs`, a
// three-server NATS cluster whose client connections and routes are all
// mutual TLS forms (routes verified against the fleet's CA), the hub
// connects to it as itself, a node with its certificate publishes and the
// hub stores its alerts; the API and the console are served over HTTPS
// only (plain HTTP is refused) and still need their token.
func TestHubTLSClusterAndHTTPS(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if _, err := GenerateCerts(CertsOptions{Dir: certs, Nodes: []string{"n1"}}); err != nil {
		t.Fatal(err)
	}
	f := func(n string) string { return filepath.Join(certs, n) }
	o := Options{Store: filepath.Join(dir, "hub.db"), Listen: "127.0.0.1:0", ViewerToken: "view-tok", AdminToken: "admin-tok",
		Stream: StreamOptions{Replicas: 3}}
	if err := o.UseTLS(f("ca.pem"), f("hub.pem"), f("hub-key.pem")); err != nil {
		t.Fatal(err)
	}

	// Three servers, clients and routes on mutual TLS.
	var clientAddrs, routes []string
	var opts []NATSOptions
	for i := range 3 {
		ca := freeAddr(t)
		opts = append(opts, NATSOptions{Name: fmt.Sprint("tls-", i), Listen: freeAddr(t), StoreDir: filepath.Join(dir, fmt.Sprint("js", i)),
			TLS: o.NATS.TLS, ClusterName: "vigil", ClusterListen: ca})
		routes = append(routes, "nats://"+ca)
	}
	srvs := make([]*server.Server, 3)
	var wg sync.WaitGroup
	for i := range opts {
		opts[i].Routes = routes
		clientAddrs = append(clientAddrs, "tls://"+opts[i].Listen)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := StartNATS(opts[i])
			if err != nil {
				t.Error(err)
				return
			}
			srvs[i] = s
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range srvs {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range srvs {
		for s.NumRoutes() < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d routes after 10s, want 2 (TLS routes between the servers not formed)", s.Name(), s.NumRoutes())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	url := strings.Join(clientAddrs, ",")
	o.NATSURL = url
	h := startHub(t, o)

	n1TLS, err := fleet.ClientTLS(f("ca.pem"), f("node-n1.pem"), f("node-n1-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := fleet.Connect(fleet.Options{URL: url, Node: "n1", SpoolDir: filepath.Join(dir, "spool"), TLS: n1TLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	a0 := newAlert("n1", 0)
	c.Output().Write(ctx, a0)
	for i := 1; i < 20; i++ {
		c.Output().Write(ctx, newAlert("n1", i))
	}
	waitCount(t, h.Store(), 20, 20*time.Second)

	// The API and the console over HTTPS, verified against the fleet's CA.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(f("ca.pem"))
	pool.AppendCertsFromPEM(b)
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	do := func(cl *http.Client, method, u, tok, body string) (int, string, *http.Response) {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("X-Vigil-Console", "1")
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err.Error(), nil
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String(), resp
	}
	https := "https://" + h.Addr()
	for _, p := range []string{"/api/alerts", "/console/api/alerts"} {
		if code, body, _ := do(httpsClient, "GET", https+p, "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s over HTTPS without a token: %d %s", p, code, body)
		}
		if code, body, _ := do(httpsClient, "GET", https+p, "view-tok", ""); code != 200 || !strings.Contains(body, a0.UUID) {
			t.Errorf("GET %s over HTTPS with the viewer token: %d %.200s", p, code, body)
		}
		// Plain HTTP to the same port is refused, the token or not.
		if code, body, _ := do(http.DefaultClient, "GET", "http://"+h.Addr()+p, "view-tok", ""); code == 200 || strings.Contains(body, a0.UUID) {
			t.Errorf("GET %s over plain HTTP: %d %.200s", p, code, body)
		}
	}
	if code, body, resp := do(httpsClient, "POST", https+"/console/api/login", "", `{"token":"view-tok"}`); code != 200 || resp == nil {
		t.Errorf("console login over HTTPS: %d %s", code, body)
	} else if cs := resp.Cookies(); len(cs) == 0 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Errorf("console session cookie over HTTPS: %+v", cs)
	}
	if code, body, _ := do(httpsClient, "POST", https+"/console/api/rules?name=site.yaml", "view-tok", "- list: x\n  items: []\n"); code != http.StatusForbidden {
		t.Errorf("viewer push over HTTPS: %d %s", code, body)
	}
}
