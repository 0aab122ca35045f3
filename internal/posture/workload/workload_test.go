package workload

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// goodPod passes every workload check (restricted profile and Vigil's
// hardening checks).
const goodPod = `apiVersion: v1
kind: Pod
metadata:
  name: ok
  namespace: app
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  volumes:
  - name: tmp
    emptyDir: {}
  containers:
  - name: app
    image: registry.example.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    ports:
    - containerPort: 8080
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources:
      limits: {cpu: 100m, memory: 64Mi}
    volumeMounts:
    - {name: tmp, mountPath: /tmp}
`

func load(t *testing.T, y string) *manifest.Object {
	t.Helper()
	inv := &manifest.Inventory{}
	inv.AddBytes("test.yaml", []byte(y))
	if len(inv.Errors) > 0 || len(inv.Objects) != 1 {
		t.Fatalf("load: errors %v, %d objects", inv.Errors, len(inv.Objects))
	}
	return inv.Objects[0]
}

func pod(t *testing.T, mutate func(p *corev1.Pod)) *manifest.Object {
	o := load(t, goodPod)
	if mutate != nil {
		mutate(o.Obj.(*corev1.Pod))
	}
	return o
}

func ptr[T any](v T) *T { return &v }

func sc(p *corev1.Pod) *corev1.SecurityContext { return p.Spec.Containers[0].SecurityContext }

func ids(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.CheckID+" "+f.Field)
	}
	return out
}

var allowedRegs = &Options{AllowedRegistries: []string{"registry.example.com"}}

func TestGoodPodPasses(t *testing.T) {
	if fs := CheckObject(pod(t, nil), allowedRegs); len(fs) != 0 {
		t.Fatalf("good pod has findings: %v", ids(fs))
	}
}

