package enforce

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// gateHarness is what the agent does at the gate, with a real container
// manager: Admit resolves the held task's container through the runtimes'
// APIs and applies the policies with it among the targets. Containers of
// this test (the test image, or a runc bundle under the test's temporary
// directory) are named "victim", which the policies select.
type gateHarness struct {
	t       *testing.T
	e       *Enforcer
	mgr     *container.Manager
	ps      []*policy.Policy
	tmpRoot string

	mu      sync.Mutex
	targets []Target
}

func newGateHarness(t *testing.T, ps []*policy.Policy, gate GateOptions) *gateHarness {
	t.Helper()
	return newGateHarnessWith(t, ps, gate, container.Options{})
}

// newGateHarnessWith is newGateHarness with the container manager's
// options (another runtime socket).
func newGateHarnessWith(t *testing.T, ps []*policy.Policy, gate GateOptions, mopts container.Options) *gateHarness {
	t.Helper()
	testkernel.RequireRoot(t)
	p := ProbeHost()
	testkernel.SkipIfErr(t, p.Fanotify)
	testkernel.SkipIfErr(t, p.ExecKill)
	testkernel.SkipIfErr(t, p.ExecGate)
	mgr, err := container.New(mopts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mgr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	h := &gateHarness{t: t, mgr: mgr, ps: ps, tmpRoot: filepath.Dir(t.TempDir())}
	gate.Admit = h.admit
	h.e = newEnforcer(t, Options{Gate: &gate})
	if err := h.e.Apply(ps, nil); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *gateHarness) ours(c *event.Container) bool {
	repo := c.Repository
	if repo == "" {
		repo = c.Image
	}
	return strings.Contains(repo, "vigiltest/busybox") || strings.HasPrefix(c.Labels["bundle"], h.tmpRoot)
}

func (h *gateHarness) admit(ctx context.Context, hd Hold) error {
	c := h.mgr.Resolve(hd.CgroupID, hd.PID)
	switch {
	case c == nil:
		return fmt.Errorf("cgroup %s: gone", hd.CgroupPath)
	case c.ID == "host":
		return nil
	case !c.MetadataKnown:
		return fmt.Errorf("container %s: no metadata", c.ID)
	}
	cc := *c
	if h.ours(c) {
		cc.Name = "victim"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	live := h.targets[:0]
	for _, t := range h.targets {
		if _, err := CgroupID(t.CgroupPath); err == nil {
			live = append(live, t)
		}
	}
	h.targets = append(live, Target{Container: &cc, CgroupPath: hd.CgroupPath, CgroupID: hd.CgroupID, RootPID: int(hd.PID)})
	return h.e.Apply(h.ps, h.targets)
}

const gatePolicy = `
name: first-instruction
scope: {containers: {names: [victim]}}
file:
  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow]}]
network:
  egress:
    rules: [{name: denied-port, action: block, cidrs: [127.0.0.0/8], ports: [%s]}]
`

// gateCount is how many containers of each kind (cat, nc) run through
// containerd; VIGIL_GATE_CONTAINERS raises it (bench/gate.sh runs 100).
func gateCount(def int) int { return envCount("VIGIL_GATE_CONTAINERS", def) }

// envCount is the positive count in environment variable name, or def.
func envCount(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// counter collects the enforced decisions by rule.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func collect(e *Enforcer) *counter {
	c := &counter{n: map[string]int{}}
	go func() {
		for d := range e.Decisions() {
			c.mu.Lock()
			if d.Enforced {
				c.n[d.Rule]++
			} else {
				c.n["not enforced: "+d.Rule+": "+d.Reason]++
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *counter) wait(rule string, want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		got := c.n[rule]
		c.mu.Unlock()
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// New containers whose first instruction belongs to `cat /etc/shadow` or
// `nc` to a denied loopback port, through containerd, Docker and plain
// runc, with the exec gate on: the policy is in force before each one runs
// a single instruction of its own, so every read and every connection is
// blocked and nothing leaks.
func TestGateNewContainers(t *testing.T) {
	port := listenCounting(t)
	ps, err := policy.Parse("gate.yaml", []byte(fmt.Sprintf(gatePolicy, port.port)))
	if err != nil {
		t.Fatal(err)
	}
	h := newGateHarness(t, ps, GateOptions{Timeout: 2 * time.Second})
	dec := collect(h.e)
	wantShadow, wantPort := 0, 0

	// containerd: the output shows any leak directly.
	env := containertest.New(t)
	n := gateCount(3)
	start := time.Now()
	for i := range n {
		cat := env.Run(t, containertest.Spec{Args: []string{"/bin/cat", "/etc/shadow"}, HostNetwork: true})
		nc := env.Run(t, containertest.Spec{Args: []string{"/bin/nc", "127.0.0.1", port.port}, HostNetwork: true})
		for _, c := range []*containertest.Container{cat, nc} {
			code := c.Wait(t, 20*time.Second)
			if out := c.Output(); code == 0 || strings.Contains(out, containertest.ShadowLine) {
				t.Errorf("containerd container %d (%s): exit %d, output %q: leaked", i, c.ID[:12], code, out)
			}
			c.Delete()
		}
		wantShadow, wantPort = wantShadow+1, wantPort+1
	}
	elapsed := time.Since(start)
	st, _ := h.e.Stats()
	t.Logf("containerd: %d containers in %v; gate: %d held, %d admitted, %d fallbacks, hold to release mean %v max %v",
		2*n, elapsed.Round(time.Millisecond), st.Gate.Held, st.Gate.Admitted, st.Gate.Fallbacks, st.Gate.Latency, st.Gate.MaxLatency)

	// Docker (--network none: the connection to the container's own
	// loopback is refused unless blocked first) and runc: the decisions
	// show each block. VIGIL_GATE_OTHERS raises how many of each kind
	// (bench/gate.sh runs 10: 20 containers per runtime).
	others := envCount("VIGIL_GATE_OTHERS", 2)
	start = time.Now()
	if os.Getenv("VIGIL_GATE_SKIP_DOCKER") == "" {
		d := containertest.StartDockerd(t)
		for range others {
			d.Run(t, containertest.DockerSpec{Args: []string{"/bin/cat", "/etc/shadow"}})
			d.Run(t, containertest.DockerSpec{Args: []string{"/bin/nc", "127.0.0.1", port.port}})
			wantShadow, wantPort = wantShadow+1, wantPort+1
		}
	}
	for range others {
		containertest.RunRunc(t, "/bin/cat", "/etc/shadow")
		containertest.RunRunc(t, "/bin/nc", "127.0.0.1", port.port)
		wantShadow, wantPort = wantShadow+1, wantPort+1
	}
	if got := dec.wait("shadow", wantShadow); got != wantShadow {
		t.Errorf("%d reads of /etc/shadow blocked, want %d (leaks: %d)", got, wantShadow, wantShadow-got)
	}
	if got := dec.wait("denied-port", wantPort); got != wantPort {
		t.Errorf("%d connections blocked, want %d (leaks: %d)", got, wantPort, wantPort-got)
	}
	if got := port.accepted(); got != 0 {
		t.Errorf("the denied port accepted %d connections", got)
	}
	t.Logf("Docker and runc: %d containers in %v", 4*others, time.Since(start).Round(time.Millisecond))
	st, _ = h.e.Stats()
	if st.Gate.Fallbacks != 0 {
		t.Errorf("gate: %d fallbacks, want every container classified in time", st.Gate.Fallbacks)
	}
	t.Logf("all runtimes: blocked %d reads and %d connections; gate: %d held, %d admitted, hold to release mean %v max %v; decisions %v",
		wantShadow, wantPort, st.Gate.Held, st.Gate.Admitted, st.Gate.Latency, st.Gate.MaxLatency, dec.n)
}

const criPolicy = `
name: cri-pod
scope: {containers: {namespaces: [vigil-cri], podLabels: {app: victim}}}
file:
  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow]}]
network:
  egress:
    rules: [{name: denied-port, action: block, cidrs: [127.0.0.0/8], ports: [%s]}]
`

// Pods started through containerd's CRI plugin, as kubelet starts them
// (kubelet's cgroupfs layout), with a policy scoped to the pod's namespace
// and labels: each container whose first command is `cat /etc/shadow` or
// `nc` to a denied loopback port (the pod uses the node's network) is
// blocked from its first instruction; a pod the policy does not select
// reads the file.
func TestGateCRIPods(t *testing.T) {
	port := listenCounting(t)
	ps, err := policy.Parse("cri.yaml", []byte(fmt.Sprintf(criPolicy, port.port)))
	if err != nil {
		t.Fatal(err)
	}
	d := containertest.StartPrivateContainerdCRI(t)
	cri := containertest.NewCRI(t, d.Socket)
	h := newGateHarnessWith(t, ps, GateOptions{Timeout: 2 * time.Second}, container.Options{ContainerdSocket: d.Socket})
	dec := collect(h.e)
	uid := "5b0c7a2e-9d41-4c7e-8f00-" + containertest.NewID()[:12]
	pod := cri.RunPod(t, "vigil-cri", "victim-pod", uid, "/kubepods/besteffort/pod"+uid, map[string]string{"app": "victim"})
	const n = 2
	for i := range n {
		cat, _ := cri.RunContainer(t, pod, fmt.Sprintf("cat-%d", i), []string{"/bin/cat", "/etc/shadow"}, nil)
		nc, _ := cri.RunContainer(t, pod, fmt.Sprintf("nc-%d", i), []string{"/bin/nc", "127.0.0.1", port.port}, nil)
		for _, id := range []string{cat, nc} {
			if code := cri.WaitExit(t, id, 20*time.Second); code == 0 {
				t.Errorf("CRI container %s exited 0: not blocked", id[:12])
			}
		}
	}
	ouid := "5b0c7a2e-9d41-4c7e-8f01-" + containertest.NewID()[:12]
	other := cri.RunPod(t, "vigil-cri", "other-pod", ouid, "/kubepods/besteffort/pod"+ouid, map[string]string{"app": "other"})
	oc, _ := cri.RunContainer(t, other, "cat", []string{"/bin/cat", "/etc/shadow"}, nil)
	if code := cri.WaitExit(t, oc, 20*time.Second); code != 0 {
		t.Errorf("unselected pod's cat /etc/shadow exited %d, want 0", code)
	}
	if got := dec.wait("shadow", n); got != n {
		t.Errorf("%d reads of /etc/shadow blocked, want %d", got, n)
	}
	if got := dec.wait("denied-port", n); got != n {
		t.Errorf("%d connections blocked, want %d", got, n)
	}
	if got := port.accepted(); got != 0 {
		t.Errorf("the denied port accepted %d connections", got)
	}
	st, _ := h.e.Stats()
	if st.Gate.Fallbacks != 0 {
		t.Errorf("gate: %d fallbacks, want every container classified in time", st.Gate.Fallbacks)
	}
	t.Logf("CRI: gate %d held, %d admitted, hold to release mean %v max %v; decisions %v",
		st.Gate.Held, st.Gate.Admitted, st.Gate.Latency, st.Gate.MaxLatency, dec.n)
}

type countingListener struct {
	port string
	mu   sync.Mutex
	n    int
}

func (l *countingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// listenCounting listens on a loopback port and counts the connections
// it accepts.
func listenCounting(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cl := &countingListener{port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cl.mu.Lock()
			cl.n++
			cl.mu.Unlock()
			c.Close()
		}
	}()
	return cl
}

// procState is the state letter of /proc/PID/stat ("T" when stopped).
func procState(pid uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// An agent killed with SIGKILL while a container is held at the gate: the
// releaser process resumes the container, which runs to completion.
func TestGateAgentKilledWhileHeld(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().ExecKill)
	testkernel.SkipIfErr(t, ProbeHost().ExecGate)
	victim, _ := testCgroup(t)
	pf := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pf, []byte("name: held\nscope: {containers: {names: [victim]}}\nprocess:\n  rules: [{name: nc, action: kill, names: [nc]}]\n"), 0o600)
	agent := exec.Command(os.Args[0], "-test.run=^$", pf)
	agent.Env = append(os.Environ(), helperEnv+"=agent", "VIGIL_ENFORCE_CGROUP="+victim, "VIGIL_ENFORCE_GATE_STUCK=1")
	stdout, _ := agent.StdoutPipe()
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer agent.Process.Kill()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "ready" {
		t.Fatalf("agent: %q", line)
	}
	env := containertest.New(t)
	c := env.Run(t, containertest.Spec{Args: []string{"/bin/echo", "continued"}, NoStart: true})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for procState(c.PID) != "T" {
		if time.Now().After(deadline) {
			t.Fatalf("container init %d not held at the gate (state %q, output %q)", c.PID, procState(c.PID), c.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	killed := time.Now()
	agent.Process.Signal(syscall.SIGKILL)
	agent.Wait()
	code, err := c.WaitExit(10 * time.Second)
	if err != nil || code != 0 || !strings.Contains(c.Output(), "continued") {
		t.Fatalf("after the agent's SIGKILL: exit %d, err %v, output %q; want the container to continue", code, err, c.Output())
	}
	t.Logf("container resumed and exited %v after the agent was killed", time.Since(killed).Round(time.Millisecond))
}
