package container

import "testing"

const (
	idA = "3f1c1b1e9d2a4c8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	idB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// Samples are written the way each runtime lays them out in
// /proc/PID/cgroup (v2 "0::" lines and v1 controller lines).
func TestParseCgroupPath(t *testing.T) {
	tests := []struct {
		name, path string
		want       PathInfo
		ok         bool
	}{
		// Docker.
		{"docker systemd v2", "/system.slice/docker-" + idA + ".scope", PathInfo{Type: TypeDocker, ID: idA}, true},
		{"docker systemd v1", "/system.slice/docker-" + idA + ".scope", PathInfo{Type: TypeDocker, ID: idA}, true},
		{"docker cgroupfs", "/docker/" + idA, PathInfo{Type: TypeDocker, ID: idA}, true},
		{"docker cgroupfs nested systemd", "/docker/" + idA + "/init.scope", PathInfo{Type: TypeDocker, ID: idA}, true},
		{"docker in docker", "/docker/" + idB + "/docker/" + idA, PathInfo{Type: TypeDocker, ID: idA}, true},
		{"docker kubepods systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6a1b2c3d_1111_2222_3333_444455556666.slice/docker-" + idA + ".scope",
			PathInfo{Type: TypeDocker, ID: idA, PodUID: "6a1b2c3d-1111-2222-3333-444455556666"}, true},
		// containerd CRI.
		{"cri-containerd systemd burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d7c3e3c_5c1d_4f0e_9e2a_8b3c4d5e6f70.slice/cri-containerd-" + idA + ".scope",
			PathInfo{Type: TypeContainerd, ID: idA, PodUID: "0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70"}, true},
		{"cri-containerd systemd guaranteed", "/kubepods.slice/kubepods-pod0d7c3e3c_5c1d_4f0e_9e2a_8b3c4d5e6f70.slice/cri-containerd-" + idA + ".scope",
			PathInfo{Type: TypeContainerd, ID: idA, PodUID: "0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70"}, true},
		{"kubepods cgroupfs besteffort", "/kubepods/besteffort/pod0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70/" + idA,
			PathInfo{Type: TypeCRI, ID: idA, PodUID: "0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70"}, true},
		{"kubepods cgroupfs guaranteed", "/kubepods/pod0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70/" + idA,
			PathInfo{Type: TypeCRI, ID: idA, PodUID: "0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70"}, true},
		{"kind node (nested under docker)", "/docker/" + idB + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod11111111_2222_3333_4444_555555555555.slice/cri-containerd-" + idA + ".scope",
			PathInfo{Type: TypeContainerd, ID: idA, PodUID: "11111111-2222-3333-4444-555555555555"}, true},
		// CRI-O.
		{"crio systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d7c3e3c_5c1d_4f0e_9e2a_8b3c4d5e6f70.slice/crio-" + idA + ".scope",
			PathInfo{Type: TypeCRIO, ID: idA, PodUID: "0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70"}, true},
		{"crio cgroupfs", "/kubepods/besteffort/pod0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70/crio-" + idA,
			PathInfo{Type: TypeCRIO, ID: idA, PodUID: "0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70"}, true},
		{"crio conmon", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d7c3e3c_5c1d_4f0e_9e2a_8b3c4d5e6f70.slice/crio-conmon-" + idA + ".scope", PathInfo{}, false},
		{"crio container subcgroup", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d7c3e3c_5c1d_4f0e_9e2a_8b3c4d5e6f70.slice/crio-" + idA + ".scope/container",
			PathInfo{Type: TypeCRIO, ID: idA, PodUID: "0d7c3e3c-5c1d-4f0e-9e2a-8b3c4d5e6f70"}, true},
		// Podman.
		{"podman root systemd", "/machine.slice/libpod-" + idA + ".scope", PathInfo{Type: TypePodman, ID: idA}, true},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + idA + ".scope", PathInfo{Type: TypePodman, ID: idA}, true},
		{"podman container subcgroup", "/machine.slice/libpod-" + idA + ".scope/container", PathInfo{Type: TypePodman, ID: idA}, true},
		{"podman cgroupfs", "/libpod_parent/libpod-" + idA, PathInfo{Type: TypePodman, ID: idA}, true},
		{"podman cgroupfs bare id", "/libpod_parent/" + idA, PathInfo{Type: TypePodman, ID: idA}, true},
		{"podman conmon", "/machine.slice/libpod-conmon-" + idA + ".scope", PathInfo{}, false},
		// containerd namespaces (ctr run) and runc run, as observed on this host.
		{"ctr default namespace", "/default/" + idA, PathInfo{Type: TypeContainerd, ID: idA, Namespace: "default"}, true},
		{"ctr k8s.io namespace", "/k8s.io/" + idA, PathInfo{Type: TypeContainerd, ID: idA, Namespace: "k8s.io"}, true},
		{"ctr under a v1 memory parent", "/process_api/2f265be7ed57ef55fb1c0286773238f5/default/" + idA, PathInfo{Type: TypeContainerd, ID: idA, Namespace: "default"}, true},
		{"runc run", "/" + idA, PathInfo{Type: TypeRunc, ID: idA}, true},
		// Host.
		{"root", "/", PathInfo{}, false},
		{"empty", "", PathInfo{}, false},
		{"init scope", "/init.scope", PathInfo{}, false},
		{"user slice", "/user.slice/user-0.slice/session-1.scope", PathInfo{}, false},
		{"system service", "/system.slice/containerd.service", PathInfo{}, false},
		{"docker service", "/system.slice/docker.service", PathInfo{}, false},
		{"memory v1 sandbox", "/process_api/2f265be7ed57ef55fb1c0286773238f5", PathInfo{}, false},
		{"ctr non-hex id", "/default/probe1", PathInfo{}, false},
		{"short hex", "/docker/" + idA[:12], PathInfo{}, false},
		{"uppercase hex", "/docker/" + "3F1C1B1E9D2A4C8B7E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D", PathInfo{}, false},
		{"docker prefix no id", "/system.slice/docker-.scope", PathInfo{}, false},
		{"relative", "docker/" + idA, PathInfo{}, false},
		{"kubepods slice only", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0d7c3e3c_5c1d_4f0e_9e2a_8b3c4d5e6f70.slice", PathInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseCgroupPath(tt.path)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("ParseCgroupPath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	v1only := "12:pids:/docker/" + idA + "\n11:memory:/docker/" + idA + "\n1:name=systemd:/docker/" + idA + "\n0::/\n"
	tests := []struct {
		name, data string
		wantV2     string
		want       PathInfo
		ok         bool
	}{
		{"v2 container", "0::/default/" + idA + "\n", "/default/" + idA, PathInfo{Type: TypeContainerd, ID: idA, Namespace: "default"}, true},
		{"hybrid, v1-only runtime", v1only, "/", PathInfo{Type: TypeDocker, ID: idA}, true},
		{"host hybrid", "9:name=systemd:/\n4:memory:/process_api/2f26\n0::/\n", "/", PathInfo{}, false},
		{"v1 only host", "3:cpu,cpuacct:/user.slice\n", "", PathInfo{}, false},
		{"garbage", "nonsense\n::\n", "", PathInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v2, info, ok := parseProcCgroup([]byte(tt.data))
			if v2 != tt.wantV2 || info != tt.want || ok != tt.ok {
				t.Fatalf("parseProcCgroup = %q, %+v, %v; want %q, %+v, %v", v2, info, ok, tt.wantV2, tt.want, tt.ok)
			}
		})
	}
}

func TestParseCgroupPathNoAlloc(t *testing.T) {
	p := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d7c3e3c.slice/cri-containerd-" + idA + ".scope"
	if n := testing.AllocsPerRun(100, func() { ParseCgroupPath(p) }); n != 0 {
		t.Fatalf("ParseCgroupPath allocates %v times", n)
	}
}
