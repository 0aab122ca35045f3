package workload

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vigilsec/vigil/internal/imagepolicy"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/secrets"
)

// Check ids. Baseline and restricted follow the Pod Security Standards
// profiles; the 03x ids are Vigil's own hardening checks.
var (
	Privileged        = finding.Check{ID: "VGL-WL-001", Severity: finding.Critical, Profile: "baseline", Title: "Privileged container", Fix: "Remove securityContext.privileged or set it to false; grant only the capabilities the container needs."}
	HostPID           = finding.Check{ID: "VGL-WL-002", Severity: finding.High, Profile: "baseline", Title: "Pod shares the host PID namespace", Fix: "Remove hostPID or set it to false."}
	HostIPC           = finding.Check{ID: "VGL-WL-003", Severity: finding.High, Profile: "baseline", Title: "Pod shares the host IPC namespace", Fix: "Remove hostIPC or set it to false."}
	HostNetwork       = finding.Check{ID: "VGL-WL-004", Severity: finding.High, Profile: "baseline", Title: "Pod shares the host network namespace", Fix: "Remove hostNetwork or set it to false; expose the pod through a Service."}
	HostPathVolume    = finding.Check{ID: "VGL-WL-005", Severity: finding.High, Profile: "baseline", Title: "hostPath volume", Fix: "Replace the hostPath volume with a ConfigMap, Secret, emptyDir or PersistentVolumeClaim."}
	HostPort          = finding.Check{ID: "VGL-WL-006", Severity: finding.Medium, Profile: "baseline", Title: "Container binds a host port", Fix: "Remove hostPort; use a Service (NodePort or LoadBalancer) instead."}
	BaselineCaps      = finding.Check{ID: "VGL-WL-007", Severity: finding.High, Profile: "baseline", Title: "Capability added beyond the baseline set", Fix: "Remove the capability from securityContext.capabilities.add."}
	HostProcess       = finding.Check{ID: "VGL-WL-008", Severity: finding.Critical, Profile: "baseline", Title: "Windows HostProcess container", Fix: "Remove windowsOptions.hostProcess or set it to false."}
	AppArmor          = finding.Check{ID: "VGL-WL-009", Severity: finding.Medium, Profile: "baseline", Title: "AppArmor disabled", Fix: "Use the RuntimeDefault or a Localhost AppArmor profile."}
	SELinux           = finding.Check{ID: "VGL-WL-010", Severity: finding.Medium, Profile: "baseline", Title: "Custom SELinux user, role or type", Fix: "Leave seLinuxOptions.user and role empty and use a container_* type."}
	ProcMount         = finding.Check{ID: "VGL-WL-011", Severity: finding.High, Profile: "baseline", Title: "Unmasked /proc", Fix: "Remove securityContext.procMount or set it to Default."}
	SeccompUnconfined = finding.Check{ID: "VGL-WL-012", Severity: finding.High, Profile: "baseline", Title: "Seccomp explicitly unconfined", Fix: "Set seccompProfile.type to RuntimeDefault or Localhost."}
	UnsafeSysctl      = finding.Check{ID: "VGL-WL-013", Severity: finding.High, Profile: "baseline", Title: "Unsafe sysctl", Fix: "Remove the sysctl; only the namespaced safe set is allowed."}

	VolumeType         = finding.Check{ID: "VGL-WL-020", Severity: finding.Medium, Profile: "restricted", Title: "Volume type outside the restricted set", Fix: "Use configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected or secret volumes."}
	PrivEscalation     = finding.Check{ID: "VGL-WL-021", Severity: finding.Medium, Profile: "restricted", Title: "Privilege escalation allowed", Fix: "Set securityContext.allowPrivilegeEscalation: false."}
	RunAsNonRoot       = finding.Check{ID: "VGL-WL-022", Severity: finding.Medium, Profile: "restricted", Title: "Container may run as root", Fix: "Set securityContext.runAsNonRoot: true (pod or container)."}
	RunAsRootUser      = finding.Check{ID: "VGL-WL-023", Severity: finding.High, Profile: "restricted", Title: "Container runs as UID 0", Fix: "Set runAsUser to a non-zero UID."}
	SeccompMissing     = finding.Check{ID: "VGL-WL-024", Severity: finding.Low, Profile: "restricted", Title: "No seccomp profile", Fix: "Set securityContext.seccompProfile.type: RuntimeDefault on the pod."}
	RestrictedCaps     = finding.Check{ID: "VGL-WL-025", Severity: finding.Low, Profile: "restricted", Title: "Capabilities not dropped", Fix: "Set capabilities.drop: [ALL] and add back at most NET_BIND_SERVICE."}
	ReadOnlyRootFS     = finding.Check{ID: "VGL-WL-030", Severity: finding.Low, Title: "Writable root filesystem", Fix: "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir where writes are needed."}
	ResourceLimits     = finding.Check{ID: "VGL-WL-031", Severity: finding.Low, Title: "Missing CPU or memory limit", Fix: "Set resources.limits.cpu and resources.limits.memory."}
	AutomountToken     = finding.Check{ID: "VGL-WL-032", Severity: finding.Low, Title: "Service account token automounted", Fix: "Set automountServiceAccountToken: false unless the pod calls the API server."}
	RuntimeSocket      = finding.Check{ID: "VGL-WL-033", Severity: finding.Critical, Title: "Container runtime socket mounted", Fix: "Do not mount docker.sock, containerd.sock or crio.sock into pods: it grants control of the node."}
	SecretInEnv        = finding.Check{ID: "VGL-WL-034", Severity: finding.Medium, Title: "Secret exposed in an environment variable", Fix: "Mount secrets as files (secret volume) instead of environment variables; never put literal credentials in manifests."}
	ImageDigest        = finding.Check{ID: "VGL-WL-035", Severity: finding.Low, Title: "Image not pinned by digest", Fix: "Reference the image as repository@sha256:<digest>."}
	ImageRegistry      = finding.Check{ID: "VGL-WL-036", Severity: finding.High, Title: "Image from a registry outside the allow-list", Fix: "Pull images only from the allowed registries (mirror the image there)."}
	DefaultSAAutomount = finding.Check{ID: "VGL-WL-038", Severity: finding.Medium, Title: "Default service account mounts its token", Fix: "Set automountServiceAccountToken: false on each namespace's default ServiceAccount (CIS 5.1.5) and give workloads that call the API server their own."}
	LiteralSecretEnv   = finding.Check{ID: "VGL-WL-037", Severity: finding.High, Title: "Credential written literally in an environment variable", Fix: "Move the value to a Secret mounted as a file."}
)

