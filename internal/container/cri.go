package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/vigilsec/vigil/internal/event"
)

// criClient reads containers through the Kubernetes CRI gRPC API (CRI-O;
// containerd's CRI plugin answers on containerd's socket too). CRI has no
// event stream every runtime implements, so the client lists every
// criPoll and relies on Resolve's synchronous lookup for new containers.
type criClient struct {
	sock string
	typ  string // client name: cri-o, or cri for a generic endpoint

	mu      sync.Mutex
	rt      runtimeapi.RuntimeServiceClient
	ctrType string // container type, from the runtime's name
}

func newCRIClient(sock, typ string) *criClient { return &criClient{sock: sock, typ: typ} }

func (c *criClient) name() string   { return c.typ }
func (c *criClient) socket() string { return c.sock }
func (c *criClient) handles(t string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return t == c.typ || t == TypeCRI || (c.ctrType != "" && t == c.ctrType)
}

// criType maps a CRI runtime name to a container type.
func criType(runtimeName, def string) string {
	switch runtimeName {
	case "containerd":
		return TypeContainerd
	case "cri-o":
		return TypeCRIO
	}
	if def == TypeCRIO {
		return TypeCRIO
	}
	return TypeCRI
}

const criPoll = time.Second

func (c *criClient) watch(ctx context.Context, s *clientSink) error {
	if _, err := os.Stat(c.sock); err != nil {
		return fmt.Errorf("cri: %w", err)
	}
	conn, err := grpc.Dial("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("cri: connect %s: %w", c.sock, err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	ver, err := rt.Version(vctx, &runtimeapi.VersionRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("cri: version: %w", err)
	}
	c.mu.Lock()
	c.rt = rt
	c.ctrType = criType(ver.RuntimeName, c.typ)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.rt = nil
		c.mu.Unlock()
	}()
	seen := map[string]bool{}
	first := true
	t := time.NewTicker(criPoll)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := rt.ListContainers(lctx, &runtimeapi.ListContainersRequest{})
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("cri: list containers: %w", err)
		}
		now := make(map[string]bool, len(list.Containers))
		for _, lc := range list.Containers {
			now[lc.Id] = true
			if seen[lc.Id] {
				continue
			}
			if ct, err := c.status(lctx, rt, lc.Id); err == nil {
				s.Put(ct)
			}
		}
		cancel()
		for id := range seen {
			if !now[id] {
				s.Delete(id)
			}
		}
		seen = now
		if first {
			s.Connected(ver.RuntimeName + " " + ver.RuntimeVersion)
			first = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *criClient) inspect(ctx context.Context, info PathInfo) (*event.Container, error) {
	c.mu.Lock()
	rt := c.rt
	c.mu.Unlock()
	if rt == nil {
		return nil, ErrNotConnected
	}
	return c.status(ctx, rt, info.ID)
}

// criInfo is the part of the verbose ContainerStatus "info" JSON that
// containerd and CRI-O both provide.
type criInfo struct {
	Pid        int  `json:"pid"`
	Privileged bool `json:"privileged"`
}

func (c *criClient) status(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) (*event.Container, error) {
	resp, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if status.Code(err) == codes.NotFound {
		return nil, fmt.Errorf("cri: container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("cri: container %s: %w", id, err)
	}
	st := resp.Status
	if st == nil {
		return nil, fmt.Errorf("cri: container %s: %w", id, ErrNotFound)
	}
	c.mu.Lock()
	typ := c.ctrType
	c.mu.Unlock()
	ct := &event.Container{ID: shortID(st.Id), FullID: st.Id, Type: typ, MetadataKnown: true, Labels: st.Labels}
	if st.Metadata != nil {
		ct.Name = st.Metadata.Name
	}
	if st.Image != nil {
		setImage(ct, st.Image.Image)
	}
	if _, d, ok := strings.Cut(st.ImageRef, "@"); ok && ct.Digest == "" {
		ct.Digest = d
	}
	for _, m := range st.Mounts {
		mode := "rw"
		if m.Readonly {
			mode = "ro"
		}
		prop := "rprivate"
		switch m.Propagation {
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			prop = "rslave"
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			prop = "rshared"
		}
		ct.Mounts = append(ct.Mounts, event.Mount{Source: m.HostPath, Destination: m.ContainerPath, Mode: mode, RW: !m.Readonly, Propagation: prop})
	}
	var info criInfo
	if raw := resp.Info["info"]; raw != "" && json.Unmarshal([]byte(raw), &info) == nil {
		ct.Privileged = info.Privileged
		if info.Pid > 0 {
			if ts, err := ProcStartTime(uint32(info.Pid)); err == nil {
				ct.StartTS = ts
			}
		}
	}
	if ct.StartTS == 0 && st.StartedAt > 0 {
		ct.StartTS = st.StartedAt
	}
	var podLabels map[string]string
	if sb := st.Labels["io.kubernetes.sandbox.id"]; sb != "" {
		podLabels = c.sandboxLabels(ctx, rt, sb)
		ct.PodSandboxID = sb
	} else if list, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: id}}); err == nil && len(list.Containers) == 1 {
		podLabels = c.sandboxLabels(ctx, rt, list.Containers[0].PodSandboxId)
		ct.PodSandboxID = list.Containers[0].PodSandboxId
	}
	setPod(ct, st.Labels, podLabels)
	return ct, nil
}

func (c *criClient) sandboxLabels(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) map[string]string {
	if id == "" {
		return nil
	}
	resp, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || resp.Status == nil {
		return nil
	}
	return resp.Status.Labels
}
