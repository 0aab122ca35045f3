package enforce

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testkernel"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the helper run inside test cgroups: with
// VIGIL_ENFORCE_HELPER set, TestMain performs one operation and exits.
const helperEnv = "VIGIL_ENFORCE_HELPER"

func TestMain(m *testing.M) {
	if op := os.Getenv(helperEnv); op != "" {
		os.Exit(helper(op, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

func errnoName(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return unix.ErrnoName(en)
	}
	return err.Error()
}

// helper runs op with arg and prints "ok" or the errno name.
func helper(op, arg string) int {
	switch op {
	case "connect-tcp", "connect-udp":
		network := strings.TrimPrefix(op, "connect-")
		c, err := net.Dial(network, arg)
		if err != nil {
			fmt.Println(errnoName(err))
			return 0
		}
		c.Close()
		fmt.Println("ok")
	case "connect-then-wait":
		// For the kill action: report, then wait to be killed (at most 10s).
		c, err := net.Dial("tcp", arg)
		if err != nil {
			fmt.Println(errnoName(err))
		} else {
			c.Close()
			fmt.Println("ok")
		}
		time.Sleep(10 * time.Second)
		return 3
	case "sendto-udp":
		ap, _ := net.ResolveUDPAddr("udp", arg)
		c, err := net.ListenUDP("udp", nil)
		if err != nil {
			fmt.Println(errnoName(err))
			return 0
		}
		_, err = c.WriteToUDP([]byte("x"), ap)
		c.Close()
		if err != nil {
			fmt.Println(errnoName(err))
			return 0
		}
		fmt.Println("ok")
	case "bind-tcp":
		l, err := net.Listen("tcp", arg)
		if err != nil {
			fmt.Println(errnoName(err))
			return 0
		}
		l.Close()
		fmt.Println("ok")
	case "open":
		f, err := os.Open(arg)
		if err != nil {
			fmt.Println(errnoName(err))
			return 0
		}
		f.Close()
		fmt.Println("ok")
	case "loop-open", "loop-connect":
		// arg: "N target"; prints the elapsed ns.
		n, target, _ := strings.Cut(arg, " ")
		count, _ := strconv.Atoi(n)
		start := time.Now()
		for range count {
			if op == "loop-open" {
				fd, err := unix.Open(target, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					fmt.Println(errnoName(err))
					return 1
				}
				unix.Close(fd)
			} else {
				if err := rawConnect(target); err != nil {
					fmt.Println(errnoName(err))
					return 1
				}
			}
		}
		fmt.Println(time.Since(start).Nanoseconds())
	case "agent":
		return agentHelper(arg)
	case "execveat":
		// arg: "FILE ARGV0 ARGS...": execveat(open(FILE, O_PATH), "", AT_EMPTY_PATH).
		f := strings.Fields(arg)
		fd, err := unix.Open(f[0], unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Println(errnoName(err))
			return 1
		}
		empty, _ := unix.BytePtrFromString("")
		argv, _ := syscall.SlicePtrFromStrings(f[1:])
		envv, _ := syscall.SlicePtrFromStrings(nil)
		_, _, en := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
		fmt.Println(errnoName(en))
		return 1
	default:
		fmt.Println("unknown op", op)
		return 2
	}
	return 0
}

// rawConnect connects a TCP socket to 127.0.0.1:port and closes it.
func rawConnect(port string) error {
	p, _ := strconv.Atoi(port)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// RST on close: no TIME_WAIT, so loops do not exhaust ephemeral ports.
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	return unix.Connect(fd, &unix.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}})
}

// agentHelper is a minimal agent: it applies the policy file arg to the
// container whose cgroup is in VIGIL_ENFORCE_CGROUP, prints "ready", and
// blocks until killed.
func agentHelper(file string) int {
	ps, err := policy.ParseFiles(file)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var opts Options
	if os.Getenv("VIGIL_ENFORCE_GATE_STUCK") != "" {
		// A classification that never finishes: held tasks wait for the
		// (hour-long) bound.
		opts.Gate = &GateOptions{Timeout: time.Hour, Admit: func(ctx context.Context, _ Hold) error {
			<-ctx.Done()
			return ctx.Err()
		}}
	}
	e, err := New(opts)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	t := Target{Container: &event.Container{ID: "agent-test", Name: "victim"}, CgroupPath: os.Getenv("VIGIL_ENFORCE_CGROUP"), RootPID: os.Getpid()}
	if err := e.Apply(ps, []Target{t}); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// testCgroup creates a cgroup v2 directory for the test and removes it
// (killing what is left in it) at cleanup.
func testCgroup(t testing.TB) (path string, fd int) {
	t.Helper()
	testkernel.RequireRoot(t)
	var rb [4]byte
	rand.Read(rb[:])
	rel := "/vigil-enforce-" + hex.EncodeToString(rb[:])
	dir := CgroupV2Root + rel
	if err := os.Mkdir(dir, 0o755); err != nil {
		testkernel.Skip(t, "cannot create a cgroup v2 directory: "+err.Error())
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fd)
		KillCgroup(rel)
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := os.Remove(dir)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return rel, fd
}

// inCgroup returns a command started directly in the cgroup (clone3
// CLONE_INTO_CGROUP), so it never runs a single instruction outside it.
func inCgroup(cgfd int, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if cgfd >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	}
	return cmd
}

// runHelper runs the test binary's helper op in the cgroup (cgfd < 0: the
// test's own cgroup) and returns its one-line answer.
func runHelper(t testing.TB, cgfd int, op, arg string) string {
	t.Helper()
	cmd := inCgroup(cgfd, os.Args[0], "-test.run=^$", arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+op)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s %s: %v: %s", op, arg, err, out)
	}
	return strings.TrimSpace(string(out))
}

