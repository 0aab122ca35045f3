package output

import (
	"context"
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
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func makeCert(t *testing.T, cn string, parent *testCert, isCA bool, usage x509.ExtKeyUsage) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCert{cert: c, key: key, der: der}
}

func writePEM(t *testing.T, dir, name string, c *testCert) (certPath, keyPath string) {
	t.Helper()
	certPath = filepath.Join(dir, name+".pem")
	keyPath = filepath.Join(dir, name+".key")
	kb, _ := x509.MarshalECPrivateKey(c.key)
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// TestHTTPMutualTLS: a server that requires a client certificate accepts
// the output only with cert_file/key_file, verifying it with ca_file.
func TestHTTPMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := makeCert(t, "vigil test CA", nil, true, 0)
	srvCert := makeCert(t, "127.0.0.1", ca, false, x509.ExtKeyUsageServerAuth)
	cliCert := makeCert(t, "vigil agent", ca, false, x509.ExtKeyUsageClientAuth)
	caPath, _ := writePEM(t, dir, "ca", ca)
	cliPath, cliKey := writePEM(t, dir, "client", cliCert)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	var rc receiver
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "vigil agent" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		rc.handler(w, r)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.der}, PrivateKey: srvCert.key}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}
	srv.StartTLS()
	defer srv.Close()

	noCert, err := NewHTTP(HTTPOptions{URL: srv.URL, TLS: TLSOptions{CAFile: caPath}})
	if err != nil {
		t.Fatal(err)
	}
	if err := noCert.Write(context.Background(), testAlert(1)); err == nil {
		t.Fatal("accepted without a client certificate")
	}
	h, err := NewHTTP(HTTPOptions{URL: srv.URL, TLS: TLSOptions{CAFile: caPath, CertFile: cliPath, KeyFile: cliKey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Write(context.Background(), testAlert(1)); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if rc.count() != 1 {
		t.Fatalf("%d requests", rc.count())
	}
	checkFalcoShape(t, rc.bodies[0])
	if _, err := NewHTTP(HTTPOptions{URL: srv.URL, TLS: TLSOptions{CertFile: cliPath, KeyFile: caPath}}); err == nil {
		t.Fatal("mismatched key accepted")
	}
}
