package containertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// Socket is containerd's default socket.
const Socket = "/run/containerd/containerd.sock"

// Namespace is the containerd namespace the harness runs containers in.
const Namespace = "vigiltest"

// ContainerdLog is where a daemon started by StartContainerd logs.
const ContainerdLog = "/tmp/vigil-containerd.log"

// startLock serialises daemon start-up between test binaries.
const startLock = "/tmp/vigil-containerd.lock"

// StartContainerd makes sure a containerd daemon answers on Socket, starting
// one (detached, left running) when none does. It skips the test without
// root or without the containerd binary. It returns the socket path.
func StartContainerd(tb testing.TB) string {
	tb.Helper()
	testkernel.RequireRoot(tb)
	if dialOK(Socket) {
		return Socket
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		testkernel.Skip(tb, "containerd not installed: "+err.Error())
	}
	if _, err := exec.LookPath("runc"); err != nil {
		testkernel.Skip(tb, "runc not installed: "+err.Error())
	}
	lock, err := os.OpenFile(startLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatalf("open %s: %v", startLock, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatalf("lock %s: %v", startLock, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if dialOK(Socket) {
		return Socket
	}
	if err := startDaemon(bin); err != nil {
		tb.Fatalf("start containerd: %v", err)
	}
	return Socket
}

// noInheritedFDs marks every descriptor above stderr close-on-exec, so a
// daemon the tests leave running inherits none of the test process's: a
// lock file held by the `flock` wrapping `go test` (the shared
// enforcement lock) would otherwise stay locked as long as the daemon runs.
func noInheritedFDs() {
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}

// startDaemon starts containerd detached and waits until its socket answers.
func startDaemon(bin string) error {
	logf, err := os.OpenFile(ContainerdLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	noInheritedFDs()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("containerd exited (%v), see %s", err, ContainerdLog)
		default:
		}
		if dialOK(Socket) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("containerd socket %s not answering after 20s, see %s", Socket, ContainerdLog)
}

func dialOK(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Env is a connection to containerd with the test image imported.
type Env struct {
	Client    *containerd.Client
	Namespace string
	Image     containerd.Image
	// ImageName is the reference the image was imported under.
	ImageName string
	// ImageDigest is the image's manifest digest.
	ImageDigest string
}

var (
	importMu sync.Mutex
	imported = map[string]string{} // namespace -> digest, per test binary
)

// New starts containerd if needed, connects, and imports the busybox image
// into the harness namespace. The client is closed by t.Cleanup.
func New(tb testing.TB) *Env {
	tb.Helper()
	sock := StartContainerd(tb)
	client, err := containerd.New(sock, containerd.WithDefaultNamespace(Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		tb.Fatalf("connect containerd: %v", err)
	}
	tb.Cleanup(func() { client.Close() })
	ctx := namespaces.WithNamespace(context.Background(), Namespace)
	digest, err := ImportImage(ctx, client, ImageName)
	if err != nil {
		tb.Fatalf("import test image: %v", err)
	}
	img, err := client.GetImage(ctx, ImageName)
	if err != nil {
		tb.Fatalf("get test image: %v", err)
	}
	return &Env{Client: client, Namespace: Namespace, Image: img, ImageName: ImageName, ImageDigest: digest}
}

// ImportImage builds the busybox image, imports it into the namespace of
// ctx under ref and unpacks it for the default snapshotter. It returns the
// manifest digest. Importing again is cheap: the content is shared.
func ImportImage(ctx context.Context, client *containerd.Client, ref string) (string, error) {
	ns, _ := namespaces.Namespace(ctx)
	importMu.Lock()
	defer importMu.Unlock()
	if d, ok := imported[ns+"\x00"+ref]; ok {
		return d, nil
	}
	d, err := importFresh(ctx, client, ref, nil)
	if err == nil {
		imported[ns+"\x00"+ref] = d
	}
	return d, err
}

// importFresh imports and unpacks the image without the per-binary cache.
// cmd is the image's default command (nil: sh).
func importFresh(ctx context.Context, client *containerd.Client, ref string, cmd []string) (string, error) {
	if cmd == nil {
		cmd = []string{"sh"}
	}
	var buf bytes.Buffer
	digest, err := BuildImageCmd(&buf, ref, cmd)
	if err != nil {
		return "", err
	}
	imgs, err := client.Import(ctx, &buf)
	if err != nil {
		return "", fmt.Errorf("import %s: %w", ref, err)
	}
	for _, i := range imgs {
		if i.Name != ref {
			continue
		}
		if err := containerd.NewImage(client, i).Unpack(ctx, ""); err != nil {
			return "", fmt.Errorf("unpack %s: %w", ref, err)
		}
		return digest, nil
	}
	return "", fmt.Errorf("import %s: image not in archive", ref)
}

// Spec describes a container to run.
type Spec struct {
	ID          string            // default: 64 random hex digits
	Args        []string          // default: sleep 3600
	Labels      map[string]string // containerd container labels
	Annotations map[string]string // OCI spec annotations
	Privileged  bool
	Mounts      []specs.Mount // extra bind mounts
	HostNetwork bool
	Env         []string
	// NoStart creates the task without starting it (Start does).
	NoStart bool
	// ReadOnly gives the container a read-only view of the image instead
	// of a writable snapshot (cheaper to create and remove).
	ReadOnly bool
}

// PodLabels returns the labels kubelet puts on a container of pod
// namespace/name, plus extra (the pod's own labels).
func PodLabels(namespace, name, uid, container string, extra map[string]string) map[string]string {
	l := map[string]string{
		"io.kubernetes.pod.name":       name,
		"io.kubernetes.pod.namespace":  namespace,
		"io.kubernetes.pod.uid":        uid,
		"io.kubernetes.container.name": container,
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// Container is a running (or exited) containerd container.
type Container struct {
	ID         string
	Namespace  string
	PID        uint32 // the task's init process
	CgroupPath string // cgroup path from the OCI spec (v2 path on this host)
	Container  containerd.Container
	Task       containerd.Task

	env    *Env
	exitCh <-chan containerd.ExitStatus
	out    *syncBuffer
}

// NewID returns a random 64-hex-digit container id.
func NewID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// Run creates and starts a container; t.Cleanup kills and deletes it.
func (e *Env) Run(tb testing.TB, s Spec) *Container {
	tb.Helper()
	c, err := e.Create(context.Background(), s)
	if err != nil {
		tb.Fatalf("run container: %v", err)
	}
	tb.Cleanup(func() { c.Delete() })
	if !s.NoStart {
		if err := c.Start(); err != nil {
			tb.Fatalf("start container %s: %v", c.ID, err)
		}
	}
	return c
}

// Create creates the container and its task (not started). The caller
// must Delete it.
func (e *Env) Create(ctx context.Context, s Spec) (*Container, error) {
	ctx = namespaces.WithNamespace(ctx, e.Namespace)
	if s.ID == "" {
		s.ID = NewID()
	}
	args := s.Args
	if len(args) == 0 {
		args = []string{"sleep", "3600"}
	}
	opts := []oci.SpecOpts{oci.WithImageConfig(e.Image), oci.WithProcessArgs(args...)}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	}
	if len(s.Mounts) > 0 {
		opts = append(opts, oci.WithMounts(s.Mounts))
	}
	if s.HostNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf)
	}
	if len(s.Annotations) > 0 {
		opts = append(opts, oci.WithAnnotations(s.Annotations))
	}
	snap := containerd.WithNewSnapshot(s.ID+"-snapshot", e.Image)
	if s.ReadOnly {
		snap = containerd.WithNewSnapshotView(s.ID+"-snapshot", e.Image)
		opts = append(opts, oci.WithRootFSReadonly())
	}
	cont, err := e.Client.NewContainer(ctx, s.ID,
		containerd.WithImage(e.Image),
		snap,
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(s.Labels),
	)
	if err != nil {
		return nil, fmt.Errorf("new container %s: %w", s.ID, err)
	}
	c := &Container{ID: s.ID, Namespace: e.Namespace, Container: cont, env: e, out: &syncBuffer{}}
	spec, err := cont.Spec(ctx)
	if err != nil {
		c.Delete()
		return nil, fmt.Errorf("spec of %s: %w", s.ID, err)
	}
	if spec.Linux != nil {
		c.CgroupPath = spec.Linux.CgroupsPath
	}
	task, err := cont.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, c.out, c.out)))
	if err != nil {
		c.Delete()
		return nil, fmt.Errorf("new task %s: %w", s.ID, err)
	}
	c.Task = task
	c.PID = task.Pid()
	exitCh, err := task.Wait(ctx)
	if err != nil {
		c.Delete()
		return nil, fmt.Errorf("wait task %s: %w", s.ID, err)
	}
	c.exitCh = exitCh
	return c, nil
}

// Start starts the container's task.
func (c *Container) Start() error {
	ctx := namespaces.WithNamespace(context.Background(), c.Namespace)
	if err := c.Task.Start(ctx); err != nil {
		return fmt.Errorf("start task %s: %w", c.ID, err)
	}
	return nil
}

// Output returns what the container wrote to stdout and stderr so far.
func (c *Container) Output() string { return c.out.String() }

// ErrTimeout is returned by WaitExit when the container outlives the timeout.
var ErrTimeout = errors.New("container did not exit in time")

// WaitExit waits for the task to exit and returns its exit status.
func (c *Container) WaitExit(timeout time.Duration) (uint32, error) {
	select {
	case st := <-c.exitCh:
		code, _, err := st.Result()
		return code, err
	case <-time.After(timeout):
		return 0, ErrTimeout
	}
}

// Wait is WaitExit that fails the test on error.
func (c *Container) Wait(tb testing.TB, timeout time.Duration) uint32 {
	tb.Helper()
	code, err := c.WaitExit(timeout)
	if err != nil {
		tb.Fatalf("wait container %s: %v (output %q)", c.ID, err, c.Output())
	}
	return code
}

// Delete kills the task, deletes it and the container with its snapshot.
// It is idempotent.
func (c *Container) Delete() error {
	ctx := namespaces.WithNamespace(context.Background(), c.Namespace)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var errs []error
	if c.Task != nil {
		if st, err := c.Task.Status(ctx); err == nil && st.Status != containerd.Stopped {
			_ = c.Task.Kill(ctx, syscall.SIGKILL)
			select {
			case <-c.exitCh:
			case <-ctx.Done():
			}
		}
		if _, err := c.Task.Delete(ctx, containerd.WithProcessKill); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task %s: %w", c.ID, err))
		}
		c.Task = nil
	}
	if c.Container != nil {
		if err := c.Container.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", c.ID, err))
		}
		c.Container = nil
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool { return errdefs.IsNotFound(err) }

// CgroupDir returns the container's cgroup v2 directory on this host.
func (c *Container) CgroupDir(v2root string) string { return filepath.Join(v2root, c.CgroupPath) }

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Daemon is a private containerd instance (own socket, root and state
// directories, no CRI plugin) that a test may stop and restart without
// disturbing the shared daemon.
type Daemon struct {
	Socket string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartPrivateContainerd starts a private containerd; t.Cleanup stops it
// and removes its containers' state.
func StartPrivateContainerd(tb testing.TB) *Daemon {
	tb.Helper()
	return startPrivate(tb, false)
}

// StartPrivateContainerdCRI is StartPrivateContainerd with the CRI plugin
// on (restrict_oom_score_adj, so that pods start on hosts whose bounding
// set lacks CAP_SYS_RESOURCE; no CNI: pods use host networking).
func StartPrivateContainerdCRI(tb testing.TB) *Daemon {
	tb.Helper()
	return startPrivate(tb, true)
}

func startPrivate(tb testing.TB, cri bool) *Daemon {
	tb.Helper()
	testkernel.RequireRoot(tb)
	if _, err := exec.LookPath("containerd"); err != nil {
		testkernel.Skip(tb, "containerd not installed: "+err.Error())
	}
	dir, err := os.MkdirTemp("", "vigil-ctrd-")
	if err != nil {
		tb.Fatal(err)
	}
	d := &Daemon{Socket: filepath.Join(dir, "c.sock"), dir: dir}
	plugins := `disabled_plugins = ["io.containerd.grpc.v1.cri"]`
	if cri {
		plugins = `[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "` + PauseImage + `"`
	}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
%s
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), plugins, d.Socket, d.Socket+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		d.Stop()
		os.RemoveAll(dir)
	})
	if err := d.Start(); err != nil {
		tb.Fatal(err)
	}
	return d
}

