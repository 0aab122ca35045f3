package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
		out, err := runVigil(t, "image", "scan", target, "--db", db, "--fail-on", "info")
		if exitCode(err) != 3 || !strings.Contains(out, "DEBIAN-CVE-2099-1") || !strings.Contains(out, "libc6 (glibc)") || !strings.Contains(out, "CRITICAL") || !strings.Contains(out, "99:1.0-1") {
			t.Errorf("scan %s: exit %d (%v)\n%s", target, exitCode(err), err, out)
		}
	}
	out, err := runVigil(t, "image", "scan", img, "--db", db, "--severity", "LOW", "--fail-on", "info", "--json")
	var rep struct {
		Findings []any `json:"findings"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Findings) != 0 {
		t.Errorf("severity filter: %v\n%s", err, out)
	}

	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("allowedRegistries: [docker.io/library]\ndisallowLatest: true\nrequireNonRoot: true\nminimal:\n  forbidShells: true\n"), 0o644)
	out, err = runVigil(t, "image", "verify", img, "--policy", pol)
	if exitCode(err) != 3 || !strings.Contains(out, "VIOLATION latest") || !strings.Contains(out, "VIOLATION non-root") || !strings.Contains(out, "VIOLATION shell") {
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
	sum := sha256.Sum256([]byte("vigil running env test, not a credential"))
	fake := "AKIA" + base32.StdEncoding.EncodeToString(sum[:])[:16]
	env.Run(t, containertest.Spec{Env: []string{"PATH=/bin", "AWS_ACCESS_KEY_ID=" + fake, "CONFIG_FILE=/etc/app/secret_key"}})
	osv := t.TempDir()
	os.WriteFile(filepath.Join(osv, "GO-1.json"), []byte(`{"id":"GO-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
	out, err := runVigil(t, "image", "scan", "--running", "--namespace", env.Namespace, "--db", osv)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "containerd://" + env.ImageName + " (namespace " + env.Namespace + ")"; !strings.Contains(out, want) {
		t.Errorf("output does not list %s:\n%s", want, out)
	}
	// Item 8: the running container's environment is scanned for secrets.
	out, err = runVigil(t, "image", "scan", "--running", "--namespace", env.Namespace, "--db", osv, "--secrets")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "aws-access-key-id") || !strings.Contains(out, "AWS_ACCESS_KEY_ID=AKIA********") ||
		!strings.Contains(out, "container "+env.Namespace+"/") || strings.Contains(out, fake[4:]) || strings.Contains(out, "CONFIG_FILE") {
		t.Errorf("running environment secrets:\n%s", out)
	}
}

