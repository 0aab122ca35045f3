package container_test

import (
	"context"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// startManager runs a Manager with only the given runtimes enabled and
// waits until every enabled client is connected.
func startManager(t *testing.T, opts container.Options, wantConnected ...string) *container.Manager {
	t.Helper()
	for _, p := range []*string{&opts.ContainerdSocket, &opts.DockerSocket, &opts.PodmanSocket, &opts.CRIOSocket, &opts.RuncRoot} {
		if *p == "" {
			*p = container.Disabled
		}
	}
	m, err := container.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitConnected(t, m, true, wantConnected...)
	return m
}

func waitConnected(t *testing.T, m *container.Manager, want bool, names ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, n := range names {
			for _, st := range m.Runtimes() {
				if st.Name == n && st.Connected != want {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtimes %v never reached connected=%v: %+v", names, want, m.Runtimes())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cgroupID(t *testing.T, path string) uint64 {
	t.Helper()
	root, err := host.Cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	id, err := container.CgroupID(root, path)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestResolveContainerd(t *testing.T) {
	env := containertest.New(t)
	m := startManager(t, container.Options{ContainerdSocket: containertest.Socket}, container.TypeContainerd)

	labels := containertest.PodLabels("payments", "web-7d9f", "6a1b2c3d-1111-2222-3333-444455556666", "nginx", map[string]string{"app": "web", "tier": "front"})
	before := time.Now().UnixNano()
	c := env.Run(t, containertest.Spec{Labels: labels})
	cg := cgroupID(t, c.CgroupPath)

	for _, tc := range []struct {
		name string
		cg   uint64
		pid  uint32
	}{{"by cgroup", cg, 0}, {"by pid", 0, c.PID}, {"both", cg, c.PID}} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.Resolve(tc.cg, tc.pid)
			if got.FullID != c.ID || got.ID != c.ID[:12] || got.Type != container.TypeContainerd {
				t.Fatalf("resolved %q/%q type %q, want %q", got.ID, got.FullID, got.Type, c.ID)
			}
			if !got.MetadataKnown {
				t.Fatalf("metadata unknown: %+v", got)
			}
			if got.Image != containertest.ImageName || got.Repository != "docker.io/vigiltest/busybox" || got.Tag != "1.0" || got.Digest != env.ImageDigest {
				t.Fatalf("image %q repo %q tag %q digest %q; want %s digest %s", got.Image, got.Repository, got.Tag, got.Digest, containertest.ImageName, env.ImageDigest)
			}
			if got.PodName != "web-7d9f" || got.PodNamespace != "payments" || got.PodUID != "6a1b2c3d-1111-2222-3333-444455556666" || got.Name != "nginx" {
				t.Fatalf("pod %q/%q uid %q name %q", got.PodNamespace, got.PodName, got.PodUID, got.Name)
			}
			if len(got.PodLabels) != 2 || got.PodLabels["app"] != "web" || got.PodLabels["tier"] != "front" {
				t.Fatalf("pod labels %v", got.PodLabels)
			}
			if got.Labels["io.kubernetes.pod.name"] != "web-7d9f" {
				t.Fatalf("labels %v", got.Labels)
			}
			// start_ts is the container init's start: after we asked for it, not in the future.
			if got.StartTS < before-int64(20*time.Millisecond) || got.StartTS > time.Now().UnixNano() {
				t.Fatalf("StartTS %d outside [%d, now]", got.StartTS, before)
			}
			if got.Privileged {
				t.Fatal("default container reported privileged")
			}
			if got.CgroupPath != c.CgroupPath {
				t.Fatalf("cgroup path %q, want %q", got.CgroupPath, c.CgroupPath)
			}
		})
	}

	// Host processes: the v2 root and this test's own process.
	if h := m.Resolve(cgroupID(t, "/"), uint32(os.Getpid())); h.ID != "host" || h.Type != container.TypeHost {
		t.Fatalf("host resolved to %+v", h)
	}
	if h := m.Resolve(0, uint32(os.Getpid())); h.ID != "host" {
		t.Fatalf("host pid resolved to %+v", h)
	}
	if h := m.Resolve(cgroupID(t, "/"), uint32(os.Getpid())); h != m.Host() {
		t.Fatal("host containers are not the shared one")
	}

	// Cache hits do not allocate (by cgroup, and by pid within its TTL).
	if n := testing.AllocsPerRun(1000, func() { m.Resolve(cg, c.PID) }); n != 0 {
		t.Fatalf("Resolve cache hit allocates %v times", n)
	}
	m.Resolve(0, c.PID)
	if n := testing.AllocsPerRun(100, func() { m.Resolve(0, c.PID) }); n != 0 {
		t.Fatalf("Resolve by pid cache hit allocates %v times", n)
	}
	rootCg, self := cgroupID(t, "/"), uint32(os.Getpid())
	m.Resolve(rootCg, self)
	if n := testing.AllocsPerRun(1000, func() { m.Resolve(rootCg, self) }); n != 0 {
		t.Fatalf("host Resolve cache hit allocates %v times", n)
	}
	found := false
	for _, ct := range m.Containers() {
		found = found || ct.FullID == c.ID
	}
	if !found {
		t.Fatal("Containers() lacks the running container")
	}

	// After deletion the container is marked deleted and leaves Containers().
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		found = false
		for _, ct := range m.Containers() {
			found = found || ct.FullID == c.ID
		}
		if !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleted container still listed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestResolvePrivilegedAndMounts(t *testing.T) {
	env := containertest.New(t)
	m := startManager(t, container.Options{ContainerdSocket: containertest.Socket}, container.TypeContainerd)
	priv := env.Run(t, containertest.Spec{
		Privileged: true,
		Mounts: []specs.Mount{{
			Source: "/run/containerd/containerd.sock", Destination: "/run/containerd/containerd.sock",
			Type: "bind", Options: []string{"rbind", "rw"},
		}, {
			Source: "/etc", Destination: "/host/etc", Type: "bind", Options: []string{"rbind", "ro", "rslave"},
		}},
	})
	plain := env.Run(t, containertest.Spec{})
	got := m.Resolve(cgroupID(t, priv.CgroupPath), priv.PID)
	if !got.MetadataKnown || !got.Privileged {
		t.Fatalf("privileged container: known %v privileged %v", got.MetadataKnown, got.Privileged)
	}
	want := map[string]event.Mount{
		"/run/containerd/containerd.sock": {Source: "/run/containerd/containerd.sock", Destination: "/run/containerd/containerd.sock", Mode: "rw", RW: true},
		"/host/etc":                       {Source: "/etc", Destination: "/host/etc", Mode: "ro", RW: false, Propagation: "rslave"},
	}
	for _, mt := range got.Mounts {
		if w, ok := want[mt.Destination]; ok {
			if mt != w {
				t.Fatalf("mount %+v, want %+v", mt, w)
			}
			delete(want, mt.Destination)
		}
	}
	if len(want) != 0 {
		t.Fatalf("mounts %+v lack %v", got.Mounts, want)
	}
	if p := m.Resolve(cgroupID(t, plain.CgroupPath), plain.PID); !p.MetadataKnown || p.Privileged {
		t.Fatalf("plain container: known %v privileged %v", p.MetadataKnown, p.Privileged)
	}
}

func TestResolveRunc(t *testing.T) {
	if _, err := os.Stat(containertest.RuncRoot); err != nil {
		if err := os.MkdirAll(containertest.RuncRoot, 0o700); err != nil {
			testkernel.SkipIfErr(t, err)
		}
	}
	m := startManager(t, container.Options{RuncRoot: containertest.RuncRoot}, container.TypeRunc)
	c := containertest.RunRunc(t, "sleep", "60")
	got := m.Resolve(cgroupID(t, c.CgroupPath), c.PID)
	if got.FullID != c.ID || got.ID != c.ID[:12] || got.Type != container.TypeRunc {
		t.Fatalf("resolved %+v, want runc %s", got, c.ID)
	}
	if !got.MetadataKnown || got.Labels["bundle"] != c.Bundle || got.StartTS == 0 || got.Privileged {
		t.Fatalf("runc metadata %+v", got)
	}
	if byPid := m.Resolve(0, c.PID); byPid != got {
		t.Fatalf("by pid %+v, by cgroup %+v", byPid, got)
	}
}

// TestMetadataReadyAtFirstExec starts 100 short-lived containers (alive for
// 0.2 s: the start time of one already gone is unknown until the runtime's
// task event lands, which a loaded CI machine showed once) with the
// Manager subscribed (synchronous lookups off, so only the event
// subscription counts) and resolves each right after its task starts, the
// moment of its first exec.
func TestMetadataReadyAtFirstExec(t *testing.T) {
	env := containertest.New(t)
	m := startManager(t, container.Options{ContainerdSocket: containertest.Socket, LookupTimeout: -1}, container.TypeContainerd)
	const n, workers = 100, 4
	var ready, idOnly, wrong atomic.Int64
	var resolveNs atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan int)
	errs := make(chan error, n)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				c, err := env.Create(context.Background(), containertest.Spec{Args: []string{"sh", "-c", "sleep 0.2"}, Labels: map[string]string{"run": "burst"}, ReadOnly: true})
				if err != nil {
					errs <- err
					continue
				}
				cg, err := container.CgroupID(mustRoot(t), c.CgroupPath)
				if err != nil {
					errs <- err
					c.Delete()
					continue
				}
				if err := c.Start(); err != nil {
					errs <- err
					c.Delete()
					continue
				}
				start := time.Now()
				got := m.Resolve(cg, c.PID)
				resolveNs.Add(int64(time.Since(start)))
				switch {
				case got.FullID != c.ID:
					wrong.Add(1)
					t.Errorf("container %s resolved to %+v", c.ID, *got)
				case got.MetadataKnown && got.Repository == "docker.io/vigiltest/busybox" && got.Labels["run"] == "burst" && got.StartTS != 0:
					ready.Add(1)
				case !got.MetadataKnown && got.Repository == "":
					idOnly.Add(1)
				default:
					wrong.Add(1)
					t.Errorf("container %s resolved with incomplete or wrong metadata: %+v", c.ID, *got)
				}
				if _, err := c.WaitExit(10 * time.Second); err != nil {
					errs <- err
				}
				c.Delete()
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := m.Stats()
	t.Logf("%d containers: %d with full metadata at first exec, %d id-only, %d wrong; mean Resolve at first exec %v; stats %+v",
		n, ready.Load(), idOnly.Load(), wrong.Load(), time.Duration(resolveNs.Load()/n), st)
	if wrong.Load() != 0 {
		t.Fatalf("%d containers resolved to wrong metadata", wrong.Load())
	}
	if ready.Load() < n*95/100 {
		t.Fatalf("only %d of %d containers had metadata at first exec", ready.Load(), n)
	}
}

func mustRoot(t *testing.T) string {
	root, err := host.Cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestSocketAbsent: containers of a runtime whose socket does not exist
// resolve to their id and type, with no metadata, never wrong metadata.
func TestSocketAbsent(t *testing.T) {
	env := containertest.New(t)
	m := startManager(t, container.Options{ContainerdSocket: "/tmp/vigil-no-such-containerd.sock"})
	c := env.Run(t, containertest.Spec{})
	got := m.Resolve(cgroupID(t, c.CgroupPath), c.PID)
	if got.FullID != c.ID || got.Type != container.TypeContainerd || got.MetadataKnown || got.Repository != "" || got.Image != "" {
		t.Fatalf("resolved %+v, want id-only %s", got, c.ID)
	}
	st := m.Runtimes()
	if len(st) != 1 || st[0].Found || st[0].Connected || st[0].LastError == "" {
		t.Fatalf("runtime status %+v", st)
	}
}

// TestContainerdRestart stops and restarts a private containerd: known
// containers keep their metadata, containers it cannot describe stay
// id-only, and the client reconnects and sees new containers.
func TestContainerdRestart(t *testing.T) {
	d := containertest.StartPrivateContainerd(t)
	penv := containertest.NewEnv(t, d.Socket)
	shared := containertest.New(t)
	m := startManager(t, container.Options{ContainerdSocket: d.Socket}, container.TypeContainerd)

	a := penv.Run(t, containertest.Spec{})
	ga := m.Resolve(cgroupID(t, a.CgroupPath), a.PID)
	if !ga.MetadataKnown || ga.FullID != a.ID {
		t.Fatalf("before restart: %+v", ga)
	}
	d.Stop()
	waitConnected(t, m, false, container.TypeContainerd)
	// A container the stopped daemon never described: id only.
	c := shared.Run(t, containertest.Spec{})
	gc := m.Resolve(cgroupID(t, c.CgroupPath), c.PID)
	if gc.FullID != c.ID || gc.MetadataKnown || gc.Repository != "" {
		t.Fatalf("while down: %+v", gc)
	}
	if again := m.Resolve(cgroupID(t, a.CgroupPath), a.PID); again != ga {
		t.Fatalf("known container changed while the daemon was down: %+v", again)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, m, true, container.TypeContainerd)
	b := penv.Run(t, containertest.Spec{})
	gb := m.Resolve(cgroupID(t, b.CgroupPath), b.PID)
	if !gb.MetadataKnown || gb.FullID != b.ID || gb.Repository != "docker.io/vigiltest/busybox" {
		t.Fatalf("after restart: %+v", gb)
	}
	if st := m.Runtimes(); st[0].Reconnects < 1 {
		t.Fatalf("no reconnect recorded: %+v", st)
	}
	// The other daemon's container is still not described by this one.
	if gc2 := m.Resolve(cgroupID(t, c.CgroupPath), c.PID); gc2.MetadataKnown {
		t.Fatalf("foreign container got metadata: %+v", gc2)
	}
}

func TestResolveDocker(t *testing.T) {
	d := containertest.StartDockerd(t)
	// containerd too: Docker's tasks live in its "moby" namespace, whose
	// task events give the start time before Docker's start event.
	m := startManager(t, container.Options{DockerSocket: containertest.DockerSocket, ContainerdSocket: containertest.Socket}, container.TypeDocker, container.TypeContainerd)
	c := d.Run(t, containertest.DockerSpec{
		Name:   "vigil-web-" + containertest.NewID()[:8],
		Labels: map[string]string{"app": "web"},
		// Docker's --privileged asks for every capability, which this VM's
		// bounding set (no CAP_SYS_RESOURCE) refuses; privileged detection
		// from the OCI spec is tested with containerd.
		Binds:       []string{"/run/containerd/containerd.sock:/run/containerd/containerd.sock", "/etc:/host/etc:ro"},
		Healthcheck: []string{"CMD-SHELL", "test -e /etc/hostname"},
	})
	root := mustRoot(t)
	data, err := os.ReadFile("/proc/" + itoa(c.PID) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	v2 := ""
	for _, l := range splitLines(string(data)) {
		if p, ok := cutPrefix(l, "0::"); ok {
			v2 = p
		}
	}
	cg, err := container.CgroupID(root, v2)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Resolve(cg, c.PID)
	if got.FullID != c.ID || got.Type != container.TypeDocker || !got.MetadataKnown {
		t.Fatalf("resolved %+v, want docker %s", got, c.ID)
	}
	// Docker reports the image as the user wrote it.
	if got.Image != containertest.DockerImage || got.Repository != "vigiltest/busybox" || got.Tag != "1.0" {
		t.Fatalf("image %q repo %q tag %q", got.Image, got.Repository, got.Tag)
	}
	if got.Privileged || got.Labels["app"] != "web" || got.Healthcheck != "/bin/sh -c test -e /etc/hostname" || got.StartTS == 0 {
		t.Fatalf("metadata %+v", got)
	}
	if got.Name == "" || got.Name[0] == '/' {
		t.Fatalf("name %q", got.Name)
	}
	var sock, etc bool
	for _, mt := range got.Mounts {
		sock = sock || (mt.Destination == "/run/containerd/containerd.sock" && mt.RW)
		etc = etc || (mt.Destination == "/host/etc" && !mt.RW && mt.Source == "/etc")
	}
	if !sock || !etc {
		t.Fatalf("mounts %+v", got.Mounts)
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func splitLines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func cutPrefix(s, p string) (string, bool) { return strings.CutPrefix(s, p) }

// TestResolveCRI runs a pod through containerd's CRI plugin, as kubelet
// does, in kubelet's cgroupfs layout (/kubepods/besteffort/pod<uid>/<id>),
// and resolves it through the containerd client (k8s.io namespace, pod
// labels from the sandbox) and through the CRI client.
func TestResolveCRI(t *testing.T) {
	d := containertest.StartPrivateContainerdCRI(t)
	cri := containertest.NewCRI(t, d.Socket)
	uid := "0d7c3e3c-5c1d-4f0e-9e2a-" + containertest.NewID()[:12]
	pod := cri.RunPod(t, "payments", "api-5f6b", uid, "/kubepods/besteffort/pod"+uid, map[string]string{"app": "api", "team": "pay"})
	id, pid := cri.RunContainer(t, pod, "server", []string{"sleep", "3600"}, nil)
	data, err := os.ReadFile("/proc/" + itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var v2 string
	for _, l := range splitLines(string(data)) {
		if p, ok := cutPrefix(l, "0::"); ok {
			v2 = p
		}
	}
	if want := "/kubepods/besteffort/pod" + uid + "/" + id; v2 != want {
		t.Fatalf("v2 cgroup %q, want %q", v2, want)
	}
	cg, err := container.CgroupID(mustRoot(t), v2)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, got *event.Container) {
		t.Helper()
		if got.FullID != id || got.Type != container.TypeContainerd || !got.MetadataKnown {
			t.Fatalf("resolved %+v, want containerd %s", got, id)
		}
		if got.Repository != "docker.io/vigiltest/busybox" || got.Tag != "1.0" || got.Name != "server" {
			t.Fatalf("image %q:%q name %q", got.Repository, got.Tag, got.Name)
		}
		if got.PodName != "api-5f6b" || got.PodNamespace != "payments" || got.PodUID != uid {
			t.Fatalf("pod %q/%q %q", got.PodNamespace, got.PodName, got.PodUID)
		}
		if got.PodLabels["app"] != "api" || got.PodLabels["team"] != "pay" || len(got.PodLabels) != 2 {
			t.Fatalf("pod labels %v", got.PodLabels)
		}
		if got.PodSandboxID != pod.ID {
			t.Fatalf("sandbox id %q, want %q", got.PodSandboxID, pod.ID)
		}
	}
	t.Run("containerd client", func(t *testing.T) {
		m := startManager(t, container.Options{ContainerdSocket: d.Socket}, container.TypeContainerd)
		check(t, m.Resolve(cg, pid))
	})
	t.Run("CRI client", func(t *testing.T) {
		m := startManager(t, container.Options{CRISocket: d.Socket}, container.TypeCRI)
		check(t, m.Resolve(cg, pid))
	})
}

// TestResolveNamedContainer: ctr lets users name containers with any id
// (`ctr run img myname` gives the cgroup /<namespace>/myname). The path
// alone does not say it is a container; the cgroup path containerd reports
// does.
func TestResolveNamedContainer(t *testing.T) {
	env := containertest.New(t)
	m := startManager(t, container.Options{ContainerdSocket: containertest.Socket}, container.TypeContainerd)
	id := "vigil-named-" + containertest.NewID()[:8]
	c := env.Run(t, containertest.Spec{ID: id})
	if c.CgroupPath != "/"+containertest.Namespace+"/"+id {
		t.Fatalf("cgroup path %q", c.CgroupPath)
	}
	cg := cgroupID(t, c.CgroupPath)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := m.Resolve(cg, c.PID)
		if got != nil && got.FullID == id {
			if got.ID != id[:12] || got.Type != container.TypeContainerd || !got.MetadataKnown || got.Repository != "docker.io/vigiltest/busybox" {
				t.Fatalf("resolved %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("named container resolved to %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