// Checks is the catalogue of workload checks.
var Checks = []finding.Check{
	Privileged, HostPID, HostIPC, HostNetwork, HostPathVolume, HostPort, BaselineCaps, HostProcess, AppArmor,
	SELinux, ProcMount, SeccompUnconfined, UnsafeSysctl, VolumeType, PrivEscalation, RunAsNonRoot,
	RunAsRootUser, SeccompMissing, RestrictedCaps, ReadOnlyRootFS, ResourceLimits, AutomountToken,
	RuntimeSocket, SecretInEnv, ImageDigest, ImageRegistry, LiteralSecretEnv, DefaultSAAutomount,
}

// Options tunes the workload checks. A nil *Options means defaults.
type Options struct {
	// AllowedRegistries enables VGL-WL-036: images must come from one of
	// these registries or registry/path prefixes ("ghcr.io/acme").
	AllowedRegistries []string
}

var baselineCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

var safeSysctls = []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}

var seLinuxTypes = []string{"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

var runtimeSockets = []string{"docker.sock", "containerd.sock", "crio.sock", "cri-dockerd.sock", "podman.sock", "dockershim.sock"}

// Audit runs every workload check over the workloads of inv.
func Audit(inv *manifest.Inventory, opts *Options) []finding.Finding {
	if opts == nil {
		opts = &Options{}
	}
	var out []finding.Finding
	for _, o := range inv.Workloads() {
		out = append(out, checkObject(o, opts, inv)...)
	}
	return append(out, defaultServiceAccounts(inv)...)
}

// defaultServiceAccounts reports the namespaces whose default service
// account mounts its token into pods that do not opt out (CIS 5.1.5): every
// default ServiceAccount in the manifests without
// automountServiceAccountToken: false, and every Namespace declared without
// such a default ServiceAccount (the API server creates one that mounts).
func defaultServiceAccounts(inv *manifest.Inventory) []finding.Finding {
	var out []finding.Finding
	declared := map[string]bool{}
	for _, o := range inv.OfKind("ServiceAccount") {
		sa, ok := o.Obj.(*corev1.ServiceAccount)
		if !ok || o.Name != "default" {
			continue
		}
		declared[o.Namespace] = true
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			out = append(out, finding.New(DefaultSAAutomount, o, "automountServiceAccountToken",
				fmt.Sprintf("the default service account of namespace %s mounts its token into every pod that does not opt out", o.Namespace)))
		}
	}
	for _, o := range inv.OfKind("Namespace") {
		if !declared[o.Name] {
			out = append(out, finding.New(DefaultSAAutomount, o, "metadata.name",
				fmt.Sprintf("namespace %s has no default ServiceAccount with automountServiceAccountToken: false; the one the API server creates mounts its token", o.Name)))
		}
	}
	return out
}

