package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHubCerts: `vigil hub certs` writes the CA, the hub's and each node's
// certificate and key, 0600, the node's common name its name; it never
// writes over an existing file or a planted symlink; a bad node name is
// refused.
func TestHubCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	out, _, err := runVigilCmd(t, "hub", "certs", "--out", dir, "--hosts", "hub.example,10.0.0.5", "--nodes", "node1,node2")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ca.pem", "ca-key.pem", "hub.pem", "hub-key.pem", "node-node1.pem", "node-node1-key.pem", "node-node2.pem", "node-node2-key.pem"}
	for _, n := range want {
		p := filepath.Join(dir, n)
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", n, st.Mode().Perm())
		}
		if !strings.Contains(out, p) {
			t.Errorf("output does not name %s", p)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "node-node2.pem"))
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || c.Subject.CommonName != "node2" {
		t.Fatalf("node2 certificate: %v %v", c.Subject, err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "hub.pem"))
	blk, _ = pem.Decode(b)
	if c, err = x509.ParseCertificate(blk.Bytes); err != nil || c.VerifyHostname("hub.example") != nil || c.VerifyHostname("10.0.0.5") != nil {
		t.Fatalf("hub certificate names: %v %v %v", c.DNSNames, c.IPAddresses, err)
	}

	// Again into the same directory: nothing is replaced.
	before, _ := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if _, _, err := runVigilCmd(t, "hub", "certs", "--out", dir); err == nil {
		t.Fatal("certs wrote over an existing CA")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca-key.pem")); string(after) != string(before) {
		t.Fatal("the CA key changed")
	}
	// A planted symlink at a name it writes.
	dir2 := filepath.Join(t.TempDir(), "fleet2")
	os.Mkdir(dir2, 0o700)
	victim := plantSymlink(t, dir2, "ca-key.pem")
	if _, _, err := runVigilCmd(t, "hub", "certs", "--out", dir2); err == nil {
		t.Fatal("certs wrote through a planted symlink")
	}
	victimUntouched(t, "hub certs", victim)
	if _, _, err := runVigilCmd(t, "hub", "certs", "--out", t.TempDir(), "--nodes", "bad.name"); err == nil || !strings.Contains(err.Error(), "bad.name") {
		t.Fatalf("bad node name: %v", err)
	}
}
