package container

import (
	"bytes"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/event"
)

// Kubelet's container labels (and CRI-O's and containerd's CRI labels).
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// AnnotationSandboxID is the OCI annotation containerd's CRI plugin puts
	// on a container's spec naming its pod sandbox.
	AnnotationSandboxID = "io.kubernetes.cri.sandbox-id"
)

// ParseImageRef splits an image reference the way Falco does: the digest
// after '@' is removed, and the tag is what follows the last ':' after the
// last '/'. "docker.io/library/alpine:3.19@sha256:ab" gives
// ("docker.io/library/alpine", "3.19", "sha256:ab").
func ParseImageRef(ref string) (repository, tag, digest string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	slash := strings.LastIndexByte(ref, '/')
	if c := strings.LastIndexByte(ref, ':'); c > slash {
		return ref[:c], ref[c+1:], digest
	}
	return ref, "", digest
}

// setImage fills Image, Repository, Tag and (when the reference carries
// one) Digest.
func setImage(c *event.Container, ref string) {
	c.Image = ref
	var d string
	c.Repository, c.Tag, d = ParseImageRef(ref)
	if d != "" {
		c.Digest = d
	}
}

// setPod fills the pod fields from kubelet's labels. podLabels are the
// sandbox's labels when known; otherwise the container's own labels that
// are not kubelet's or the runtime's are taken as the pod's.
func setPod(c *event.Container, labels, podLabels map[string]string) {
	c.PodName = labels[LabelPodName]
	c.PodNamespace = labels[LabelPodNamespace]
	c.PodUID = labels[LabelPodUID]
	if c.PodName == "" && c.PodNamespace == "" {
		return
	}
	if podLabels == nil {
		podLabels = labels
	}
	c.PodLabels = make(map[string]string, len(podLabels))
	for k, v := range podLabels {
		if strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "io.cri-containerd.") ||
			strings.HasPrefix(k, "io.containerd.") || strings.HasPrefix(k, "annotation.io.kubernetes.") {
			continue
		}
		c.PodLabels[k] = v
	}
}

// capNames are the capability names by number, as OCI specs spell them.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// hostCaps returns the names of the capabilities in the host's bounding
// set (pid 1's, else Vigil's own): "all capabilities" as a runtime
// running on this host can grant them.
var hostCaps = sync.OnceValue(func() []string {
	for _, f := range [...]string{"/proc/1/status", "/proc/self/status"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			hexCaps, ok := strings.CutPrefix(line, "CapBnd:")
			if !ok {
				continue
			}
			mask, err := strconv.ParseUint(strings.TrimSpace(hexCaps), 16, 64)
			if err != nil {
				break
			}
			var names []string
			for i, n := range capNames {
				if mask&(1<<i) != 0 {
					names = append(names, n)
				}
			}
			return names
		}
	}
	return capNames[:]
})

// SpecPrivileged reports whether an OCI spec describes a privileged
// container, as docker --privileged, ctr --privileged and the CRI plugins
// produce it: every capability of the host's bounding set, no seccomp
// filter, and all devices allowed or no masked paths.
func SpecPrivileged(s *specs.Spec) bool {
	if s == nil || s.Process == nil || s.Process.Capabilities == nil {
		return false
	}
	have := make(map[string]bool, len(s.Process.Capabilities.Bounding))
	for _, c := range s.Process.Capabilities.Bounding {
		have[c] = true
	}
	host := hostCaps()
	if len(host) < 30 {
		return false // a host this restricted grants nothing that counts as privileged
	}
	for _, c := range host {
		if !have[c] {
			return false
		}
	}
	if s.Linux == nil {
		return true
	}
	if s.Linux.Seccomp != nil {
		return false
	}
	if len(s.Linux.MaskedPaths) == 0 {
		return true
	}
	if s.Linux.Resources != nil {
		for _, d := range s.Linux.Resources.Devices {
			if d.Allow && (d.Type == "" || d.Type == "a") && d.Major == nil && d.Minor == nil && strings.Contains(d.Access, "rwm") {
				return true
			}
		}
	}
	return false
}

// SpecMounts returns the bind mounts of an OCI spec (the container's
// volumes; the runtime's own proc, sysfs, devpts... mounts are left out).
func SpecMounts(s *specs.Spec) []event.Mount {
	if s == nil {
		return nil
	}
	var ms []event.Mount
	for _, m := range s.Mounts {
		bind := m.Type == "bind"
		rw := true
		prop := ""
		for _, o := range m.Options {
			switch o {
			case "bind", "rbind":
				bind = true
			case "ro":
				rw = false
			case "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
				prop = o
			}
		}
		if !bind {
			continue
		}
		mode := "rw"
		if !rw {
			mode = "ro"
		}
		ms = append(ms, event.Mount{Source: m.Source, Destination: m.Destination, Mode: mode, RW: rw, Propagation: prop})
	}
	return ms
}

// ProcStartTime returns the start time of pid in ns since the epoch, from
// /proc/PID/stat (clock-tick resolution). A container's start_ts is its
// init process's start time (Falco: the pid namespace init's start).
func ProcStartTime(pid uint32) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	// Fields after the comm, which ends at the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse stat of pid %d: no comm", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// starttime is field 22; fields[0] is field 3 (state).
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse stat of pid %d: %d fields", pid, len(fields))
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse stat of pid %d: starttime: %w", pid, err)
	}
	const clkTck = 100 // USER_HZ, fixed on Linux
	return host.BootTime() + int64(ticks)*int64(time.Second/clkTck), nil
}

// shortID is the 12-character form of a container id.
func shortID(full string) string {
	if len(full) > 12 {
		return full[:12]
	}
	return full
}