// CheckObject runs the workload checks on one object (nil when it runs no
// pods). Service accounts are not looked up: VGL-WL-032 trusts the pod spec.
func CheckObject(o *manifest.Object, opts *Options) []finding.Finding {
	if opts == nil {
		opts = &Options{}
	}
	return checkObject(o, opts, nil)
}

func checkObject(o *manifest.Object, opts *Options, inv *manifest.Inventory) []finding.Finding {
	spec, meta, base, ok := o.PodTemplate()
	if !ok {
		return nil
	}
	var out []finding.Finding
	add := func(c finding.Check, field, format string, args ...any) {
		out = append(out, finding.New(c, o, field, fmt.Sprintf(format, args...)))
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	cs := manifest.Containers(spec, base)

	// Host namespaces.
	if spec.HostPID {
		add(HostPID, base+".hostPID", "hostPID is true: the pod sees and can signal every process on the node")
	}
	if spec.HostIPC {
		add(HostIPC, base+".hostIPC", "hostIPC is true: the pod shares the node's IPC namespace")
	}
	if spec.HostNetwork {
		add(HostNetwork, base+".hostNetwork", "hostNetwork is true: the pod uses the node's network stack")
	}
	// HostProcess.
	if w := psc.WindowsOptions; w != nil && w.HostProcess != nil && *w.HostProcess {
		add(HostProcess, base+".securityContext.windowsOptions.hostProcess", "pod runs Windows HostProcess containers")
	}
	// Volumes.
	for i, v := range spec.Volumes {
		vp := fmt.Sprintf("%s.volumes[%d]", base, i)
		if v.HostPath != nil {
			p := v.HostPath.Path
			users := mountedBy(cs, v.Name)
			if isRuntimeSocket(p) {
				add(RuntimeSocket, vp+".hostPath.path", "volume %q mounts the container runtime socket %s into %s", v.Name, p, users)
			}
			add(HostPathVolume, vp+".hostPath.path", "volume %q mounts host path %s into %s", v.Name, p, users)
		}
		// hostPath is already VGL-WL-005 (baseline); report other types here.
		if t := volumeType(&v); t != "hostPath" && !slices.Contains([]string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}, t) {
			add(VolumeType, vp, "volume %q has type %s", v.Name, t)
		}
	}
	// Sysctls.
	for i, s := range psc.Sysctls {
		if !slices.Contains(safeSysctls, s.Name) {
			add(UnsafeSysctl, fmt.Sprintf("%s.securityContext.sysctls[%d].name", base, i), "sysctl %s is not in the safe set", s.Name)
		}
	}
	// Pod-level seccomp, AppArmor, SELinux.
	if sp := psc.SeccompProfile; sp != nil && sp.Type == corev1.SeccompProfileTypeUnconfined {
		add(SeccompUnconfined, base+".securityContext.seccompProfile.type", "pod seccomp profile is Unconfined")
	}
	if meta != nil && strings.EqualFold(meta.Annotations["seccomp.security.alpha.kubernetes.io/pod"], "unconfined") {
		add(SeccompUnconfined, metaPath(base)+".annotations[seccomp.security.alpha.kubernetes.io/pod]", "pod seccomp annotation is unconfined")
	}
	if ap := psc.AppArmorProfile; ap != nil && ap.Type == corev1.AppArmorProfileTypeUnconfined {
		add(AppArmor, base+".securityContext.appArmorProfile.type", "pod AppArmor profile is Unconfined")
	}
	if meta != nil {
		for k, v := range meta.Annotations {
			if strings.HasPrefix(k, "container.apparmor.security.beta.kubernetes.io/") && v != "runtime/default" && !strings.HasPrefix(v, "localhost/") {
				add(AppArmor, metaPath(base)+".annotations["+k+"]", "AppArmor annotation is %q", v)
			}
		}
	}
	if se := psc.SELinuxOptions; se != nil {
		checkSELinux(se, base+".securityContext.seLinuxOptions", add)
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		add(RunAsRootUser, base+".securityContext.runAsUser", "pod runAsUser is 0 (root)")
	}
	// Service account token.
	if inv.MountsToken(o) {
		sa, _ := o.ServiceAccountOf()
		add(AutomountToken, base+".automountServiceAccountToken", "the token of service account %q is mounted into every container", sa)
	}

	for _, ct := range cs {
		c, cp := ct.C, ct.Path
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if sc.Privileged != nil && *sc.Privileged {
			add(Privileged, cp+".securityContext.privileged", "container %q runs privileged: all capabilities and host devices", c.Name)
		}
		for i, p := range c.Ports {
			if p.HostPort != 0 {
				add(HostPort, fmt.Sprintf("%s.ports[%d].hostPort", cp, i), "container %q binds host port %d", c.Name, p.HostPort)
			}
		}
		if w := sc.WindowsOptions; w != nil && w.HostProcess != nil && *w.HostProcess {
			add(HostProcess, cp+".securityContext.windowsOptions.hostProcess", "container %q is a Windows HostProcess container", c.Name)
		}
		dropAll := false
		if caps := sc.Capabilities; caps != nil {
			for i, a := range caps.Add {
				n := capName(string(a))
				if !slices.Contains(baselineCaps, n) {
					add(BaselineCaps, fmt.Sprintf("%s.securityContext.capabilities.add[%d]", cp, i), "container %q adds capability %s", c.Name, n)
				} else if n != "NET_BIND_SERVICE" {
					add(RestrictedCaps, fmt.Sprintf("%s.securityContext.capabilities.add[%d]", cp, i), "container %q adds capability %s (restricted allows only NET_BIND_SERVICE)", c.Name, n)
				}
			}
			for _, d := range caps.Drop {
				if capName(string(d)) == "ALL" {
					dropAll = true
				}
			}
		}
		if !dropAll {
			add(RestrictedCaps, cp+".securityContext.capabilities.drop", "container %q does not drop ALL capabilities", c.Name)
		}
		if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
			add(ProcMount, cp+".securityContext.procMount", "container %q uses procMount %s", c.Name, *sc.ProcMount)
		}
		if sp := sc.SeccompProfile; sp != nil && sp.Type == corev1.SeccompProfileTypeUnconfined {
			add(SeccompUnconfined, cp+".securityContext.seccompProfile.type", "container %q seccomp profile is Unconfined", c.Name)
		}
		seccomp := psc.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeUnconfined {
				add(SeccompMissing, cp+".securityContext.seccompProfile", "container %q has no RuntimeDefault or Localhost seccomp profile", c.Name)
			}
		}
		if ap := sc.AppArmorProfile; ap != nil && ap.Type == corev1.AppArmorProfileTypeUnconfined {
			add(AppArmor, cp+".securityContext.appArmorProfile.type", "container %q AppArmor profile is Unconfined", c.Name)
		}
		if se := sc.SELinuxOptions; se != nil {
			checkSELinux(se, cp+".securityContext.seLinuxOptions", add)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add(PrivEscalation, cp+".securityContext.allowPrivilegeEscalation", "container %q does not set allowPrivilegeEscalation: false", c.Name)
		}
		nonRoot := psc.RunAsNonRoot
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			add(RunAsNonRoot, cp+".securityContext.runAsNonRoot", "container %q does not require runAsNonRoot", c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			add(RunAsRootUser, cp+".securityContext.runAsUser", "container %q runAsUser is 0 (root)", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			add(ReadOnlyRootFS, cp+".securityContext.readOnlyRootFilesystem", "container %q can write to its root filesystem", c.Name)
		}
		if !strings.Contains(cp, "ephemeralContainers") {
			var missing []string
			if _, ok := c.Resources.Limits[corev1.ResourceCPU]; !ok {
				missing = append(missing, "cpu")
			}
			if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
				missing = append(missing, "memory")
			}
			if len(missing) > 0 {
				add(ResourceLimits, cp+".resources.limits", "container %q has no %s limit", c.Name, strings.Join(missing, " or "))
			}
		}
		for i, e := range c.Env {
			ep := fmt.Sprintf("%s.env[%d]", cp, i)
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(SecretInEnv, ep+".valueFrom.secretKeyRef", "container %q reads secret %s key %s into env %s", c.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, e.Name)
			} else if e.Value != "" && looksSecret(e.Name) && !secrets.PathLike(e.Value) && !secrets.Placeholder(e.Value) {
				add(LiteralSecretEnv, ep+".value", "container %q sets env %s to a literal value", c.Name, e.Name)
			}
		}
		for i, e := range c.EnvFrom {
			if e.SecretRef != nil {
				add(SecretInEnv, fmt.Sprintf("%s.envFrom[%d].secretRef", cp, i), "container %q imports secret %s as env vars", c.Name, e.SecretRef.Name)
			}
		}
		if c.Image != "" && !imagepolicy.Pinned(c.Image) {
			add(ImageDigest, cp+".image", "container %q image %s is not pinned by digest", c.Name, c.Image)
		}
		if len(opts.AllowedRegistries) > 0 && c.Image != "" && !registryAllowed(c.Image, opts.AllowedRegistries) {
			add(ImageRegistry, cp+".image", "container %q image %s comes from %s, not an allowed registry", c.Name, c.Image, Registry(c.Image))
		}
	}
	return out
}

