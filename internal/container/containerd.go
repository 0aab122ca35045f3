package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/vigilsec/vigil/internal/event"
)

// containerdClient reads containers of every containerd namespace except
// "moby" (Docker's, served by the Docker client), including the CRI
// plugin's "k8s.io".
type containerdClient struct {
	sock string

	mu     sync.Mutex
	client *containerd.Client
	images map[string]string // namespace/image -> manifest digest
}

func newContainerdClient(sock string) *containerdClient {
	return &containerdClient{sock: sock, images: map[string]string{}}
}

func (c *containerdClient) name() string   { return TypeContainerd }
func (c *containerdClient) socket() string { return c.sock }
func (c *containerdClient) handles(t string) bool {
	return t == TypeContainerd || t == TypeCRI
}

// skipNamespace is Docker's containerd namespace: its containers carry no
// image or labels there.
const skipNamespace = "moby"

// containerdTopics are the events the client follows.
var containerdTopics = []string{
	`topic=="/containers/create"`, `topic=="/containers/update"`, `topic=="/containers/delete"`,
	`topic=="/tasks/create"`, `topic=="/tasks/start"`,
}

func (c *containerdClient) watch(ctx context.Context, s *clientSink) error {
	if _, err := os.Stat(c.sock); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	cl, err := containerd.New(c.sock, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("containerd: connect %s: %w", c.sock, err)
	}
	defer cl.Close()
	vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	ver, err := cl.Version(vctx)
	cancel()
	if err != nil {
		return fmt.Errorf("containerd: version: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	// Subscribe before listing so that nothing created in between is lost.
	evCh, errCh := cl.Subscribe(sctx, containerdTopics...)
	c.mu.Lock()
	c.client = cl
	c.images = map[string]string{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.client = nil
		c.mu.Unlock()
	}()
	if err := c.list(ctx, cl, s); err != nil {
		return err
	}
	s.Connected(ver.Version)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errCh:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("containerd: events: %w", err)
		case env := <-evCh:
			if env == nil || env.Event == nil {
				continue
			}
			if env.Namespace == skipNamespace && env.Topic != "/tasks/create" {
				// Docker's containers: only their start time, which
				// Docker's create event cannot carry yet.
				continue
			}
			c.handle(ctx, cl, s, env.Namespace, env.Topic, env.Event.GetValue())
		}
	}
}

func (c *containerdClient) handle(ctx context.Context, cl *containerd.Client, s *clientSink, ns, topic string, payload []byte) {
	nctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, ns), 2*time.Second)
	defer cancel()
	switch topic {
	case "/containers/create", "/containers/update":
		var id string
		if topic == "/containers/create" {
			var ev apievents.ContainerCreate
			if proto.Unmarshal(payload, &ev) != nil {
				return
			}
			id = ev.ID
		} else {
			var ev apievents.ContainerUpdate
			if proto.Unmarshal(payload, &ev) != nil {
				return
			}
			id = ev.ID
		}
		if id == "" {
			return
		}
		if ct, err := c.get(nctx, cl, ns, id, topic == "/containers/update"); err == nil {
			s.Put(ct)
		}
	case "/tasks/create", "/tasks/start":
		var id string
		var pid uint32
		if topic == "/tasks/create" {
			var ev apievents.TaskCreate
			if proto.Unmarshal(payload, &ev) != nil {
				return
			}
			id, pid = ev.ContainerID, ev.Pid
		} else {
			var ev apievents.TaskStart
			if proto.Unmarshal(payload, &ev) != nil {
				return
			}
			id, pid = ev.ContainerID, ev.Pid
		}
		if ts, err := ProcStartTime(pid); err == nil && pid != 0 {
			s.StartTS(id, ts)
		}
	case "/containers/delete":
		var ev apievents.ContainerDelete
		if proto.Unmarshal(payload, &ev) == nil && ev.ID != "" {
			s.Delete(ev.ID)
		}
	}
}