func TestChecks(t *testing.T) {
	const c0 = "spec.containers[0]"
	cases := []struct {
		name  string
		check finding.Check
		field string
		fail  func(p *corev1.Pod)
		pass  func(p *corev1.Pod) // a near miss that must not trigger check
	}{
		{"privileged", Privileged, c0 + ".securityContext.privileged",
			func(p *corev1.Pod) { sc(p).Privileged = ptr(true) },
			func(p *corev1.Pod) { sc(p).Privileged = ptr(false) }},
		{"hostPID", HostPID, "spec.hostPID", func(p *corev1.Pod) { p.Spec.HostPID = true }, nil},
		{"hostIPC", HostIPC, "spec.hostIPC", func(p *corev1.Pod) { p.Spec.HostIPC = true }, nil},
		{"hostNetwork", HostNetwork, "spec.hostNetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, nil},
		{"hostPath", HostPathVolume, "spec.volumes[1].hostPath.path",
			func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}})
			},
			func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}})
			}},
		{"hostPort", HostPort, c0 + ".ports[0].hostPort",
			func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 80 },
			func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 0 }},
		{"baseline caps", BaselineCaps, c0 + ".securityContext.capabilities.add[0]",
			func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"SYS_ADMIN"} },
			func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"CHOWN"} }},
		{"hostProcess", HostProcess, "spec.securityContext.windowsOptions.hostProcess",
			func(p *corev1.Pod) {
				p.Spec.SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}
			},
			func(p *corev1.Pod) {
				p.Spec.SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(false)}
			}},
		{"apparmor field", AppArmor, c0 + ".securityContext.appArmorProfile.type",
			func(p *corev1.Pod) {
				sc(p).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
			},
			func(p *corev1.Pod) {
				sc(p).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
			}},
		{"apparmor annotation", AppArmor, "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]",
			func(p *corev1.Pod) {
				p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
			},
			func(p *corev1.Pod) {
				p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}
			}},
		{"selinux type", SELinux, "spec.securityContext.seLinuxOptions.type",
			func(p *corev1.Pod) { p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"} },
			func(p *corev1.Pod) {
				p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t", Level: "s0:c1"}
			}},
		{"selinux user", SELinux, c0 + ".securityContext.seLinuxOptions.user",
			func(p *corev1.Pod) { sc(p).SELinuxOptions = &corev1.SELinuxOptions{User: "system_u"} }, nil},
		{"procMount", ProcMount, c0 + ".securityContext.procMount",
			func(p *corev1.Pod) { sc(p).ProcMount = ptr(corev1.UnmaskedProcMount) },
			func(p *corev1.Pod) { sc(p).ProcMount = ptr(corev1.DefaultProcMount) }},
		{"seccomp unconfined", SeccompUnconfined, "spec.securityContext.seccompProfile.type",
			func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined },
			func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeLocalhost }},
		{"sysctl", UnsafeSysctl, "spec.securityContext.sysctls[0].name",
			func(p *corev1.Pod) {
				p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}
			},
			func(p *corev1.Pod) {
				p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}}
			}},
		{"volume type", VolumeType, "spec.volumes[1]",
			func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}})
			},
			func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}})
			}},
		{"privilege escalation", PrivEscalation, c0 + ".securityContext.allowPrivilegeEscalation",
			func(p *corev1.Pod) { sc(p).AllowPrivilegeEscalation = nil }, nil},
		{"runAsNonRoot", RunAsNonRoot, c0 + ".securityContext.runAsNonRoot",
			func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil },
			func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil; sc(p).RunAsNonRoot = ptr(true) }},
		{"runAsUser 0", RunAsRootUser, c0 + ".securityContext.runAsUser",
			func(p *corev1.Pod) { sc(p).RunAsUser = ptr(int64(0)) },
			func(p *corev1.Pod) { sc(p).RunAsUser = ptr(int64(1000)) }},
		{"seccomp missing", SeccompMissing, c0 + ".securityContext.seccompProfile",
			func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile = nil },
			func(p *corev1.Pod) {
				p.Spec.SecurityContext.SeccompProfile = nil
				sc(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			}},
		{"restricted caps drop", RestrictedCaps, c0 + ".securityContext.capabilities.drop",
			func(p *corev1.Pod) { sc(p).Capabilities.Drop = []corev1.Capability{"NET_RAW"} },
			func(p *corev1.Pod) { sc(p).Capabilities.Drop = []corev1.Capability{"all"} }},
		{"restricted caps add", RestrictedCaps, c0 + ".securityContext.capabilities.add[0]",
			func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"CAP_CHOWN"} },
			func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"} }},
		{"read-only root", ReadOnlyRootFS, c0 + ".securityContext.readOnlyRootFilesystem",
			func(p *corev1.Pod) { sc(p).ReadOnlyRootFilesystem = ptr(false) }, nil},
		{"limits", ResourceLimits, c0 + ".resources.limits",
			func(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory) }, nil},
		{"automount", AutomountToken, "spec.automountServiceAccountToken",
			func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = nil }, nil},
		{"runtime socket", RuntimeSocket, "spec.volumes[1].hostPath.path",
			func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "sock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/crio/crio.sock"}}})
			},
			func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "logs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}})
			}},
		{"secret env", SecretInEnv, c0 + ".env[0].valueFrom.secretKeyRef",
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DB", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "pw"}}}}
			},
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Key: "m"}}}}
			}},
		{"secret envFrom", SecretInEnv, c0 + ".envFrom[0].secretRef",
			func(p *corev1.Pod) {
				p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}}
			}, nil},
		// Item 8: a path-like value (/etc/secret_key) is not a secret.
		{"literal secret, not a path", LiteralSecretEnv, c0 + ".env[0].value",
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "SECRET_KEY", Value: "k7Qz9vLm2x"}}
			},
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "SECRET_KEY", Value: "/etc/secret_key"}, {Name: "API_TOKEN", Value: "$(TOKEN_FROM_DOWNWARD_API)"}}
			}},
		{"literal secret", LiteralSecretEnv, c0 + ".env[0].value",
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}}
			},
			func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}} }},
		{"digest", ImageDigest, c0 + ".image",
			func(p *corev1.Pod) { p.Spec.Containers[0].Image = "registry.example.com/team/app:1.2" }, nil},
		// Item 12: a digest is a pin only when it is well-formed.
		{"malformed digest", ImageDigest, c0 + ".image",
			func(p *corev1.Pod) { p.Spec.Containers[0].Image = "registry.example.com/team/app@sha256:1234" },
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "registry.example.com/team/app@sha512:" + strings.Repeat("ab", 64)
			}},
		{"digest not hex", ImageDigest, c0 + ".image",
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "registry.example.com/team/app@sha256:" + strings.Repeat("z", 64)
			}, nil},
		{"digest of the wrong length", ImageDigest, c0 + ".image",
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "registry.example.com/team/app@sha512:" + strings.Repeat("a", 64)
			}, nil},
		{"registry", ImageRegistry, c0 + ".image",
			func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx@sha256:" + strings.Repeat("a", 64) },
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "registry.example.com/other/x@sha256:" + strings.Repeat("a", 64)
			}},
	}
	// Namespace-level check: TestAutomountPodWinsAndDefaultServiceAccount.
	covered := map[string]bool{DefaultSAAutomount.ID: true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.check.ID] = true
			got := ids(CheckObject(pod(t, tc.fail), allowedRegs))
			want := tc.check.ID + " " + tc.field
			if !slices.Contains(got, want) {
				t.Errorf("failing manifest: want %q in %v", want, got)
			}
			if tc.pass != nil {
				for _, g := range ids(CheckObject(pod(t, tc.pass), allowedRegs)) {
					if strings.HasPrefix(g, tc.check.ID+" ") {
						t.Errorf("passing manifest triggered %s", g)
					}
				}
			}
		})
	}
	for _, c := range Checks {
		if !covered[c.ID] {
			t.Errorf("check %s has no test case", c.ID)
		}
	}
}

