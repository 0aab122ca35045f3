package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/shareddata"
)

// TestScannerExitCodes runs the built binary: every scanner exits 0 when
// clean (or below --fail-on), 1 on error (bad flag, unreadable input) and 3
// when a finding reaches --fail-on; -o writes the report to a file (mode
// 0600) instead of standard output.
func TestScannerExitCodes(t *testing.T) {
	bin := buildVigil(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	status := "Package: libc6\nStatus: install ok installed\nSource: glibc\nVersion: 2.36-9\nArchitecture: amd64\n\n"
	if _, err := it.WriteOCILayout(img, "docker.io/library/debian:latest", it.Config{},
		it.Layer(it.File("etc/os-release", 0o644, []byte("ID=debian\nVERSION_ID=\"12\"\n")),
			it.File("var/lib/dpkg/status", 0o644, []byte(status)),
			it.File("bin/sh", 0o755, []byte("#!"))),
	); err != nil {
		t.Fatal(err)
	}
	// One CRITICAL vulnerability of glibc.
	db := filepath.Join(dir, "osv")
	os.MkdirAll(db, 0o755)
	os.WriteFile(filepath.Join(db, "DEBIAN-CVE-2099-1.json"), []byte(`{"id":"DEBIAN-CVE-2099-1","modified":"2099-01-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"99:1.0-1"}]}]}],
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`), 0o644)
	strict := filepath.Join(dir, "strict.yaml")
	os.WriteFile(strict, []byte("disallowLatest: true\nminimal:\n  forbidShells: true\n"), 0o644)
	lenient := filepath.Join(dir, "lenient.yaml")
	os.WriteFile(lenient, []byte("allowedRegistries: [docker.io/library]\n"), 0o644)
	clean := filepath.Join(dir, "clean.yaml")
	os.WriteFile(clean, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata: {a: b}\n"), 0o644)
	badPolicy := filepath.Join(dir, "bad-policy.yaml")
	os.WriteFile(badPolicy, []byte("name: x\nscope: {host: true}\nnetwork:\n  egress:\n    rules: [{action: drop}]\n"), 0o644)
	goodPolicy := filepath.Join("..", "..", "internal", "policy", "testdata", "web.yaml")
	badRules := filepath.Join("..", "..", "internal", "rules", "testdata", "bad", "unknown_field.yaml")
	falco := shareddata.FalcoRules(t)
	goat := shareddata.KubernetesGoat(t)
	capture := writeCapture(t) // one Warning alert with Falco's rules
	missing := filepath.Join(dir, "missing")
	replay := []string{"replay", "--no-default-rules", "-r", falco, "--hostname", "h1", capture}

	cases := []struct {
		name string
		args []string
		want int
		// out: -o writes this file, which must then hold contains.
		out, contains string
	}{
		{"sbom", []string{"image", "sbom", img, "-f", "spdx"}, exitClean, "sbom.json", `"SPDX-2.3"`},
		{"sbom bad format", []string{"image", "sbom", img, "-f", "xml"}, exitFailed, "", ""},
		{"sbom missing target", []string{"image", "sbom", missing}, exitFailed, "", ""},
		{"scan default never fails", []string{"image", "scan", img, "--db", db}, exitClean, "", ""},
		{"scan critical", []string{"image", "scan", img, "--db", db, "--fail-on", "critical", "-f", "json"}, exitFindings, "scan.json", `"matched_name": "glibc"`},
		{"scan filtered below", []string{"image", "scan", img, "--db", db, "--fail-on", "low", "--severity", "LOW"}, exitClean, "", ""},
		{"scan bad fail-on", []string{"image", "scan", img, "--db", db, "--fail-on", "urgent"}, exitFailed, "", ""},
		{"scan missing db", []string{"image", "scan", img, "--db", missing}, exitFailed, "", ""},
		{"verify violations", []string{"image", "verify", img, "--policy", strict}, exitFindings, "verify.txt", "VIOLATION latest"},
		{"verify fail-on none", []string{"image", "verify", img, "--policy", strict, "--fail-on", "none"}, exitClean, "", ""},
		{"verify trusted", []string{"image", "verify", img, "--policy", lenient, "-f", "json"}, exitClean, "", ""},
		{"verify missing policy", []string{"image", "verify", img, "--policy", missing}, exitFailed, "", ""},
		{"audit critical", []string{"k8s", "audit", goat, "--fail-on", "critical", "-f", "sarif"}, exitFindings, "audit.sarif", `"2.1.0"`},
		{"audit default never fails", []string{"k8s", "audit", goat}, exitClean, "", ""},
		{"audit clean", []string{"k8s", "audit", clean, "--fail-on", "critical"}, exitClean, "", ""},
		{"audit missing", []string{"k8s", "audit", missing}, exitFailed, "", ""},
		{"compliance failing controls", []string{"compliance", "report", "--framework", "cis", "--manifests", goat, "--fail-on", "high", "-f", "json"}, exitFindings, "report.json", `"status": "fail"`},
		{"compliance no evidence", []string{"compliance", "report", "--framework", "cis", "--fail-on", "info"}, exitClean, "", ""},
		{"compliance bad framework", []string{"compliance", "report", "--framework", "nope"}, exitFailed, "", ""},
		{"compliance bad period", []string{"compliance", "report", "--framework", "cis", "--db", missing, "--period", "soon"}, exitFailed, "", ""},
		{"replay warning at medium", append(replay, "--fail-on", "medium"), exitFindings, "alerts.jsonl", `"vigil.count":1`},
		{"replay warning below high", append(replay, "--fail-on", "high", "-f", "text"), exitClean, "alerts.txt", ": Warning "},
		{"replay missing capture", []string{"replay", "--no-default-rules", "-r", falco, missing}, exitFailed, "", ""},
		{"policy valid", []string{"policy", "validate", goodPolicy}, exitClean, "", ""},
		{"policy invalid", []string{"policy", "validate", badPolicy, "-f", "json"}, exitFindings, "policy.json", `action \"drop\"`},
		{"policy invalid fail-on none", []string{"policy", "validate", badPolicy, "--fail-on", "none"}, exitClean, "", ""},
		{"policy missing", []string{"policy", "validate", missing}, exitFailed, "", ""},
		{"rules valid", []string{"rules", "validate", falco}, exitClean, "", ""},
		{"rules invalid", []string{"rules", "validate", falco, badRules, "-f", "json"}, exitFindings, "rules.json", `"line": 5`},
		{"rules missing", []string{"rules", "validate", missing}, exitFailed, "", ""},
		{"rules bad format", []string{"rules", "validate", falco, "-f", "xml"}, exitFailed, "", ""},
	}
	for _, tc := range cases {
		args := tc.args
		var outFile string
		if tc.out != "" {
			outFile = filepath.Join(dir, tc.out)
			args = append(append([]string(nil), args...), "-o", outFile)
		}
		cmd := exec.Command(bin, args...)
		combined, err := cmd.CombinedOutput()
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: vigil %s: exit %d, want %d\n%s", tc.name, strings.Join(args, " "), got, tc.want, combined)
			continue
		}
		if outFile == "" {
			continue
		}
		st, err := os.Stat(outFile)
		if err != nil {
			t.Errorf("%s: -o: %v", tc.name, err)
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: -o file mode %v, want 0600", tc.name, st.Mode().Perm())
		}
		b, _ := os.ReadFile(outFile)
		if !strings.Contains(string(b), tc.contains) {
			t.Errorf("%s: -o file lacks %q:\n%.2000s", tc.name, tc.contains, b)
		}
		if strings.Contains(string(combined), tc.contains) {
			t.Errorf("%s: with -o the report still went to the terminal", tc.name)
		}
		if strings.HasSuffix(tc.out, ".json") && !json.Valid(b) {
			t.Errorf("%s: -o file is not JSON", tc.name)
		}
	}
}