// Start starts the daemon (again) and waits for its socket.
func (d *Daemon) Start() error {
	logf, err := os.OpenFile(filepath.Join(d.dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("containerd", "--config", filepath.Join(d.dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start private containerd: %w", err)
	}
	d.cmd = cmd
	d.exited = make(chan struct{})
	go func(ch chan struct{}) { cmd.Wait(); close(ch) }(d.exited)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			log, _ := os.ReadFile(filepath.Join(d.dir, "containerd.log"))
			return fmt.Errorf("private containerd exited: %s", log)
		default:
		}
		if dialOK(d.Socket) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("private containerd socket %s not answering", d.Socket)
}

// Stop stops the daemon (SIGTERM, then SIGKILL after 10s). Running
// containers' shims survive, as with a real daemon restart.
func (d *Daemon) Stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// Dir is the daemon's private directory (root, state, log).
func (d *Daemon) Dir() string { return d.dir }

// NewEnv connects to the containerd at socket (which must be running) and
// imports the busybox image, like New does for the shared daemon.
func NewEnv(tb testing.TB, socket string) *Env {
	tb.Helper()
	client, err := containerd.New(socket, containerd.WithDefaultNamespace(Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		tb.Fatalf("connect containerd %s: %v", socket, err)
	}
	tb.Cleanup(func() { client.Close() })
	ctx := namespaces.WithNamespace(context.Background(), Namespace)
	digest, err := importFresh(ctx, client, ImageName, nil)
	if err != nil {
		tb.Fatalf("import test image: %v", err)
	}
	img, err := client.GetImage(ctx, ImageName)
	if err != nil {
		tb.Fatalf("get test image: %v", err)
	}
	return &Env{Client: client, Namespace: Namespace, Image: img, ImageName: ImageName, ImageDigest: digest}
}

// CgroupID returns the container's cgroup v2 id: what the sensor reports
// as Event.CgroupID (bpf_get_current_cgroup_id) for its processes.
func (c *Container) CgroupID() (uint64, error) {
	root, err := host.Cgroup2Root()
	if err != nil {
		return 0, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, c.CgroupPath), &st); err != nil {
		return 0, fmt.Errorf("stat cgroup of %s: %w", c.ID, err)
	}
	return st.Ino, nil
}

// Exec runs args in the running container (as `ctr task exec` does) and
// returns its exit code and combined output.
func (c *Container) Exec(tb testing.TB, timeout time.Duration, args ...string) (uint32, string) {
	tb.Helper()
	ctx := namespaces.WithNamespace(context.Background(), c.Namespace)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	spec, err := c.Container.Spec(ctx)
	if err != nil {
		tb.Fatalf("exec in %s: spec: %v", c.ID, err)
	}
	pspec := spec.Process
	pspec.Args = args
	pspec.Terminal = false
	out := &syncBuffer{}
	execID := "exec-" + NewID()[:12]
	p, err := c.Task.Exec(ctx, execID, pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		tb.Fatalf("exec in %s: %v", c.ID, err)
	}
	defer p.Delete(context.WithoutCancel(ctx))
	ch, err := p.Wait(ctx)
	if err != nil {
		tb.Fatalf("exec in %s: wait: %v", c.ID, err)
	}
	if err := p.Start(ctx); err != nil {
		tb.Fatalf("exec in %s: start: %v", c.ID, err)
	}
	select {
	case st := <-ch:
		code, _, _ := st.Result()
		// Let the copy goroutines drain the pipes.
		p.CloseIO(ctx, containerd.WithStdinCloser)
		if io := p.IO(); io != nil {
			io.Wait()
		}
		return code, out.String()
	case <-ctx.Done():
		tb.Fatalf("exec in %s: %v", c.ID, ctx.Err())
	}
	return 0, ""
}
