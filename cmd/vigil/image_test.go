package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/containertest"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/testkernel"
)

func runVigil(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String() + errb.String(), err
}

// TestImageCommands runs sbom → scan (image and SBOM) → verify → db import
// end to end on an image built from the host's real libc6 dpkg entry.
func TestImageCommands(t *testing.T) {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		testkernel.Skip(t, "not a Debian host")
	}
	var libc string
	for _, para := range strings.Split(string(status), "\n\n") {
		if strings.HasPrefix(para, "Package: libc6\n") {
			libc = para + "\n"
		}
	}
	if libc == "" {
		testkernel.Skip(t, "libc6 not installed")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	if _, err := it.WriteOCILayout(img, "docker.io/library/debian:latest", it.Config{},
		it.Layer(it.File("etc/os-release", 0o644, []byte("ID=debian\nVERSION_ID=\"12\"\n")),
			it.File("var/lib/dpkg/status", 0o644, []byte(libc)),
			it.File("bin/sh", 0o755, []byte("#!"))),
	); err != nil {
		t.Fatal(err)
	}
	// A record that affects every glibc below a version far in the future.
	osv := filepath.Join(dir, "osv")
	os.MkdirAll(osv, 0o755)
	os.WriteFile(filepath.Join(osv, "DEBIAN-CVE-2099-1.json"), []byte(`{"id":"DEBIAN-CVE-2099-1","modified":"2099-01-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"99:1.0-1"}]}]}],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`), 0o644)
	db := filepath.Join(dir, "db")
	if out, err := runVigil(t, "db", "import", osv, "--db", db); err != nil || !strings.Contains(out, "imported 1 records") {
		t.Fatalf("db import: %v\n%s", err, out)
	}

	sbomFile := filepath.Join(dir, "sbom.json")
	if out, err := runVigil(t, "image", "sbom", img, "--format", "spdx", "-o", sbomFile); err != nil {
		t.Fatalf("sbom: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(sbomFile)
	if !bytes.Contains(b, []byte(`"spdxVersion": "SPDX-2.3"`)) || !bytes.Contains(b, []byte("pkg:deb/debian/libc6@")) {
		t.Fatalf("sbom output:\n%s", b)
	}

	for _, target := range []string{img, sbomFile} {
		out, err := runVigil(t, "image", "scan", target, "--db", db, "--exit-code", "3")
		if exitCode(err) != 3 || !strings.Contains(out, "DEBIAN-CVE-2099-1") || !strings.Contains(out, "libc6 (glibc)") || !strings.Contains(out, "CRITICAL") || !strings.Contains(out, "99:1.0-1") {
			t.Errorf("scan %s: exit %d (%v)\n%s", target, exitCode(err), err, out)
		}
	}
	out, err := runVigil(t, "image", "scan", img, "--db", db, "--severity", "LOW", "--exit-code", "3", "--json")
	var rep struct {
		Findings []any `json:"findings"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Findings) != 0 {
		t.Errorf("severity filter: %v\n%s", err, out)
	}

	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("allowedRegistries: [docker.io/library]\ndisallowLatest: true\nrequireNonRoot: true\nminimal:\n  forbidShells: true\n"), 0o644)
	out, err = runVigil(t, "image", "verify", img, "--policy", pol)
	if exitCode(err) != 2 || !strings.Contains(out, "VIOLATION latest") || !strings.Contains(out, "VIOLATION non-root") || !strings.Contains(out, "VIOLATION shell") {
		t.Errorf("verify: exit %d\n%s", exitCode(err), out)
	}
	os.WriteFile(pol, []byte("allowedRegistries: [docker.io/library]\n"), 0o644)
	if out, err := runVigil(t, "image", "verify", img, "--policy", pol); err != nil {
		t.Errorf("verify (lenient policy): %v\n%s", err, out)
	}
	os.WriteFile(pol, []byte("allowedRegistry: [x]\n"), 0o644)
	if _, err := runVigil(t, "image", "verify", img, "--policy", pol); err == nil || !strings.Contains(err.Error(), "policy.yaml:1:1: unknown field") {
		t.Errorf("bad policy: %v", err)
	}
}

// TestImageScanRunning scans the images of running containerd containers
// (needs root and containerd: gated by containertest).
func TestImageScanRunning(t *testing.T) {
	env := containertest.New(t)
	env.Run(t, containertest.Spec{})
	osv := t.TempDir()
	os.WriteFile(filepath.Join(osv, "GO-1.json"), []byte(`{"id":"GO-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
	out, err := runVigil(t, "image", "scan", "--running", "--namespace", env.Namespace, "--db", osv)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "containerd://" + env.ImageName + " (namespace " + env.Namespace + ")"; !strings.Contains(out, want) {
		t.Errorf("output does not list %s:\n%s", want, out)
	}
}