// list reports the containers of every namespace.
func (c *containerdClient) list(ctx context.Context, cl *containerd.Client, s *clientSink) error {
	nss, err := cl.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("containerd: list namespaces: %w", err)
	}
	for _, ns := range nss {
		if ns == skipNamespace {
			continue
		}
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := cl.ContainerService().List(nctx)
		if err != nil {
			return fmt.Errorf("containerd: list containers of %s: %w", ns, err)
		}
		pids := map[string]uint32{}
		if resp, err := cl.TaskService().List(nctx, &tasks.ListTasksRequest{}); err == nil {
			for _, t := range resp.Tasks {
				pids[t.ID] = t.Pid
			}
		}
		for i := range cs {
			ct := c.build(nctx, cl, ns, &cs[i], pids[cs[i].ID])
			s.Put(ct)
		}
	}
	return nil
}

func (c *containerdClient) inspect(ctx context.Context, info PathInfo) (*event.Container, error) {
	c.mu.Lock()
	cl := c.client
	c.mu.Unlock()
	if cl == nil {
		return nil, ErrNotConnected
	}
	var nss []string
	switch {
	case info.Namespace != "":
		nss = []string{info.Namespace}
	case info.Type == TypeCRI:
		nss = []string{"k8s.io"}
	default:
		all, err := cl.NamespaceService().List(ctx)
		if err != nil {
			return nil, fmt.Errorf("containerd: list namespaces: %w", err)
		}
		nss = all
	}
	for _, ns := range nss {
		if ns == skipNamespace {
			continue
		}
		ct, err := c.get(namespaces.WithNamespace(ctx, ns), cl, ns, info.ID, true)
		if err == nil {
			return ct, nil
		}
		if !errdefs.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, ErrNotFound
}

// get fetches one container (and its task's pid when withTask).
func (c *containerdClient) get(ctx context.Context, cl *containerd.Client, ns, id string, withTask bool) (*event.Container, error) {
	cc, err := cl.ContainerService().Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("containerd: get container %s/%s: %w", ns, id, err)
	}
	var pid uint32
	if withTask {
		if resp, err := cl.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id}); err == nil && resp.Process != nil {
			pid = resp.Process.Pid
		}
	}
	return c.build(ctx, cl, ns, &cc, pid), nil
}

// build turns a containerd container record into an event.Container.
func (c *containerdClient) build(ctx context.Context, cl *containerd.Client, ns string, cc *containers.Container, pid uint32) *event.Container {
	ct := &event.Container{
		ID: shortID(cc.ID), FullID: cc.ID, Type: TypeContainerd, MetadataKnown: true,
		Name: containerdName(cc), Labels: cc.Labels,
	}
	if cc.Image != "" {
		setImage(ct, cc.Image)
		if ct.Digest == "" {
			ct.Digest = c.imageDigest(ctx, cl, ns, cc.Image)
		}
	}
	var spec specs.Spec
	if cc.Spec != nil && json.Unmarshal(cc.Spec.GetValue(), &spec) == nil {
		ct.Privileged = SpecPrivileged(&spec)
		ct.Mounts = SpecMounts(&spec)
		if spec.Linux != nil && strings.HasPrefix(spec.Linux.CgroupsPath, "/") {
			ct.CgroupPath = spec.Linux.CgroupsPath
		}
	}
	var podLabels map[string]string
	if sb := spec.Annotations[AnnotationSandboxID]; sb != "" && sb != cc.ID {
		ct.PodSandboxID = sb
		if sc, err := cl.ContainerService().Get(ctx, sb); err == nil {
			podLabels = sc.Labels
		}
	}
	setPod(ct, cc.Labels, podLabels)
	if pid != 0 {
		if ts, err := ProcStartTime(pid); err == nil {
			ct.StartTS = ts
		}
	}
	return ct
}

// containerdName is the name a user gave: nerdctl's and kubelet's labels,
// else the id (ctr uses the id as the container's name).
func containerdName(cc *containers.Container) string {
	if n := cc.Labels["nerdctl/name"]; n != "" {
		return n
	}
	if n := cc.Labels[LabelContainerName]; n != "" {
		return n
	}
	return cc.ID
}

func (c *containerdClient) imageDigest(ctx context.Context, cl *containerd.Client, ns, ref string) string {
	key := ns + "/" + ref
	c.mu.Lock()
	d, ok := c.images[key]
	c.mu.Unlock()
	if ok {
		return d
	}
	img, err := cl.ImageService().Get(ctx, ref)
	if err != nil {
		return ""
	}
	d = img.Target.Digest.String()
	c.mu.Lock()
	c.images[key] = d
	c.mu.Unlock()
	return d
}
