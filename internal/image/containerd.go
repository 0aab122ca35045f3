package image

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/namespaces"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Containerd defaults.
const (
	DefaultContainerdAddress   = "/run/containerd/containerd.sock"
	DefaultContainerdNamespace = "default"
)

// ContainerdOptions selects the containerd instance. Nil means defaults.
type ContainerdOptions struct {
	Address   string // default DefaultContainerdAddress
	Namespace string // default DefaultContainerdNamespace; RunningContainers: "" lists all
	Timeout   time.Duration
}

func (o *ContainerdOptions) address() string {
	if o == nil || o.Address == "" {
		return DefaultContainerdAddress
	}
	return o.Address
}

func (o *ContainerdOptions) namespace() string {
	if o == nil || o.Namespace == "" {
		return DefaultContainerdNamespace
	}
	return o.Namespace
}

func (o *ContainerdOptions) dial() (*containerd.Client, error) {
	timeout := 10 * time.Second
	if o != nil && o.Timeout > 0 {
		timeout = o.Timeout
	}
	c, err := containerd.New(o.address(), containerd.WithTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", o.address(), err)
	}
	return c, nil
}

// contentStore reads blobs from containerd's content store.
type contentStore struct {
	ctx context.Context
	cs  content.Store
}

func (s contentStore) open(name string) (io.ReadCloser, error) {
	rest, ok := strings.CutPrefix(name, "blobs/")
	alg, hexd, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return nil, fmt.Errorf("containerd content: %s is not a blob", name)
	}
	d, err := digest.Parse(alg + ":" + hexd)
	if err != nil {
		return nil, fmt.Errorf("containerd content: %w", err)
	}
	ra, err := s.cs.ReaderAt(s.ctx, ocispec.Descriptor{Digest: d})
	if err != nil {
		return nil, fmt.Errorf("containerd content %s: %w", d, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(ra, 0, ra.Size()), ra}, nil
}

// OpenContainerd opens the image called name (as `ctr images ls` shows it)
// from containerd's content store, without unpacking or pulling.
func OpenContainerd(ctx context.Context, name string, opts *ContainerdOptions) (*Image, error) {
	client, err := opts.dial()
	if err != nil {
		return nil, err
	}
	img, err := openFromClient(ctx, client, opts.namespace(), name)
	if err != nil {
		client.Close()
		return nil, err
	}
	img.closers = append(img.closers, client)
	return img, nil
}

func openFromClient(ctx context.Context, client *containerd.Client, ns, name string) (*Image, error) {
	ctx = namespaces.WithNamespace(ctx, ns)
	rec, err := client.ImageService().Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("containerd image %s (namespace %s): %w", name, ns, err)
	}
	store := contentStore{ctx: ctx, cs: client.ContentStore()}
	desc, err := pickManifest(store, []descriptor{{MediaType: rec.Target.MediaType, Digest: rec.Target.Digest.String(), Size: rec.Target.Size}}, 0)
	if err != nil {
		return nil, fmt.Errorf("containerd image %s: %w", name, err)
	}
	img := &Image{Source: SourceContainerd, Target: "containerd://" + name, Name: name}
	if err := img.loadManifest(store, desc.Digest); err != nil {
		return nil, fmt.Errorf("containerd image %s: %w", name, err)
	}
	if err := img.buildIndex(); err != nil {
		return nil, err
	}
	return img, nil
}

// RunningContainer is a container whose task is running.
type RunningContainer struct {
	ID        string
	Namespace string
	Image     string // image name the container was created from
	PID       uint32
}

// RunningContainers lists the running containers of containerd (one
// namespace, or all when opts.Namespace is empty).
func RunningContainers(ctx context.Context, opts *ContainerdOptions) ([]RunningContainer, error) {
	client, err := opts.dial()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	return runningContainers(ctx, client, opts)
}

func runningContainers(ctx context.Context, client *containerd.Client, opts *ContainerdOptions) ([]RunningContainer, error) {
	var nss []string
	if opts != nil && opts.Namespace != "" {
		nss = []string{opts.Namespace}
	} else {
		var err error
		nss, err = client.NamespaceService().List(ctx)
		if err != nil {
			return nil, fmt.Errorf("list containerd namespaces: %w", err)
		}
	}
	var out []RunningContainer
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := client.Containers(nctx)
		if err != nil {
			return nil, fmt.Errorf("list containers in %s: %w", ns, err)
		}
		for _, c := range cs {
			task, err := c.Task(nctx, nil)
			if err != nil {
				continue // no task: created or stopped
			}
			st, err := task.Status(nctx)
			if err != nil || st.Status != containerd.Running {
				continue
			}
			info, err := c.Info(nctx, containerd.WithoutRefreshedMetadata)
			if err != nil {
				continue
			}
			out = append(out, RunningContainer{ID: c.ID(), Namespace: ns, Image: info.Image, PID: task.Pid()})
		}
	}
	return out, nil
}

// Scanner gives the agent access to the images of running containers: it
// lists them, opens their images from the content store and caches one
// FileIndex per (namespace, image) for drift detection (IsInImage on exec).
// It is safe for concurrent use; Close releases the connection.
type Scanner struct {
	opts   ContainerdOptions
	mu     sync.Mutex
	client *containerd.Client
	cache  map[string]*FileIndex
}

// NewScanner returns a Scanner for the containerd instance of opts (nil:
// defaults; an empty Namespace means every namespace for Running).
func NewScanner(opts *ContainerdOptions) *Scanner {
	s := &Scanner{cache: map[string]*FileIndex{}}
	if opts != nil {
		s.opts = *opts
	}
	return s
}

func (s *Scanner) conn() (*containerd.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	c, err := s.opts.dial()
	if err != nil {
		return nil, err
	}
	s.client = c
	return c, nil
}

// Close closes the containerd connection.
func (s *Scanner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.client = nil
	return err
}

// Running lists running containers.
func (s *Scanner) Running(ctx context.Context) ([]RunningContainer, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	return runningContainers(ctx, c, &s.opts)
}

// Open opens image name in namespace ns; the caller closes it (the shared
// connection stays open).
func (s *Scanner) Open(ctx context.Context, ns, name string) (*Image, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	if ns == "" {
		ns = s.opts.namespace()
	}
	return openFromClient(ctx, c, ns, name)
}

// FileIndex returns the (cached) file index of image name in namespace ns.
func (s *Scanner) FileIndex(ctx context.Context, ns, name string) (*FileIndex, error) {
	key := ns + "\x00" + name
	s.mu.Lock()
	x, ok := s.cache[key]
	s.mu.Unlock()
	if ok {
		return x, nil
	}
	img, err := s.Open(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	img.Close()
	s.mu.Lock()
	s.cache[key] = img.Files
	s.mu.Unlock()
	return img.Files, nil
}

// Forget drops a cached index (e.g. when the image name is re-tagged).
func (s *Scanner) Forget(ns, name string) {
	s.mu.Lock()
	delete(s.cache, ns+"\x00"+name)
	s.mu.Unlock()
}
