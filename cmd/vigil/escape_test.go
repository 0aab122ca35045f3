package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostile is a name as an image, package or manifest can carry it: a
// terminal sequence (clear screen), a tab and a newline that would forge a
// table row.
const hostile = "evil\x1b[2J\tFORGED\nFORGEDROW"

// assertNoControls fails when out holds a terminal escape or a line
// starting with the forged row.
func assertNoControls(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, "\x1b") {
		t.Errorf("%s: terminal escape in the output:\n%q", what, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FORGEDROW") {
			t.Errorf("%s: a value forged a line: %q", what, l)
		}
	}
	if !strings.Contains(out, `evil\x1b[2J\tFORGED\nFORGEDROW`) {
		t.Errorf("%s: the hostile name is not shown escaped:\n%s", what, out)
	}
}

// TestTablesEscapeControlCharacters: names from manifests and images are
// printed with their control characters escaped in the tables of `k8s
// audit` and `image scan`.
func TestTablesEscapeControlCharacters(t *testing.T) {
	dir := t.TempDir()
	esc := strings.NewReplacer("\x1b", `\e`, "\t", `\t`, "\n", `\n`).Replace(hostile)
	pod := filepath.Join(dir, "pod.yaml")
	os.WriteFile(pod, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: \""+esc+"\"\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: x\n    securityContext: {privileged: true}\n"), 0o644)
	out, _ := runVigil(t, "k8s", "audit", pod)
	assertNoControls(t, "k8s audit", out)

	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.MkdirAll(filepath.Join(rootfs, "var/lib/dpkg"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "var/lib/dpkg/status"), []byte("Package: "+strings.ReplaceAll(hostile, "\n", "")+"\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"), 0o644)
	osv := filepath.Join(dir, "osv")
	os.MkdirAll(osv, 0o755)
	jsonName := strings.NewReplacer("\x1b", `\u001b`, "\t", `\t`, "\n", "").Replace(hostile)
	os.WriteFile(filepath.Join(osv, "DEBIAN-CVE-2099-2.json"), []byte(`{"id":"DEBIAN-CVE-2099-2","affected":[{"package":{"ecosystem":"Debian:12","name":"`+jsonName+`"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`), 0o644)
	db := filepath.Join(dir, "db")
	if out, err := runVigil(t, "db", "import", osv, "--db", db); err != nil {
		t.Fatalf("db import: %v\n%s", err, out)
	}
	out, _ = runVigil(t, "image", "scan", rootfs, "--db", db)
	if !strings.Contains(out, "DEBIAN-CVE-2099-2") {
		t.Fatalf("image scan did not find the record:\n%s", out)
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\tFORGED") {
		t.Errorf("image scan: control characters in the table:\n%q", out)
	}
}

// TestRulesOutputEscapesControlCharacters: a rules file from elsewhere
// cannot put terminal sequences in `vigil rules list` and `validate`.
func TestRulesOutputEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	broken, fine := filepath.Join(dir, "broken.yaml"), filepath.Join(dir, "fine.yaml")
	os.WriteFile(broken, []byte("- rule: \"evil\\e[2J\"\n  desc: d\n  condition: evt.type = open and nope.field = 1\n  output: o\n  priority: INFO\n"), 0o644)
	os.WriteFile(fine, []byte("- rule: \"fine\\e[2J\"\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"), 0o644)
	for _, args := range [][]string{{"rules", "validate", broken}, {"rules", "list", "--no-default-rules", "-r", fine}} {
		out, _ := runVigil(t, args...)
		if strings.Contains(out, "\x1b") || !strings.Contains(out, `\x1b[2J`) {
			t.Errorf("%v: control characters not escaped:\n%q", args, out)
		}
	}
}
