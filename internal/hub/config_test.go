package hub

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHubConfigFile: a hub configured by a file (the example of
// docs/fleet.md's shape: addresses, data directory, TLS files, token
// files) runs: its NATS is mutual TLS, its API HTTPS with the file's
// tokens.
func TestHubConfigFile(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "fleet")
	if _, err := GenerateCerts(CertsOptions{Dir: certs}); err != nil {
		t.Fatal(err)
	}
	for n, tok := range map[string]string{"viewer.token": "file-viewer-token\n", "admin.token": "file-admin-token\n"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "hub.yaml")
	body := strings.ReplaceAll(`# vigil hub --config hub.yaml
listen: 127.0.0.1:0
data_dir: DIR/data
log_level: warn
alive_after: 1m
nats:
  listen: 127.0.0.1:0
  server_name: hub-1
  replicas: 1
tls:
  ca_file: DIR/fleet/ca.pem
  cert_file: DIR/fleet/hub.pem
  key_file: DIR/fleet/hub-key.pem
tokens:
  viewer_file: DIR/viewer.token
  admin_file: DIR/admin.token
`, "DIR", dir)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, pos, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	o, warns, err := c.Options(pos, nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("options: %v %v", err, warns)
	}
	if o.Store != filepath.Join(dir, "data", "hub.db") || o.NATS.Name != "hub-1" || o.ViewerToken != "file-viewer-token" ||
		o.AdminToken != "file-admin-token" || o.NATS.TLS == nil || o.ClientTLS == nil || o.APITLS == nil {
		t.Fatalf("options from the file: %+v", o)
	}
	h := startHub(t, o)
	if !strings.HasPrefix(h.NATSURL(), "tls://") {
		t.Fatalf("NATS URL %s", h.NATSURL())
	}
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(filepath.Join(certs, "ca.pem"))
	pool.AppendCertsFromPEM(b)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	for tok, want := range map[string]int{"file-admin-token": 200, "file-viewer-token": 200, "": 401} {
		req, _ := http.NewRequest("GET", "https://"+h.Addr()+"/api/nodes", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: %d, want %d", tok, resp.StatusCode, want)
		}
	}
}
