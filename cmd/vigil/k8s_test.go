package main

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
)

func TestK8sAuditCommand(t *testing.T) {
	dir := shareddata.KubernetesGoat(t)
	out, err := runVigil(t, "k8s", "audit", "--fail-on", "critical", dir)
	if err == nil || exitCode(err) != 3 {
		t.Fatalf("--fail-on critical: err %v (exit %d), want exit 3", err, exitCode(err))
	}
	if !strings.Contains(out, "VGL-RBAC-001") || !strings.Contains(out, "ClusterRoleBinding/superadmin") {
		t.Errorf("table lacks the cluster-admin finding:\n%s", out)
	}
	if _, err := runVigil(t, "k8s", "audit", "--fail-on", "urgent", dir); err == nil || exitCode(err) == 3 {
		t.Errorf("bad --fail-on accepted: %v", err)
	}
	out, err = runVigil(t, "k8s", "audit", "-f", "json", dir)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Findings []struct {
			CheckID  string   `json:"check_id"`
			Controls []string `json:"controls"`
			Field    string   `json:"field"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range rep.Findings {
		if f.CheckID == "VGL-RBAC-001" {
			found = strings.Contains(strings.Join(f.Controls, " "), "cis-k8s:5.1.1")
		}
	}
	if !found {
		t.Error("JSON finding VGL-RBAC-001 lacks its control cis-k8s:5.1.1")
	}
	out, err = runVigil(t, "k8s", "audit", "-f", "sarif", "--allowed-registries", "docker.io/aquasec", dir)
	if err != nil || !strings.Contains(out, `"version": "2.1.0"`) || !strings.Contains(out, "VGL-WL-036") {
		t.Errorf("sarif with registry allow-list: err %v", err)
	}
	// --sarif-base: URIs relative to it, the base in originalUriBaseIds.
	out, err = runVigil(t, "k8s", "audit", "-f", "sarif", "--sarif-base", dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"uri": "scenarios/system-monitor/deployment.yaml"`) || !strings.Contains(out, `"uriBaseId": "SRCROOT"`) ||
		!strings.Contains(out, `"SRCROOT": {`) {
		t.Errorf("sarif --sarif-base %s: URIs not relative to it", dir)
	}
}

func TestWhoCanCommand(t *testing.T) {
	out, err := runVigil(t, "k8s", "who-can", "list", "secrets", "-n", "big-monolith", shareddata.KubernetesGoat(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ServiceAccount/big-monolith/big-monolith-sa", "RoleBinding/big-monolith/secret-reader-binding", "ServiceAccount/kube-system/superadmin", "ClusterRole/cluster-admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("who-can output lacks %s:\n%s", want, out)
		}
	}
	out, _ = runVigil(t, "k8s", "who-can", "list", "secrets", "-n", "default", shareddata.KubernetesGoat(t))
	if strings.Contains(out, "big-monolith-sa") {
		t.Errorf("a Role in big-monolith must not answer for namespace default:\n%s", out)
	}
}

