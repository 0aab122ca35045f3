package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// genDoc returns manifest number i of a synthetic cluster: namespaces of 20
// objects, each a mix of Deployments, StatefulSets, Services, Roles,
// RoleBindings, ServiceAccounts and NetworkPolicies, some with problems.
func genDoc(i int) string {
	ns := fmt.Sprintf("team-%d", i/20)
	app := fmt.Sprintf("app-%d", i)
	switch i % 10 {
	case 0, 1, 2, 3:
		priv := "false"
		if i%7 == 0 {
			priv = "true"
		}
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[2]s
  labels: {app: %[1]s, team: %[2]s}
spec:
  replicas: 3
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata:
      labels: {app: %[1]s, team: %[2]s, tier: backend}
      annotations: {prometheus.io/scrape: "true"}
    spec:
      serviceAccountName: sa-%[1]s
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: main
        image: registry.example.com/%[2]s/%[1]s:1.%[3]d
        ports: [{containerPort: 8080, name: http}]
        env:
        - {name: LOG_LEVEL, value: info}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 256Mi}
        securityContext:
          privileged: %[4]s
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        volumeMounts: [{name: tmp, mountPath: /tmp}, {name: cfg, mountPath: /etc/app}]
      - name: sidecar
        image: registry.example.com/mesh/proxy@sha256:%[5]s
        resources: {limits: {cpu: 100m, memory: 64Mi}}
      volumes:
      - {name: tmp, emptyDir: {}}
      - {name: cfg, configMap: {name: %[1]s}}
`, app, ns, i, priv, strings.Repeat("ab", 32))
	case 4:
		return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  serviceName: %[1]s
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      hostNetwork: %[3]v
      containers:
      - name: db
        image: postgres:16
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]
      volumes: [{name: data, hostPath: {path: /srv/%[1]s}}]
`, app, ns, i%3 == 0)
	case 5:
		return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {app: app-%[3]d}
  ports: [{port: 80, targetPort: 8080}]
`, app, ns, i-5)
	case 6:
		return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: %[1]s, namespace: %[2]s}
rules:
- {apiGroups: [""], resources: [configmaps, pods], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [%[1]s]}
- {apiGroups: [apps], resources: [deployments], verbs: ["%[3]s"]}
`, app, ns, map[bool]string{true: "*", false: "patch"}[i%20 == 6])
	case 7:
		return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: %[1]s, namespace: %[2]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app-%[3]d}
subjects:
- {kind: ServiceAccount, name: sa-app-%[4]d}
- {kind: Group, name: %[2]s-devs}
`, app, ns, i-1, i-7)
	case 8:
		return fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: sa-app-%[3]d, namespace: %[2]s}
automountServiceAccountToken: false
`, app, ns, i-8)
	default:
		return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  podSelector: {matchLabels: {app: app-%[3]d}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {tier: frontend}}}]
    ports: [{port: http}]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}}, podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}]
`, app, ns, i-9)
	}
}

// benchAudit loads and audits the manifests, reporting the audit time
// against the baseline of the same run: decoding alone (manifest.Load).
func benchAudit(b *testing.B, paths ...string) {
	var load, audit, loadCPU, auditCPU time.Duration
	findings, objects := 0, 0
	for b.Loop() {
		c0, t0 := cpuTime(), time.Now()
		inv, err := manifest.Load(paths...)
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Errors) > 0 {
			b.Fatal(inv.Errors[0])
		}
		c1, t1 := cpuTime(), time.Now()
		r := Run(inv, nil)
		c2, t2 := cpuTime(), time.Now()
		load += t1.Sub(t0)
		audit += t2.Sub(t1)
		loadCPU += c1 - c0
		auditCPU += c2 - c1
		findings, objects = len(r.Findings), len(inv.Objects)
	}
	n := float64(b.N)
	// CPU time (all threads, including GC) is steadier than wall time on a
	// shared machine; both are reported.
	b.ReportMetric(float64(load.Milliseconds())/n, "load-ms/op")
	b.ReportMetric(float64(audit.Milliseconds())/n, "checks-ms/op")
	b.ReportMetric(float64(loadCPU.Milliseconds())/n, "load-cpu-ms/op")
	b.ReportMetric(float64(auditCPU.Milliseconds())/n, "checks-cpu-ms/op")
	b.ReportMetric(float64(auditCPU)/float64(loadCPU), "checks/load-cpu")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkAudit1000Manifests audits a directory of 1,000 manifest files.
func BenchmarkAudit1000Manifests(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		sub := filepath.Join(dir, fmt.Sprintf("team-%d", i/20))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("m%04d.yaml", i)), []byte(genDoc(i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	benchAudit(b, dir)
}

// dump writes a `kubectl get -o yaml`-style List of about size bytes.
func dump(b *testing.B, size int) (string, int) {
	var sb strings.Builder
	sb.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	n := 0
	for ; sb.Len() < size; n++ {
		for j, line := range strings.Split(strings.TrimRight(genDoc(n), "\n"), "\n") {
			if j == 0 {
				sb.WriteString("- " + line + "\n")
			} else {
				sb.WriteString("  " + line + "\n")
			}
		}
	}
	p := filepath.Join(b.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p, n
}

// BenchmarkAuditClusterDump10MB audits a single 10 MB YAML List dump.
func BenchmarkAuditClusterDump10MB(b *testing.B) {
	p, _ := dump(b, benchDumpSize())
	benchAudit(b, p)
}

// benchDumpSize is 10 MB, or VIGIL_BENCH_DUMP_MB megabytes.
func benchDumpSize() int {
	if s := os.Getenv("VIGIL_BENCH_DUMP_MB"); s != "" {
		var mb int
		if _, err := fmt.Sscan(s, &mb); err == nil && mb > 0 {
			return mb << 20
		}
	}
	return 10 << 20
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
