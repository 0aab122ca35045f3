package audit

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
)

func goatReport(t *testing.T) (*Report, string) {
	dir := shareddata.KubernetesGoat(t)
	inv, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Errors) > 0 {
		t.Fatalf("goat manifests failed to load: %v", inv.Errors)
	}
	return Run(inv, nil), dir
}

func find(r *Report, id, object, field string) *finding.Finding {
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.CheckID == id && f.Object.String() == object && f.Field == field {
			return f
		}
	}
	return nil
}

func TestKubernetesGoat(t *testing.T) {
	r, dir := goatReport(t)
	must := []struct {
		what, id, object, field, msg string
	}{
		{"service account bound to cluster-admin", "VGL-RBAC-001", "ClusterRoleBinding/superadmin", "subjects[0]", "ServiceAccount/kube-system/superadmin holds cluster-admin"},
		{"privileged system-monitor", "VGL-WL-001", "Deployment/default/system-monitor-deployment", "spec.template.spec.containers[0].securityContext.privileged", "system-monitor"},
		{"system-monitor hostPID", "VGL-WL-002", "Deployment/default/system-monitor-deployment", "spec.template.spec.hostPID", ""},
		{"system-monitor hostIPC", "VGL-WL-003", "Deployment/default/system-monitor-deployment", "spec.template.spec.hostIPC", ""},
		{"system-monitor hostPath /", "VGL-WL-005", "Deployment/default/system-monitor-deployment", "spec.template.spec.volumes[0].hostPath.path", "host path / into container \"system-monitor\" at /host-system"},
		{"containerd socket", "VGL-WL-033", "Deployment/default/health-check-deployment", "spec.template.spec.volumes[0].hostPath.path", "/run/containerd/containerd.sock"},
		{"docker socket", "VGL-WL-033", "DaemonSet/default/docker-bench-security", "spec.template.spec.volumes[6].hostPath.path", "/var/run/docker.sock"},
		{"privileged health-check", "VGL-WL-001", "Deployment/default/health-check-deployment", "spec.template.spec.containers[0].securityContext.privileged", ""},
		{"image without digest", "VGL-WL-035", "Deployment/default/internal-proxy-deployment", "spec.template.spec.containers[1].image", "madhuakula/k8s-goat-info-app"},
		{"image without digest (job)", "VGL-WL-035", "Job/default/kube-bench-node", "spec.template.spec.containers[0].image", "docker.io/aquasec/kube-bench:latest"},
		{"secret in env", "VGL-WL-034", "Deployment/default/system-monitor-deployment", "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef", "goatvault"},
		{"role reading secrets", "VGL-RBAC-005", "Role/big-monolith/secret-reader", "rules[0]", "big-monolith-sa"},
		{"workload SA reads secrets", "VGL-RBAC-020", "Deployment/big-monolith/hunger-check-deployment", "spec.template.spec.serviceAccountName", "can read secrets"},
		{"no default deny", "VGL-NET-003", "Namespace/big-monolith", "", "ingress and egress"},
	}
	for _, m := range must {
		f := find(r, m.id, m.object, m.field)
		if f == nil {
			t.Errorf("%s: no %s on %s at %s", m.what, m.id, m.object, m.field)
			continue
		}
		if !strings.Contains(f.Message, m.msg) {
			t.Errorf("%s: message %q does not mention %q", m.what, f.Message, m.msg)
		}
	}
	// Every container of the goat uses a tag, never a digest: 14 containers.
	n := 0
	for _, f := range r.Findings {
		if f.CheckID == "VGL-WL-035" {
			n++
		}
	}
	if n != 14 {
		t.Errorf("%d images without digest, want 14 (one per container)", n)
	}
	// Positions point at the field in the file.
	for _, p := range []struct {
		id, object, field, file string
		line                    int
	}{
		{"VGL-RBAC-001", "ClusterRoleBinding/superadmin", "subjects[0]", "scenarios/insecure-rbac/setup.yaml", 16},
		{"VGL-WL-001", "Deployment/default/system-monitor-deployment", "spec.template.spec.containers[0].securityContext.privileged", "scenarios/system-monitor/deployment.yaml", 41},
		{"VGL-WL-033", "Deployment/default/health-check-deployment", "spec.template.spec.volumes[0].hostPath.path", "scenarios/health-check/deployment.yaml", 32},
	} {
		f := find(r, p.id, p.object, p.field)
		if f != nil && (f.File != filepath.Join(dir, p.file) || f.Line != p.line) {
			t.Errorf("%s finding at %s:%d, want %s:%d", p.id, f.File, f.Line, p.file, p.line)
		}
	}
	if !r.AtLeast(finding.Critical) {
		t.Error("AtLeast(critical) is false with critical findings")
	}
}

func TestSARIF(t *testing.T) {
	r, _ := goatReport(t)
	var buf bytes.Buffer
	if err := r.WriteSARIF(&buf, SARIFOptions{}); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
					LogicalLocations []struct {
						FullyQualifiedName string `json:"fullyQualifiedName"`
					} `json:"logicalLocations"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Results) != len(r.Findings) {
		t.Fatalf("%d results for %d findings", len(run.Results), len(r.Findings))
	}
	levels := map[string]bool{"error": true, "warning": true, "note": true}
	sawPriv := false
	for _, res := range run.Results {
		if res.RuleIndex < 0 || res.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Fatalf("result %s has ruleIndex %d pointing elsewhere", res.RuleID, res.RuleIndex)
		}
		if !levels[res.Level] || res.Message.Text == "" || len(res.Locations) != 1 {
			t.Fatalf("bad result %+v", res)
		}
		loc := res.Locations[0]
		// Only namespaces implied by workloads (no Namespace object) lack a
		// file position.
		if (loc.PhysicalLocation.ArtifactLocation.URI == "" || loc.PhysicalLocation.Region.StartLine < 1) && res.RuleID != "VGL-NET-003" {
			t.Fatalf("result %s has no file position", res.RuleID)
		}
		if loc.LogicalLocations[0].FullyQualifiedName == "Deployment/default/system-monitor-deployment.spec.template.spec.containers[0].securityContext.privileged" {
			sawPriv = true
			if res.Level != "error" || !strings.HasSuffix(loc.PhysicalLocation.ArtifactLocation.URI, "scenarios/system-monitor/deployment.yaml") {
				t.Errorf("privileged result: level %s uri %s", res.Level, loc.PhysicalLocation.ArtifactLocation.URI)
			}
		}
	}
	if !sawPriv {
		t.Error("SARIF lacks the privileged system-monitor result")
	}
}

func TestCatalogIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Catalog() {
		if seen[c.ID] {
			t.Errorf("duplicate check id %s", c.ID)
		}
		seen[c.ID] = true
		if c.Title == "" || c.Fix == "" {
			t.Errorf("%s lacks a title or fix", c.ID)
		}
	}
}
