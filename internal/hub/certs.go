package hub

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/safefile"
)

// CertsOptions say what GenerateCerts makes.
type CertsOptions struct {
	// Dir receives the files (created 0700); none of them may exist.
	Dir string
	// Hosts are the hub's DNS names and IP addresses (its certificate's
	// subject alternative names); nodes and browsers verify them.
	Hosts []string
	// Nodes get one client certificate each, common name the node name.
	Nodes []string
	// Valid is the certificates' lifetime; 0 means one year.
	Valid time.Duration
}

// GenerateCerts makes a CA (ca.pem, ca-key.pem), the hub's certificate
// (hub.pem, hub-key.pem: common name HubIdentity, server and client use)
// and one client certificate per node (node-NAME.pem, node-NAME-key.pem).
// Every file is created 0600 and never over an existing name or symlink.
// It returns the paths written.
func GenerateCerts(o CertsOptions) ([]string, error) {
	if o.Valid <= 0 {
		o.Valid = 365 * 24 * time.Hour
	}
	for _, n := range o.Nodes {
		if n == "" || fleet.NodeName(n) != n || n == HubIdentity {
			return nil, fmt.Errorf("certs: node name %q: want letters, digits, '-' and '_' only, not %q", n, HubIdentity)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "vigil fleet CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(o.Valid), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	var written []string
	write := func(name string, blocks ...*pem.Block) error {
		p := filepath.Join(o.Dir, name)
		f, err := safefile.CreateNew(p, 0o600)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		for _, b := range blocks {
			if err := pem.Encode(f, b); err != nil {
				f.Close()
				return fmt.Errorf("certs: %s: %w", p, err)
			}
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("certs: %s: %w", p, err)
		}
		written = append(written, p)
		return nil
	}
	keyBlock := func(k *ecdsa.PrivateKey) *pem.Block {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	if err := write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: caDER}); err != nil {
		return written, err
	}
	if err := write("ca-key.pem", keyBlock(caKey)); err != nil {
		return written, err
	}
	issue := func(base, cn string, hosts []string, usage []x509.ExtKeyUsage) error {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		t := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(o.Valid), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				t.IPAddresses = append(t.IPAddresses, ip)
			} else {
				t.DNSNames = append(t.DNSNames, h)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, t, ca, &k.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := write(base+".pem", &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
			return err
		}
		return write(base+"-key.pem", keyBlock(k))
	}
	hosts := o.Hosts
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if err := issue("hub", HubIdentity, hosts, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}); err != nil {
		return written, err
	}
	for _, n := range o.Nodes {
		if err := issue("node-"+n, n, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}); err != nil {
			return written, err
		}
	}
	return written, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// ServerTLS is the TLS of the hub's NATS listeners (clients and cluster
// routes): its certificate, and client certificates of the CA required
// (mutual TLS). The CA is also the one a route this server dials must
// present (a cluster route is a TLS client too).
func ServerTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	c, err := fleet.ClientTLS(caFile, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.ClientCAs = c.RootCAs
	c.ClientAuth = tls.RequireAndVerifyClientCert
	return c, nil
}

// UseTLS sets the hub's three TLS configurations from the files `vigil hub
// certs` made (the CA, the hub's certificate and key): the embedded NATS
// server's listeners (mutual TLS, clients identified by their certificate,
// see StartNATS), the hub's own NATS connection (as HubIdentity), and the
// HTTP API and console (HTTPS; browsers and API clients present no
// certificate, their token is their credential).
func (o *Options) UseTLS(caFile, certFile, keyFile string) error {
	stls, err := ServerTLS(caFile, certFile, keyFile)
	if err != nil {
		return err
	}
	ctls, err := fleet.ClientTLS(caFile, certFile, keyFile)
	if err != nil {
		return err
	}
	api := stls.Clone()
	api.ClientAuth, api.ClientCAs = tls.NoClientCert, nil
	o.NATS.TLS, o.ClientTLS, o.APITLS = stls, ctls, api
	return nil
}