func listen(t testing.TB) (net.Listener, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func newEnforcer(t *testing.T, opts Options) *Enforcer {
	t.Helper()
	testkernel.RequireRoot(t)
	p := ProbeHost()
	testkernel.SkipIfErr(t, p.CgroupBPF)
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// waitDecision returns the first decision matching ok, within 5s.
func waitDecision(t *testing.T, e *Enforcer, ok func(Decision) bool) Decision {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case d := <-e.Decisions():
			if ok(d) {
				return d
			}
		case <-timeout:
			t.Fatal("no matching decision within 5s")
		}
	}
}

// waitDecisions waits at most 5 s for one decision matching each of oks,
// in whatever order they come (decisions from the fanotify gate and from
// the BPF ring reach the channel in no fixed order), and returns them in
// the order of oks.
func waitDecisions(t *testing.T, e *Enforcer, oks ...func(Decision) bool) []Decision {
	t.Helper()
	got := make([]Decision, len(oks))
	found := make([]bool, len(oks))
	timeout := time.After(5 * time.Second)
	for n := 0; n < len(oks); {
		select {
		case d := <-e.Decisions():
			for i, ok := range oks {
				if !found[i] && ok(d) {
					got[i], found[i] = d, true
					n++
					break
				}
			}
		case <-timeout:
			t.Fatalf("within 5s only these decisions matched: %v", found)
		}
	}
	return got
}

// target is a plain cgroup treated as a container named name; its
// processes share the host's root filesystem (the test's own).
func target(name, cg string) Target {
	return Target{Container: &event.Container{ID: name + "-id", Name: name}, CgroupPath: cg, RootPID: os.Getpid()}
}

func egressPolicy(mode string, port string) []*policy.Policy {
	src := fmt.Sprintf(`
name: egress-test
mode: %s
scope: {containers: {names: [victim]}}
network:
  egress:
    default: block
    rules:
      - {name: allowed-port, action: allow, cidrs: [127.0.0.0/8], ports: [%s], protocol: tcp}
  bind:
    rules:
      - {name: no-listen, action: block, ports: [%s]}
`, mode, port, "4444")
	ps, err := policy.Parse("egress.yaml", []byte(src))
	if err != nil {
		panic(err)
	}
	return ps
}

