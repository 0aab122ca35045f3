package containertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// CRINamespace is the containerd namespace of the CRI plugin.
const CRINamespace = "k8s.io"

// PauseImage is the sandbox image of containerd's default CRI config. The
// harness imports the busybox image under this name with a long sleep as
// its command, so pods start without a registry.
const PauseImage = "registry.k8s.io/pause:3.6"

// CRI drives containerd's CRI plugin as kubelet would: pod sandboxes
// (host network, no CNI needed) and their containers.
type CRI struct {
	RT runtimeapi.RuntimeServiceClient
}

// NewCRI imports the pause and busybox images into k8s.io of the
// containerd at sock (StartPrivateContainerdCRI's) and connects to its CRI
// endpoint.
func NewCRI(tb testing.TB, sock string) *CRI {
	tb.Helper()
	client, err := containerd.New(sock, containerd.WithTimeout(10*time.Second))
	if err != nil {
		tb.Fatalf("connect containerd: %v", err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), CRINamespace)
	for ref, cmd := range map[string][]string{PauseImage: {"sleep", "2147483647"}, ImageName: nil} {
		if _, err := importFresh(ctx, client, ref, cmd); err != nil {
			tb.Fatalf("import %s: %v", ref, err)
		}
	}
	conn, err := grpc.Dial("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatalf("dial CRI: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	vctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := rt.Version(vctx, &runtimeapi.VersionRequest{}); err != nil {
		testkernel.Skip(tb, "containerd's CRI plugin does not answer: "+err.Error())
	}
	return &CRI{RT: rt}
}

// Pod is a running pod sandbox.
type Pod struct {
	ID     string
	Config *runtimeapi.PodSandboxConfig
}

// RunPod starts a pod sandbox with host networking. cgroupParent is the
// pod's cgroup (kubelet's cgroupfs layout: /kubepods/besteffort/pod<uid>);
// "" lets containerd choose. t.Cleanup stops and removes it.
func (c *CRI) RunPod(tb testing.TB, namespace, name, uid, cgroupParent string, labels map[string]string) *Pod {
	tb.Helper()
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: uid},
		Labels:   labels,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				// Each container its own pid namespace, as kubelet asks unless
				// the pod sets shareProcessNamespace.
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER},
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.RT.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		tb.Fatalf("run pod sandbox: %v", err)
	}
	p := &Pod{ID: resp.PodSandboxId, Config: cfg}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.ID})
		c.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.ID})
		if cgroupParent != "" {
			removeCgroupParent(cgroupParent)
		}
	})
	return p
}

// RunContainer creates and starts a busybox container in pod p and
// returns its id and init pid. Kubelet's labels are added to labels.
func (c *CRI) RunContainer(tb testing.TB, p *Pod, name string, args []string, labels map[string]string) (id string, pid uint32) {
	tb.Helper()
	l := map[string]string{
		"io.kubernetes.pod.name":       p.Config.Metadata.Name,
		"io.kubernetes.pod.namespace":  p.Config.Metadata.Namespace,
		"io.kubernetes.pod.uid":        p.Config.Metadata.Uid,
		"io.kubernetes.container.name": name,
	}
	for k, v := range labels {
		l[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.RT.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: p.ID,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: ImageName},
			Command:  args,
			Labels:   l,
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: p.Config.Linux.SecurityContext.NamespaceOptions,
			}},
		},
		SandboxConfig: p.Config,
	})
	if err != nil {
		tb.Fatalf("create CRI container: %v", err)
	}
	id = resp.ContainerId
	if _, err := c.RT.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		tb.Fatalf("start CRI container: %v", err)
	}
	st, err := c.RT.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		tb.Fatalf("CRI container status: %v", err)
	}
	var info struct{ Pid uint32 }
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.Pid == 0 {
		tb.Fatalf("CRI container pid: %v (info %q)", err, st.Info["info"])
	}
	return id, info.Pid
}

// String describes the pod.
func (p *Pod) String() string {
	return fmt.Sprintf("%s/%s (%s)", p.Config.Metadata.Namespace, p.Config.Metadata.Name, p.ID)
}

// removeCgroupParent removes a pod's cgroup directory (kubelet's job, which
// the CRI runtime leaves) from the v2 tree and every v1 hierarchy. Only
// empty directories go: rmdir fails on a cgroup with processes or children.
func removeCgroupParent(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		os.Remove(filepath.Join(r, parent))
	}
}

// WaitExit waits at most timeout for container id to exit and returns its
// exit code.
func (c *CRI) WaitExit(tb testing.TB, id string, timeout time.Duration) int32 {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.RT.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		cancel()
		if err != nil {
			tb.Fatalf("CRI container status: %v", err)
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return st.Status.ExitCode
		}
		if time.Now().After(deadline) {
			tb.Fatalf("CRI container %s still %s after %s", id, st.Status.State, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