func TestFieldPathsPerKind(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers: [{name: a, image: x, securityContext: {privileged: true}}]`, "spec.template.spec.containers[0].securityContext.privileged"},
		{`apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: i, image: x, securityContext: {privileged: true}}]
          containers: [{name: a, image: x}]`, "spec.jobTemplate.spec.template.spec.initContainers[0].securityContext.privileged"},
		{`apiVersion: v1
kind: ReplicationController
metadata: {name: r}
spec:
  template:
    spec:
      containers: [{name: a, image: x, securityContext: {privileged: true}}]`, "spec.template.spec.containers[0].securityContext.privileged"},
	} {
		o := load(t, tc.doc)
		got := ids(CheckObject(o, nil))
		if !slices.Contains(got, Privileged.ID+" "+tc.want) {
			t.Errorf("%s: want %s in %v", o.Kind, tc.want, got)
		}
	}
}

func TestAutomountFromServiceAccount(t *testing.T) {
	inv := &manifest.Inventory{}
	inv.AddBytes("a.yaml", []byte(`apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet, namespace: app}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: app}
spec:
  serviceAccountName: quiet
  containers: [{name: a, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: q, namespace: app}
spec:
  containers: [{name: a, image: x}]
`))
	var got []string
	for _, f := range Audit(inv, nil) {
		if f.CheckID == AutomountToken.ID {
			got = append(got, f.Object.Name)
		}
	}
	if !slices.Equal(got, []string{"q"}) {
		t.Fatalf("automount findings on %v, want only q (p's service account disables automount)", got)
	}
}

func TestRegistry(t *testing.T) {
	for img, want := range map[string]string{
		"nginx": "docker.io", "library/nginx:1": "docker.io", "ghcr.io/a/b": "ghcr.io",
		"localhost/x": "localhost", "reg:5000/x": "reg:5000",
	} {
		if got := Registry(img); got != want {
			t.Errorf("Registry(%q) = %q, want %q", img, got, want)
		}
	}
	if !registryAllowed("ghcr.io/acme/app:1", []string{"ghcr.io/acme"}) || registryAllowed("ghcr.io/evil/app", []string{"ghcr.io/acme"}) {
		t.Error("registry path prefix matching is wrong")
	}
}

// The pod's automountServiceAccountToken wins over its ServiceAccount's
// (item 11), and the default ServiceAccount's automount is a finding of its
// own (CIS 5.1.5).
func TestAutomountPodWinsAndDefaultServiceAccount(t *testing.T) {
	inv := &manifest.Inventory{}
	inv.AddBytes("a.yaml", []byte(`apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet, namespace: app}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: loud, namespace: app}
automountServiceAccountToken: true
---
apiVersion: v1
kind: Pod
metadata: {name: pod-in, namespace: app}
spec:
  serviceAccountName: quiet
  automountServiceAccountToken: true
  containers: [{name: a, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: pod-out, namespace: app}
spec:
  serviceAccountName: loud
  automountServiceAccountToken: false
  containers: [{name: a, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: deprecated-field, namespace: app}
spec:
  serviceAccount: quiet
  containers: [{name: a, image: x}]
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Namespace
metadata: {name: locked}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: locked}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: open}
`))
	var token, defaults []string
	for _, f := range Audit(inv, nil) {
		switch f.CheckID {
		case AutomountToken.ID:
			token = append(token, f.Object.Name)
		case DefaultSAAutomount.ID:
			defaults = append(defaults, f.Object.Kind+"/"+f.Object.Namespace+"/"+f.Object.Name)
		}
	}
	if !slices.Equal(token, []string{"pod-in"}) {
		t.Errorf("automount findings on %v, want only pod-in", token)
	}
	slices.Sort(defaults)
	if want := []string{"Namespace//app", "ServiceAccount/open/default"}; !slices.Equal(defaults, want) {
		t.Errorf("default service account findings %v, want %v", defaults, want)
	}
}