func TestEgressBlocksInCgroupOnly(t *testing.T) {
	e := newEnforcer(t, Options{})
	victim, vfd := testCgroup(t)
	other, ofd := testCgroup(t)
	_, allowed := listen(t)
	_, denied := listen(t)
	if err := e.Apply(egressPolicy("enforce", allowed), []Target{target("victim", victim), target("other", other)}); err != nil {
		t.Fatal(err)
	}
	if got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+allowed); got != "ok" {
		t.Errorf("victim → allowed port: %s", got)
	}
	if got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+denied); got != "EPERM" {
		t.Errorf("victim → denied port: %s, want EPERM", got)
	}
	d := waitDecision(t, e, func(d Decision) bool { return d.Kind == KindConnect4 && d.Addr.Port() == mustPort(denied) })
	if !d.Enforced || d.Action != policy.ActionBlock || d.Policy != "egress-test" || d.Rule != "egress-default" || d.Mechanism != MechCgroupBPF || d.PID == 0 {
		t.Errorf("decision: %+v", d)
	}
	if got := runHelper(t, ofd, "connect-tcp", "127.0.0.1:"+denied); got != "ok" {
		t.Errorf("other cgroup → denied port: %s", got)
	}
	if got := runHelper(t, -1, "connect-tcp", "127.0.0.1:"+denied); got != "ok" {
		t.Errorf("host → denied port: %s", got)
	}
	// IPv6 (connect6): the allow rule covers 127.0.0.0/8 only, so ::1 is
	// blocked by the default.
	l6, err := net.Listen("tcp6", "[::1]:"+allowed)
	if err != nil {
		testkernel.Skip(t, "no IPv6 loopback: "+err.Error())
	}
	defer l6.Close()
	if got := runHelper(t, vfd, "connect-tcp", "[::1]:"+allowed); got != "EPERM" {
		t.Errorf("victim → [::1]:%s: %s, want EPERM", allowed, got)
	}
	d6 := waitDecision(t, e, func(d Decision) bool { return d.Kind == KindConnect6 })
	if d6.Addr.Addr().String() != "::1" || !d6.Enforced {
		t.Errorf("connect6 decision %+v", d6)
	}
	if got := runHelper(t, ofd, "connect-tcp", "[::1]:"+allowed); got != "ok" {
		t.Errorf("other → [::1]:%s: %s", allowed, got)
	}
	// UDP without connect (sendmsg4) to a port not allowed for udp.
	if got := runHelper(t, vfd, "sendto-udp", "127.0.0.1:"+allowed); got != "EPERM" {
		t.Errorf("victim udp sendto: %s, want EPERM", got)
	}
	if got := runHelper(t, vfd, "bind-tcp", "127.0.0.1:4444"); got != "EPERM" {
		t.Errorf("victim bind 4444: %s, want EPERM", got)
	}
	if got := runHelper(t, ofd, "bind-tcp", "127.0.0.1:4444"); got != "ok" {
		t.Errorf("other bind 4444: %s", got)
	}
	st, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Kernel[KindConnect4].Denied == 0 || st.Kernel[KindConnect4].Allowed == 0 || st.Kernel[KindSendmsg4].Denied == 0 {
		t.Errorf("stats: %+v", st.Kernel)
	}
}

func mustPort(s string) uint16 {
	n, _ := strconv.Atoi(s)
	return uint16(n)
}

// Audit mode and dry-run produce the decision enforce mode produces, without
// blocking.
func TestAuditAndDryRunDecideAlike(t *testing.T) {
	victim, vfd := testCgroup(t)
	_, allowed := listen(t)
	_, denied := listen(t)
	run := func(opts Options, mode string) (string, Decision) {
		e := newEnforcer(t, opts)
		if err := e.Apply(egressPolicy(mode, allowed), []Target{target("victim", victim)}); err != nil {
			t.Fatal(err)
		}
		got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+denied)
		d := waitDecision(t, e, func(d Decision) bool { return d.Kind == KindConnect4 && d.Addr.Port() == mustPort(denied) })
		e.Close()
		return got, d
	}
	resE, dE := run(Options{}, "enforce")
	resA, dA := run(Options{}, "audit")
	resD, dD := run(Options{DryRun: true}, "enforce")
	if resE != "EPERM" || resA != "ok" || resD != "ok" {
		t.Fatalf("results enforce=%s audit=%s dry-run=%s", resE, resA, resD)
	}
	if !dE.Enforced || dA.Enforced || dD.Enforced || !dD.DryRun || dA.Mode != policy.ModeAudit {
		t.Errorf("enforced flags: %v %v %v", dE.Enforced, dA.Enforced, dD.Enforced)
	}
	for _, d := range []Decision{dA, dD} {
		if d.Action != dE.Action || d.Policy != dE.Policy || d.Rule != dE.Rule || d.Addr != dE.Addr || d.Kind != dE.Kind {
			t.Errorf("decision %+v differs from enforce %+v", d, dE)
		}
	}
}