// Items 2, 5 and 6 end to end: a third-party (Trivy-style) CycloneDX SBOM
// whose epochs live in the purl qualifier and in Src* properties; a Go
// record rated through its GHSA alias; a severity filter that says what
// it hid; db import of a non-JSON file; an unreadable record in a folder;
// an empty database.
func TestImageScanThirdPartySBOM(t *testing.T) {
	dir := t.TempDir()
	osv := filepath.Join(dir, "osv")
	os.MkdirAll(osv, 0o755)
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(osv, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Fixed before the installed 1:2.3-4: only a version without its epoch
	// (2.3-4 < 1:2.3-2) would look affected.
	write("DEBIAN-CVE-2031-1.json", `{"id":"DEBIAN-CVE-2031-1","affected":[{"package":{"ecosystem":"Debian:12","name":"examplesrc"},
	  "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:2.3-2"}]}]}]}`)
	write("DEBIAN-CVE-2031-2.json", `{"id":"DEBIAN-CVE-2031-2","affected":[{"package":{"ecosystem":"Debian:12","name":"examplesrc"},
	  "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:2.3-5"}]}]}],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`)
	write("DEBIAN-CVE-2031-3.json", `{"id":"DEBIAN-CVE-2031-3","affected":[{"package":{"ecosystem":"Debian:12","name":"otherlib"},
	  "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2:1.0-1"}]}]}]}`)
	write("GO-2031-0001.json", `{"id":"GO-2031-0001","aliases":["GHSA-wxyz-wxyz-wxyz"],"affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},
	  "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.0"}]}]}]}`)
	write("GHSA-wxyz-wxyz-wxyz.json", `{"id":"GHSA-wxyz-wxyz-wxyz","aliases":["CVE-2031-9"],"affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},
	  "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.0"}]}]}],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]}`)
	write("GO-2031-0002.json", `{"id":"GO-2031-0002","affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},
	  "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`)
	db := filepath.Join(dir, "db")
	if out, err := runVigil(t, "db", "import", osv, "--db", db); err != nil || !strings.Contains(out, "imported 6 records") {
		t.Fatalf("db import: %v\n%s", err, out)
	}
	bom := filepath.Join(dir, "trivy.cdx.json")
	os.WriteFile(bom, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,
	 "metadata":{"component":{"type":"container","name":"example:1"}},
	 "components":[
	  {"type":"operating-system","name":"debian","version":"12.5"},
	  {"type":"library","name":"examplelib","version":"2.3-4","purl":"pkg:deb/debian/examplelib@2.3-4?arch=amd64&distro=debian-12.5&epoch=1",
	   "properties":[{"name":"aquasecurity:trivy:SrcName","value":"examplesrc"},{"name":"aquasecurity:trivy:SrcVersion","value":"2.3"},
	    {"name":"aquasecurity:trivy:SrcRelease","value":"4"},{"name":"aquasecurity:trivy:SrcEpoch","value":"1"}]},
	  {"type":"library","name":"otherlib","version":"1.5-1","purl":"pkg:deb/debian/otherlib@1.5-1?distro=debian-12.5&epoch=2"},
	  {"type":"library","name":"example.com/lib","version":"v1.0.0","purl":"pkg:golang/example.com/lib@v1.0.0"}]}`), 0o644)
	out, err := runVigil(t, "image", "scan", bom, "--db", db, "--json")
	var rep struct {
		Findings []struct {
			ID       string   `json:"id"`
			Aliases  []string `json:"aliases"`
			Severity string   `json:"severity"`
		} `json:"findings"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		got[f.ID] = f.Severity + " " + strings.Join(f.Aliases, ",")
	}
	want := map[string]string{
		"DEBIAN-CVE-2031-2": "CRITICAL ",
		"GO-2031-0001":      "HIGH CVE-2031-9,GHSA-wxyz-wxyz-wxyz",
		"GO-2031-0002":      "UNKNOWN ",
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v (no false positive from a missing epoch)", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	out, err = runVigil(t, "image", "scan", bom, "--db", db, "--severity", "HIGH,CRITICAL", "--fail-on", "info")
	if exitCode(err) != 3 || !strings.Contains(out, "2 vulnerabilities") || !strings.Contains(out, "1 findings of UNKNOWN severity hidden by --severity") {
		t.Errorf("filtered scan: exit %d\n%s", exitCode(err), out)
	}

	// db import of a file that is not JSON fails and keeps the database.
	junk := filepath.Join(dir, "notes.txt")
	os.WriteFile(junk, []byte("these are not OSV records\n"), 0o644)
	if out, err := runVigil(t, "db", "import", junk, "--db", db); err == nil || !strings.Contains(err.Error(), "no OSV record could be read") {
		t.Errorf("import of a non-JSON file: %v\n%s", err, out)
	}
	if out, err := runVigil(t, "db", "info", "--db", db); err != nil || !strings.Contains(out, "6 records") {
		t.Errorf("database after the failed import: %v\n%s", err, out)
	}
	// A folder with an unreadable record: counted and reported.
	write("broken.json", `{"id": "DEBIAN-CVE-2031-4", "affected": [`)
	out, err = runVigil(t, "image", "scan", bom, "--db", osv)
	if err != nil || !strings.Contains(out, "warning: 1 unparsable OSV records in "+osv) || !strings.Contains(out, "broken.json") {
		t.Errorf("raw folder with a broken record: %v\n%s", err, out)
	}
	// An empty imported database warns.
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	os.WriteFile(filepath.Join(empty, "records.jsonl"), nil, 0o600)
	os.WriteFile(filepath.Join(empty, "index.tsv"), []byte("#records\t0\n"), 0o600)
	if out, err := runVigil(t, "image", "scan", bom, "--db", empty); err != nil || !strings.Contains(out, "holds no records") {
		t.Errorf("empty database: %v\n%s", err, out)
	}
}

// Item 8 end to end: vigil image scan --secrets reports the secrets of the
// image's layers and config with layer, path, line and a redacted preview,
// never the secret; --secret-rules extends the rules.
func TestImageScanSecrets(t *testing.T) {
	sum := sha256.Sum256([]byte("vigil test key, not a credential"))
	fake := "AKIA" + base32.StdEncoding.EncodeToString(sum[:])[:16] // AWS key shape
	token := "acme_" + hex.EncodeToString(sum[:12])
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	if _, err := it.WriteOCILayout(img, "example.com/app:1", it.Config{Env: []string{"AWS_ACCESS_KEY_ID=" + fake}},
		it.Layer(it.File("etc/os-release", 0o644, []byte("ID=debian\nVERSION_ID=\"12\"\n")),
			it.File("app/.env", 0o600, []byte("# app settings\nSECRET_KEY_FILE=/etc/secret_key\nAWS_ACCESS_KEY_ID="+fake+"\nACME="+token+"\n"))),
	); err != nil {
		t.Fatal(err)
	}
	osv := filepath.Join(dir, "osv")
	os.MkdirAll(osv, 0o755)
	os.WriteFile(filepath.Join(osv, "X.json"), []byte(`{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"x"},"versions":["1"]}]}`), 0o644)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("rules:\n  - id: acme-token\n    keywords: [acme_]\n    regex: '\\b(acme_[0-9a-f]{24})\\b'\n"), 0o644)

	out, err := runVigil(t, "image", "scan", img, "--db", osv, "--secrets", "--json")
	var rep struct {
		Secrets []struct {
			Rule, Source, Layer, Path, Preview string
			Line                               int
		} `json:"secrets"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("scan --secrets: %v\n%s", err, out)
	}
	if strings.Contains(out, fake[4:]) || strings.Contains(out, token[8:]) {
		t.Errorf("output shows a secret:\n%s", out)
	}
	var got []string
	for _, s := range rep.Secrets {
		got = append(got, fmt.Sprintf("%s %s %s:%d %s", s.Rule, s.Source, s.Path, s.Line, s.Preview))
		if s.Source == "layer" && !strings.HasPrefix(s.Layer, "sha256:") {
			t.Errorf("no layer digest: %+v", s)
		}
	}
	want := []string{"aws-access-key-id config config.Env[0]:1 AWS_ACCESS_KEY_ID=AKIA********",
		"aws-access-key-id layer /app/.env:3 AWS_ACCESS_KEY_ID=AKIA********"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("secrets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out, err = runVigil(t, "image", "scan", img, "--db", osv, "--secret-rules", rules, "--fail-on", "info")
	if exitCode(err) != 3 || !strings.Contains(out, "3 secrets") || !strings.Contains(out, "acme-token") || strings.Contains(out, token[8:]) {
		t.Errorf("scan --secret-rules: exit %d\n%s", exitCode(err), out)
	}
	os.WriteFile(rules, []byte("rules:\n  - id: bad\n    regex: '(a'\n    keywords: [a]\n"), 0o644)
	if _, err := runVigil(t, "image", "scan", img, "--db", osv, "--secret-rules", rules); err == nil || !strings.Contains(err.Error(), "rules.yaml:2:5") {
		t.Errorf("bad rules file: %v", err)
	}
}