func TestAdviseAndComplianceCommands(t *testing.T) {
	dir := t.TempDir()
	conns := filepath.Join(dir, "conns.json")
	if err := os.WriteFile(conns, []byte(`[{"src": {"namespace": "shop", "labels": {"app": "web"}}, "dst": {"namespace": "shop", "labels": {"app": "api"}}, "port": 8080}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	pols := filepath.Join(dir, "pols.yaml")
	if _, err := runVigil(t, "advise", "netpol", "--connections", conns, "-o", pols); err != nil {
		t.Fatal(err)
	}
	out, err := runVigil(t, "k8s", "audit", "-f", "json", pols)
	if err != nil || !strings.Contains(out, `"objects": 3`) {
		t.Errorf("generated policies do not load as 3 objects: %v\n%s", err, out)
	}
	if _, err := runVigil(t, "k8s", "advise", "netpol", "--from", conns, "--connections", conns); err == nil {
		t.Error("both --from and --connections accepted")
	}
	html := filepath.Join(dir, "r.html")
	if _, err := runVigil(t, "compliance", "report", "--framework", "nist", "--manifests", shareddata.KubernetesGoat(t), "-f", "html", "-o", html); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "4.3.1") {
		t.Errorf("html report: %v", err)
	}
	if _, err := runVigil(t, "compliance", "report", "--framework", "sox"); err == nil {
		t.Error("unknown framework accepted")
	}
}

func TestAdvisePolicyCommand(t *testing.T) {
	c := &event.Container{ID: "0123456789ab", FullID: "0123456789ab" + strings.Repeat("c", 52), Type: "containerd", MetadataKnown: true, Name: "api", PodNamespace: "shop"}
	ev := event.Event{Type: event.TypeExecve, Time: 1795777446000000000, PID: 7, TID: 7, Comm: "api", FD: -1, FD2: -1, DirFD: -100, DirFD2: -1,
		Exec: &event.Exec{Filename: "/app/api", ExePath: "/app/api"}, Container: c}
	capture := filepath.Join(t.TempDir(), "trace.jsonl")
	if err := os.WriteFile(capture, append(event.AppendJSON(nil, &ev), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runVigil(t, "advise", "policy", "--from", capture, "--container", "0123", "--enforce")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := policy.Parse("learned.yaml", []byte(out))
	if err != nil || len(ps) != 1 || ps[0].Mode.String() != "enforce" || ps[0].Process.Rules[0].Paths[0] != "/app/api" {
		t.Fatalf("learned policy: %v\n%s", err, out)
	}
	if _, err := runVigil(t, "advise", "policy", "--from", capture, "--container", "ffff"); err == nil {
		t.Error("unknown container accepted")
	}
}

func TestK8sAuditStrict(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n   x: y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runVigil(t, "k8s", "audit", bad)
	if err != nil || !strings.Contains(out, "bad.yaml:5:") {
		t.Errorf("without --strict: err %v, output %s", err, out)
	}
	if _, err := runVigil(t, "k8s", "audit", "--strict", bad); err == nil || exitCode(err) != 1 {
		t.Errorf("--strict: err %v", err)
	}
}

// Item 8: secrets written in manifests are k8s audit findings (with their
// field, line and a redacted preview) and compliance evidence.
func TestK8sAuditSecrets(t *testing.T) {
	sum := sha256.Sum256([]byte("vigil k8s audit test, not a credential"))
	akia := "AKIA" + base32.StdEncoding.EncodeToString(sum[:])[:16]
	dir := t.TempDir()
	m := filepath.Join(dir, "app.yaml")
	os.WriteFile(m, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  containers:\n  - name: a\n    image: x\n    env:\n    - {name: AWS_ACCESS_KEY_ID, value: "+akia+"}\n    - {name: SECRET_KEY, value: /etc/secret_key}\n"), 0o644)
	out, err := runVigil(t, "k8s", "audit", "-f", "json", m)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Findings []struct {
			CheckID  string   `json:"check_id"`
			Controls []string `json:"controls"`
			Field    string   `json:"field"`
			Line     int      `json:"line"`
			Message  string   `json:"message"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var sec []string
	for _, f := range rep.Findings {
		if f.CheckID == "VGL-SEC-001" || f.CheckID == "VGL-WL-037" {
			sec = append(sec, fmt.Sprintf("%s %s:%d %s %v", f.CheckID, f.Field, f.Line, f.Message, f.Controls))
		}
	}
	want := "VGL-SEC-001 spec.containers[0].env[0].value:9 AWS access key ID (rule aws-access-key-id) at line 9: AWS_ACCESS_KEY_ID=AKIA******** [cis-k8s:5.4.1 hipaa:164.308(a)(5)(ii)(D) nist-800-190:4.1.4 pci-dss-4.0:3.6]"
	// VGL-WL-037 reports the literal AWS_ACCESS_KEY_ID too; SECRET_KEY's
	// path-like value is reported by neither.
	if len(sec) != 2 || sec[0] != want || !strings.HasPrefix(sec[1], "VGL-WL-037 spec.containers[0].env[0].value:9") || strings.Contains(out, akia[4:]) {
		t.Errorf("secret findings:\n%s\nwant:\n%s", strings.Join(sec, "\n"), want)
	}
	html := filepath.Join(dir, "r.html")
	if _, err := runVigil(t, "compliance", "report", "--framework", "nist", "--manifests", m, "-f", "html", "-o", html); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(html); !strings.Contains(string(b), "VGL-SEC-001") || strings.Contains(string(b), akia[4:]) {
		t.Error("compliance report lacks the VGL-SEC-001 evidence (or shows the secret)")
	}
}