// A failed Apply keeps the previous policy in force.
func TestApplyFailureKeepsPolicy(t *testing.T) {
	e := newEnforcer(t, Options{})
	victim, vfd := testCgroup(t)
	_, allowed := listen(t)
	_, denied := listen(t)
	if err := e.Apply(egressPolicy("enforce", allowed), []Target{target("victim", victim)}); err != nil {
		t.Fatal(err)
	}
	// procfs refuses permission events (EINVAL): the mark fails. (A path
	// that does not exist is not a failure: it is left unmarked.)
	bad, err := policy.Parse("bad.yaml", []byte("name: bad\nscope: {containers: {}}\nfile:\n  rules: [{action: block, paths: [/proc/version]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(bad, []Target{target("victim", victim)}); err == nil {
		t.Fatal("apply with an unmarkable path succeeded")
	}
	if got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+denied); got != "EPERM" {
		t.Errorf("after failed apply: %s, want EPERM (old policy in force)", got)
	}
	// A valid update replaces it without reloading: now the other port is
	// allowed. A container that is gone is skipped, not an error.
	if err := e.Apply(egressPolicy("enforce", denied), []Target{target("victim", victim), target("victim", "/vigil-enforce-gone")}); err != nil {
		t.Fatal(err)
	}
	if w := e.Plan().Warnings; len(w) != 1 || !strings.Contains(w[0], "vigil-enforce-gone") {
		t.Errorf("warnings %q", w)
	}
	if got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+denied); got != "ok" {
		t.Errorf("after update: %s", got)
	}
	if got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+allowed); got != "EPERM" {
		t.Errorf("after update, old port: %s", got)
	}
}

func TestExecKillBeforeFirstInstruction(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().ExecKill)
	e := newEnforcer(t, Options{})
	victim, vfd := testCgroup(t)
	other, ofd := testCgroup(t)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		testkernel.Skip(t, "busybox not installed")
	}
	dir := t.TempDir()
	nc := filepath.Join(dir, "nc")
	if err := os.Symlink(busybox, nc); err != nil {
		t.Fatal(err)
	}
	ps, err := policy.Parse("exec.yaml", []byte("name: no-nc\nscope: {containers: {names: [victim]}}\nprocess:\n  rules: [{name: nc, action: kill, names: [nc]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{target("victim", victim), target("other", other)}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	cmd := inCgroup(vfd, nc, "127.0.0.1", port)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("nc in victim: err %v, want killed by SIGKILL", err)
	}
	if len(out) != 0 {
		t.Errorf("nc wrote %q", out)
	}
	// It never connected: the listener has nothing to accept.
	l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Fatal("killed nc connected to the listener")
	}
	d := waitDecision(t, e, func(d Decision) bool { return d.Kind == KindExec })
	if !d.Enforced || d.Action != policy.ActionKill || d.Path != nc || d.Rule != "nc" || d.Mechanism != MechExecTP {
		t.Errorf("decision %+v", d)
	}

	// The same command in another cgroup runs and connects.
	l.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	ctl := inCgroup(ofd, nc, "127.0.0.1", port)
	ctl.Stdin = strings.NewReader("")
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("nc in other cgroup did not connect: %v", err)
	}
	c.Close()
	ctl.Wait()
}

func TestFileBlockInCgroupOnly(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	e := newEnforcer(t, Options{})
	victim, vfd := testCgroup(t)
	secret := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(secret, []byte("secret\n"), 0o600)
	src := fmt.Sprintf("name: files\nscope: {containers: {names: [victim]}}\nfile:\n  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow, %s]}]\n", secret)
	ps, err := policy.Parse("files.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{target("victim", victim)}); err != nil {
		t.Fatal(err)
	}
	cmd := inCgroup(vfd, "cat", "/etc/shadow")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Operation not permitted") {
		t.Errorf("cat /etc/shadow in victim: %v %q, want EPERM", err, out)
	}
	if got := runHelper(t, vfd, "open", secret); got != "EPERM" {
		t.Errorf("open %s in victim: %s", secret, got)
	}
	// Another name for the same inode is the same file.
	alias := filepath.Join(filepath.Dir(secret), "alias")
	if err := os.Link(secret, alias); err != nil {
		t.Fatal(err)
	}
	if got := runHelper(t, vfd, "open", alias); got != "EPERM" {
		t.Errorf("open hard link %s in victim: %s", alias, got)
	}
	if got := runHelper(t, vfd, "open", "/etc/hostname"); got != "ok" {
		t.Errorf("open /etc/hostname in victim: %s", got)
	}
	if out, err := exec.Command("cat", "/etc/shadow").CombinedOutput(); err != nil {
		t.Errorf("cat /etc/shadow on the host: %v %s", err, out)
	}
	d := waitDecision(t, e, func(d Decision) bool { return d.Kind == KindOpen && d.Path == "/etc/shadow" })
	if !d.Enforced || d.Rule != "shadow" || d.Mechanism != MechFanotify || d.CgroupPath != victim {
		t.Errorf("decision %+v", d)
	}
}

