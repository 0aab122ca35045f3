package agent

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/k8saudit"
	"github.com/vigilsec/vigil/internal/shareddata"
)

// TestK8sAuditWebhook: with k8s_audit enabled, `vigil run` serves the audit
// webhook over TLS with a token; a ClusterRoleBinding to cluster-admin
// posted as an EventList fires Falco's upstream rule (k8s_audit_rules.yaml,
// unmodified) as an alert of source k8s_audit in the outputs; a malformed
// batch gets 400 and raises nothing.
func TestK8sAuditWebhook(t *testing.T) {
	s := newSinks(t)
	dir := t.TempDir()
	cfg := s.config(t, shareddata.K8sAuditRules(t))
	cfg.K8sAudit.Enabled = true
	cfg.K8sAudit.CertFile, cfg.K8sAudit.KeyFile = writeCert(t, dir)
	cfg.K8sAudit.TokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(cfg.K8sAudit.TokenFile, []byte("audit-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.K8sAudit.Listen = freeAddr(t)
	runAgent(t, cfg, &Options{Source: &fakeSource{ch: make(chan struct{})}})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the test's own certificate
	post := func(body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, "https://"+cfg.K8sAudit.Listen+k8saudit.Path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer audit-token")
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ev, err := os.ReadFile("../k8saudit/testdata/crb-cluster-admin.json")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "webhook up", func() bool { return post([]byte(`{"kind":"EventList","items":[]}`)) == http.StatusOK })
	if code := post([]byte(`{"kind":"EventList","items":[` + string(bytes.TrimSpace(ev)) + `,{"verb":1}]}`)); code != http.StatusBadRequest {
		t.Fatalf("malformed batch: %d", code)
	}
	if code := post([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + string(bytes.TrimSpace(ev)) + `]}`)); code != http.StatusOK {
		t.Fatalf("batch: %d", code)
	}
	waitFor(t, "k8s audit alert", func() bool { return countRule(fileAlerts(s.file), "Attach to cluster-admin Role") == 1 })
	for _, x := range fileAlerts(s.file) {
		if x["rule"] != "Attach to cluster-admin Role" {
			continue
		}
		want := `Cluster Role Binding to cluster-admin role (user=mallory subject=({"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"mallory"}))`
		if x["source"] != "k8s_audit" || x["priority"] != "Warning" || !bytes.HasSuffix([]byte(x["output"].(string)), []byte(want)) {
			t.Errorf("alert %v", x)
		}
		if of := x["output_fields"].(map[string]any); of["ka.user.name"] != "mallory" {
			t.Errorf("output_fields %v", of)
		}
	}
	// The malformed batch held the same event: had any of it been
	// evaluated, the rule would have fired twice.
	if n := countRule(fileAlerts(s.file), "Attach to cluster-admin Role"); n != 1 {
		t.Errorf("%d alerts", n)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
