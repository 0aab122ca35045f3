package container

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

func TestParseImageRef(t *testing.T) {
	tests := []struct{ ref, repo, tag, digest string }{
		{"alpine", "alpine", "", ""},
		{"alpine:3.19", "alpine", "3.19", ""},
		{"docker.io/library/alpine:3.19", "docker.io/library/alpine", "3.19", ""},
		{"localhost:5000/team/app", "localhost:5000/team/app", "", ""},
		{"localhost:5000/team/app:v2", "localhost:5000/team/app", "v2", ""},
		{"quay.io/org/img@sha256:abcd", "quay.io/org/img", "", "sha256:abcd"},
		{"quay.io/org/img:1.0@sha256:abcd", "quay.io/org/img", "1.0", "sha256:abcd"},
		{"sha256:4c0321508e92", "sha256", "4c0321508e92", ""}, // an image id, split as Falco does
		{"", "", "", ""},
	}
	for _, tt := range tests {
		repo, tag, digest := ParseImageRef(tt.ref)
		if repo != tt.repo || tag != tt.tag || digest != tt.digest {
			t.Errorf("ParseImageRef(%q) = %q, %q, %q; want %q, %q, %q", tt.ref, repo, tag, digest, tt.repo, tt.tag, tt.digest)
		}
	}
}

func TestSpecPrivileged(t *testing.T) {
	all := append([]string(nil), hostCaps()...)
	if len(all) < 30 {
		testkernel.Skip(t, "host capability bounding set too small to define privileged")
	}
	def := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
		"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	allDev := []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	tests := []struct {
		name string
		s    *specs.Spec
		want bool
	}{
		{"nil", nil, false},
		{"default caps", &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: def}}, Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}}}, false},
		{"all caps no masks", &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: all}}, Linux: &specs.Linux{}}, true},
		{"all caps, seccomp", &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: all}}, Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{}}}, false},
		{"all caps, masked, all devices", &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: all}},
			Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}, Resources: &specs.LinuxResources{Devices: allDev}}}, true},
		{"all caps, masked, default devices", &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: all}},
			Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}, Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}}}, false},
		{"all but SYS_ADMIN", &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: without(all, "CAP_SYS_ADMIN")}}, Linux: &specs.Linux{}}, false},
	}
	for _, tt := range tests {
		if got := SpecPrivileged(tt.s); got != tt.want {
			t.Errorf("%s: SpecPrivileged = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func without(caps []string, drop string) []string {
	var out []string
	for _, c := range caps {
		if c != drop {
			out = append(out, c)
		}
	}
	return out
}

func TestSpecMounts(t *testing.T) {
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "rw"}},
		{Destination: "/etc/cfg", Source: "/etc/app", Options: []string{"rbind", "ro", "rslave"}},
	}}
	got := SpecMounts(s)
	want := []event.Mount{
		{Source: "/srv/data", Destination: "/data", Mode: "rw", RW: true},
		{Source: "/etc/app", Destination: "/etc/cfg", Mode: "ro", RW: false, Propagation: "rslave"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("SpecMounts = %+v, want %+v", got, want)
	}
}

func TestSetPod(t *testing.T) {
	labels := map[string]string{
		LabelPodName: "web-1", LabelPodNamespace: "prod", LabelPodUID: "u-1", LabelContainerName: "nginx",
		"app": "web", "io.cri-containerd.kind": "container",
	}
	var c event.Container
	setPod(&c, labels, nil)
	if c.PodName != "web-1" || c.PodNamespace != "prod" || c.PodUID != "u-1" || len(c.PodLabels) != 1 || c.PodLabels["app"] != "web" {
		t.Fatalf("from container labels: %+v", c)
	}
	var s event.Container
	setPod(&s, labels, map[string]string{"app": "web", "tier": "1", LabelPodName: "web-1"})
	if len(s.PodLabels) != 2 || s.PodLabels["tier"] != "1" {
		t.Fatalf("from sandbox labels: %+v", s.PodLabels)
	}
	var n event.Container
	setPod(&n, map[string]string{"app": "x"}, nil)
	if n.PodName != "" || n.PodLabels != nil {
		t.Fatalf("not a pod: %+v", n)
	}
}