// An agent killed with SIGKILL leaves nothing blocked: the kernel closes
// its fanotify group (pending and future opens are allowed) and its BPF
// links (programs detach, traffic is allowed again).
func TestAgentKilledLeavesNothingBlocked(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	testkernel.SkipIfErr(t, ProbeHost().CgroupBPF)
	victim, vfd := testCgroup(t)
	_, port := listen(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	pf := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pf, []byte(fmt.Sprintf(`name: agent-test
scope: {containers: {names: [victim]}}
file:
  rules: [{name: secret, action: block, paths: [%s]}]
network:
  egress:
    rules: [{name: port, action: block, ports: [%s]}]
`, secret, port)), 0o644)
	agent := exec.Command(os.Args[0], "-test.run=^$", pf)
	agent.Env = append(os.Environ(), helperEnv+"=agent", "VIGIL_ENFORCE_CGROUP="+victim)
	stdout, _ := agent.StdoutPipe()
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer agent.Process.Kill()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("agent: %q", line)
	}
	if got := runHelper(t, vfd, "open", secret); got != "EPERM" {
		t.Fatalf("with agent: open = %s, want EPERM", got)
	}
	if got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+port); got != "EPERM" {
		t.Fatalf("with agent: connect = %s, want EPERM", got)
	}
	agent.Process.Signal(syscall.SIGKILL)
	agent.Wait()
	io.Copy(io.Discard, stdout)
	if got := runHelper(t, vfd, "open", secret); got != "ok" {
		t.Errorf("after agent SIGKILL: open = %s, want ok", got)
	}
	// Links are released when the dead agent's fds are closed; the kernel
	// frees them asynchronously, so poll with a deadline.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := runHelper(t, vfd, "connect-tcp", "127.0.0.1:"+port)
		if got == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after agent SIGKILL: connect = %s, want ok", got)
		}
	}
}

func TestFreezeThawKill(t *testing.T) {
	cg, fd := testCgroup(t)
	cmd := inCgroup(fd, "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := Freeze(cg, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err := Thaw(cg); err != nil {
		t.Fatal(err)
	}
	if err := KillCgroup(cg); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("sleep: %v, want SIGKILL (stat while frozen: %s)", err, st)
	}
}

// A process block rule makes exec fail with EPERM (fanotify
// FAN_OPEN_EXEC_PERM), matched on the resolved executable: a symlink from
// elsewhere does not evade it.
func TestExecBlockEPERM(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	e := newEnforcer(t, Options{})
	victim, vfd := testCgroup(t)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		testkernel.Skip(t, "busybox not installed")
	}
	blocked, elsewhere := t.TempDir(), t.TempDir()
	tool := filepath.Join(blocked, "true") // busybox runs the applet named like argv[0]
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tool, data, 0o755); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(elsewhere, "true")
	os.Symlink(tool, alias)
	src := fmt.Sprintf("name: no-tmp-tools\nscope: {containers: {names: [victim]}}\nprocess:\n  rules: [{name: tmp, action: block, dirs: [%s]}]\n", blocked)
	ps, err := policy.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{target("victim", victim)}); err != nil {
		t.Fatal(err)
	}
	if pl := e.Plan(); pl.NeedExec || !pl.NeedFile {
		t.Errorf("block-only process policy: NeedExec %v NeedFile %v, want fanotify only", pl.NeedExec, pl.NeedFile)
	}
	for _, p := range []string{tool, alias} {
		err := inCgroup(vfd, p).Run()
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("exec %s in victim: %v, want EPERM", p, err)
		}
	}
	if out, err := inCgroup(vfd, busybox, "true").CombinedOutput(); err != nil {
		t.Errorf("exec %s in victim: %v %s", busybox, err, out)
	}
	if out, err := exec.Command(tool).CombinedOutput(); err != nil {
		t.Errorf("exec %s on the host: %v %s", tool, err, out)
	}
	d := waitDecision(t, e, func(d Decision) bool { return d.Kind == KindExec })
	if !d.Enforced || d.Action != policy.ActionBlock || d.Path != tool || d.Mechanism != MechFanotify || d.Rule != "tmp" {
		t.Errorf("decision %+v", d)
	}
}