func metaPath(base string) string {
	if base == "spec" {
		return "metadata"
	}
	return strings.TrimSuffix(base, ".spec") + ".metadata"
}

func checkSELinux(se *corev1.SELinuxOptions, path string, add func(finding.Check, string, string, ...any)) {
	if !slices.Contains(seLinuxTypes, se.Type) {
		add(SELinux, path+".type", "SELinux type %q is not a container type", se.Type)
	}
	if se.User != "" {
		add(SELinux, path+".user", "SELinux user %q is set", se.User)
	}
	if se.Role != "" {
		add(SELinux, path+".role", "SELinux role %q is set", se.Role)
	}
}

func mountedBy(cs []manifest.Container, vol string) string {
	var names []string
	for _, ct := range cs {
		for _, m := range ct.C.VolumeMounts {
			if m.Name == vol {
				names = append(names, fmt.Sprintf("container %q at %s", ct.C.Name, m.MountPath))
			}
		}
	}
	if len(names) == 0 {
		return "no container"
	}
	return strings.Join(names, ", ")
}

func isRuntimeSocket(p string) bool {
	p = strings.TrimRight(p, "/")
	for _, s := range runtimeSockets {
		if strings.HasSuffix(p, "/"+s) {
			return true
		}
	}
	// Mounting the directory that holds the socket is as bad.
	switch p {
	case "/var/run", "/run", "/var/run/docker", "/run/containerd", "/var/run/containerd", "/run/crio", "/var/run/crio":
		return true
	}
	return false
}

