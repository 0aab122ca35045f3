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

// TestHubConfigFileErrors: `vigil hub --config FILE` reports every problem
// of the file at once, each at its file:line:col with its key (unknown
// keys, values of the wrong kind, a bad log level or address, a token file
// that cannot be read), and a flag given on the command line wins over
// the file's value.
func TestHubConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	body := `listen: 127.0.0.1:8766
log_level: loud
nats:
  replikas: 3
  replicas: 9
  listen: nowhere
tokens:
  viewer_file: ` + filepath.Join(dir, "missing.token") + `
alive_after: soon
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runVigilCmd(t, "hub", "--config", path)
	if err == nil {
		t.Fatal("a broken hub configuration was accepted")
	}
	for _, want := range []string{
		path + ":2:1: log_level: ",
		path + ":4:3: nats.replikas: unknown key",
		path + ":9:1: alive_after: want a duration",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Decoding errors come first, alone; once the file decodes, the
	// checks of its values are placed the same way.
	body = strings.Replace(strings.Replace(strings.Replace(body, "log_level: loud", "log_level: debug", 1), "  replikas: 3\n", "", 1), "alive_after: soon", "alive_after: 1d", 1)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runVigilCmd(t, "hub", "--config", path)
	if err == nil {
		t.Fatal("a hub configuration with bad values was accepted")
	}
	for _, want := range []string{
		path + ":4:3: nats.replicas: 9: want 1 to 5",
		path + ":5:3: nats.listen: \"nowhere\": want host:port",
		path + ":7:3: tokens.viewer_file: api token: open ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Flags given win over the file.
	_, _, err = runVigilCmd(t, "hub", "--config", path, "--replicas", "3", "--nats-listen", "127.0.0.1:0",
		"--viewer-token-file", "", "--data-dir", filepath.Join(dir, "data"), "--listen", "nowhere-too")
	if err == nil || strings.Contains(err.Error(), "replicas") || strings.Contains(err.Error(), "nats.listen") ||
		strings.Contains(err.Error(), "viewer_file") || !strings.Contains(err.Error(), `listen: "nowhere-too": want host:port`) {
		t.Fatalf("flags over the file: %v", err)
	}
}