// Audit mode reports what enforce mode would do, for files and execs too,
// and lets the operation run.
func TestAuditFileAndExec(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	testkernel.SkipIfErr(t, ProbeHost().ExecKill)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		testkernel.Skip(t, "busybox not installed")
	}
	victim, vfd := testCgroup(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	echo := filepath.Join(dir, "echo")
	os.Symlink(busybox, echo)
	for _, mode := range []string{"enforce", "audit"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnforcer(t, Options{})
			src := fmt.Sprintf("name: a\nmode: %s\nscope: {containers: {names: [victim]}}\nfile:\n  rules: [{name: secret, action: block, paths: [%s]}]\nprocess:\n  rules: [{name: echo, action: kill, names: [echo]}]\n", mode, secret)
			ps, err := policy.Parse("a.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Apply(ps, []Target{target("victim", victim)}); err != nil {
				t.Fatal(err)
			}
			open := runHelper(t, vfd, "open", secret)
			out, runErr := inCgroup(vfd, echo, "hello").Output()
			// The open's decision comes from the fanotify gate, the exec's
			// from the BPF ring: either may reach the channel first.
			ds := waitDecisions(t, e, func(d Decision) bool { return d.Kind == KindOpen },
				func(d Decision) bool { return d.Kind == KindExec })
			df, dx := ds[0], ds[1]
			if df.Action != policy.ActionBlock || df.Rule != "secret" || dx.Action != policy.ActionKill || dx.Rule != "echo" || dx.Path != echo {
				t.Errorf("decisions: %+v %+v", df, dx)
			}
			if mode == "enforce" {
				if open != "EPERM" || runErr == nil || !df.Enforced || !dx.Enforced {
					t.Errorf("enforce: open %s, echo %v %q, enforced %v %v", open, runErr, out, df.Enforced, dx.Enforced)
				}
				return
			}
			if open != "ok" || runErr != nil || string(out) != "hello\n" || df.Enforced || dx.Enforced || df.Mode != policy.ModeAudit {
				t.Errorf("audit: open %s, echo %v %q, enforced %v %v", open, runErr, out, df.Enforced, dx.Enforced)
			}
		})
	}
}

// A file decision that cannot be made in time gets the configured
// fallback, and is counted.
func TestFileFallback(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	victim, vfd := testCgroup(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	src := fmt.Sprintf("name: f\nscope: {containers: {names: [victim]}}\nfile:\n  rules: [{name: secret, action: block, paths: [%s]}]\n", secret)
	ps, err := policy.Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fb   Fallback
		want string
	}{{FallbackAllow, "ok"}, {FallbackDeny, "EPERM"}} {
		// A 1ns budget: every event is late.
		e := newEnforcer(t, Options{FileTimeout: time.Nanosecond, FileFallback: tc.fb})
		if err := e.Apply(ps, []Target{target("victim", victim)}); err != nil {
			t.Fatal(err)
		}
		if got := runHelper(t, vfd, "open", secret); got != tc.want {
			t.Errorf("fallback %d: open = %s, want %s", tc.fb, got, tc.want)
		}
		st, err := e.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.File.Defaults == 0 {
			t.Errorf("fallback %d: not counted: %+v", tc.fb, st.File)
		}
		e.Close()
	}
}

// A network rule with action kill denies the connect in the kernel and the
// agent then kills the process (pidfd SIGKILL).
func TestNetworkKillAction(t *testing.T) {
	e := newEnforcer(t, Options{})
	victim, vfd := testCgroup(t)
	_, port := listen(t)
	ps, err := policy.Parse("k.yaml", []byte(fmt.Sprintf("name: k\nscope: {containers: {names: [victim]}}\nnetwork:\n  egress:\n    rules: [{name: kill-port, action: kill, ports: [%s]}]\n", port)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{target("victim", victim)}); err != nil {
		t.Fatal(err)
	}
	cmd := inCgroup(vfd, os.Args[0], "-test.run=^$", "127.0.0.1:"+port)
	cmd.Env = append(os.Environ(), helperEnv+"=connect-then-wait")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := waitDecision(t, e, func(d Decision) bool { return d.Kind == KindConnect4 })
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("helper: %v (output %q), want killed by SIGKILL", err, out.String())
	}
	// Killed after the denied connect returned, or (rarely) before it
	// printed: never after a successful connect.
	if o := strings.TrimSpace(out.String()); o != "EPERM" && o != "" {
		t.Errorf("connect: %q, want EPERM", o)
	}
	if !d.Enforced || d.Action != policy.ActionKill || d.KillErr != nil || d.PID != uint32(cmd.Process.Pid) {
		t.Errorf("decision %+v (helper pid %d)", d, cmd.Process.Pid)
	}
}