func capName(s string) string {
	return strings.TrimPrefix(strings.ToUpper(s), "CAP_")
}

func looksSecret(name string) bool {
	n := strings.ToUpper(name)
	for _, k := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"} {
		if strings.Contains(n, k) {
			return true
		}
	}
	return false
}

func volumeType(v *corev1.Volume) string {
	s := v.VolumeSource
	switch {
	case s.ConfigMap != nil:
		return "configMap"
	case s.CSI != nil:
		return "csi"
	case s.DownwardAPI != nil:
		return "downwardAPI"
	case s.EmptyDir != nil:
		return "emptyDir"
	case s.Ephemeral != nil:
		return "ephemeral"
	case s.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case s.Projected != nil:
		return "projected"
	case s.Secret != nil:
		return "secret"
	case s.HostPath != nil:
		return "hostPath"
	case s.NFS != nil:
		return "nfs"
	case s.ISCSI != nil:
		return "iscsi"
	case s.GitRepo != nil:
		return "gitRepo"
	case s.Image != nil:
		return "image"
	}
	// No source set means emptyDir in the API defaults.
	return "emptyDir"
}

// Registry returns the registry host of an image reference ("docker.io"
// when the reference names none).
func Registry(image string) string {
	first, _, found := strings.Cut(image, "/")
	if !found {
		return "docker.io"
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return first
	}
	return "docker.io"
}

func registryAllowed(image string, allowed []string) bool {
	reg := Registry(image)
	full := image
	if !strings.HasPrefix(image, reg+"/") {
		full = reg + "/" + image
	}
	for _, a := range allowed {
		a = strings.TrimSuffix(a, "/")
		if a == reg || strings.HasPrefix(full, a+"/") {
			return true
		}
	}
	return false
}
