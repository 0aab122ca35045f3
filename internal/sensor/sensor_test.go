package sensor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// traced is what one traced helper run produced.
type traced struct {
	pid    uint32
	events []event.Event
	stdout []byte
	stats  Stats
	hooks  []string
	left   int // tgids left in the traced map after the tree exited
	// The in-kernel filters: why they were refused, what was in force.
	filterErr error
	interest  Interest
}

func clone(ev *event.Event) event.Event {
	c := *ev
	if ev.Buffer != nil {
		c.Buffer = append([]byte(nil), ev.Buffer...)
	}
	if ev.Exec != nil {
		x := *ev.Exec
		c.Exec = &x
	}
	return c
}

// trace runs argv held until the sensor (filtered on its process tree) is
// attached, waits for it to exit and returns every event of the tree.
func trace(t *testing.T, opts Options, argv []string, env ...string) *traced {
	t.Helper()
	testkernel.RequireRoot(t)
	var stdout, stderr bytes.Buffer
	tmpl := &exec.Cmd{Stdout: &stdout, Stderr: &stderr, Env: append(os.Environ(), env...)}
	h, err := StartHeld(argv, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	opts.FilterPIDTree = h.Pid()
	opts.ExcludeSelf = true
	s, err := New(&opts)
	if err != nil {
		h.Abort()
		testkernel.SkipIfErr(t, err)
	}
	defer s.Close()
	res := &traced{pid: h.Pid(), hooks: s.Hooks()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ev *event.Event) { res.events = append(res.events, clone(ev)) })
	}()
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	werr := h.Cmd.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Logf("helper: %v; stderr:\n%s", werr, stderr.String())
	}
	res.stdout = stdout.Bytes()
	res.stats = s.Stats()
	res.filterErr, res.interest = s.FilterError(), s.Interest()
	var k uint32
	var v uint8
	for it := s.objs.Traced.Iterate(); it.Next(&k, &v); {
		res.left++
	}
	return res
}

func helperArgv(t *testing.T) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "-test.run=^$"}
}

// sameArgs compares the def-table arguments (and Local when expected).
func sameArgs(got, want *event.Event) bool {
	if got.Type != want.Type || got.Ret != want.Ret {
		return false
	}
	for _, a := range event.Lookup(want.Type).Args {
		switch a.Slot {
		case event.SlotFD:
			if got.FD != want.FD {
				return false
			}
		case event.SlotFD2:
			if got.FD2 != want.FD2 {
				return false
			}
		case event.SlotDirFD:
			if got.DirFD != want.DirFD {
				return false
			}
		case event.SlotDirFD2:
			if got.DirFD2 != want.DirFD2 {
				return false
			}
		case event.SlotPath:
			if got.Path != want.Path {
				return false
			}
		case event.SlotPath2:
			if got.Path2 != want.Path2 {
				return false
			}
		case event.SlotStr:
			if got.Str != want.Str {
				return false
			}
		case event.SlotFlags:
			if got.Flags != want.Flags {
				return false
			}
		case event.SlotMode:
			if got.Mode != want.Mode {
				return false
			}
		case event.SlotAddr:
			if got.Addr != want.Addr {
				return false
			}
		case event.SlotArg0, event.SlotArg1, event.SlotArg2, event.SlotArg3:
			i := a.Slot - event.SlotArg0
			if got.Arg[i] != want.Arg[i] {
				return false
			}
		}
	}
	if want.Local.Valid() && got.Local != want.Local {
		return false
	}
	return true
}

func cgroupInode(t *testing.T, pid uint32) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	root, err := host.Cgroup2Root()
	testkernel.SkipIfErr(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(root, p), &st); err != nil {
				t.Fatal(err)
			}
			return st.Ino
		}
	}
	t.Fatalf("no 0:: line in /proc/%d/cgroup", pid)
	return 0
}

// TestEverySyscall makes every syscall of the def table from a helper and
// checks each event and its arguments.
func TestEverySyscall(t *testing.T) {
	res := trace(t, Options{RawFallback: true}, helperArgv(t), envAction+"=all")
	r := event.NewCaptureReader(bytes.NewReader(res.stdout))
	covered := map[event.Type]bool{}
	n := 0
	for {
		var want event.Event
		err := r.Next(&want)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		covered[want.Type] = true
		found := false
		for i := range res.events {
			got := &res.events[i]
			if got.PID == res.pid && sameArgs(got, &want) {
				found = true
				break
			}
		}
		if !found {
			var cands []string
			for i := range res.events {
				if res.events[i].Type == want.Type {
					cands = append(cands, string(event.AppendJSON(nil, &res.events[i])))
				}
			}
			t.Errorf("no event matches\n want %s got candidates:\n%s", event.AppendJSON(nil, &want), strings.Join(cands, ""))
		}
	}
	if n < 50 {
		t.Fatalf("helper reported only %d expected events (stdout %q)", n, res.stdout)
	}
	// The remaining types: clone (Go runtime threads), vfork (TestExec),
	// execve success (TestExec), procexit.
	var sawClone, sawExit bool
	for _, ev := range res.events {
		if ev.Type == event.TypeClone && ev.PID == res.pid && ev.Arg[0] == int64(res.pid) && ev.Ret > 0 {
			sawClone = true
		}
		if ev.Type == event.TypeProcExit && ev.PID == res.pid && ev.TID == res.pid {
			sawExit = true
		}
	}
	if !sawClone || !sawExit {
		t.Errorf("clone (thread) seen %v, procexit seen %v", sawClone, sawExit)
	}
	covered[event.TypeClone], covered[event.TypeProcExit], covered[event.TypeVfork] = true, true, true
	for _, ty := range event.IOTypes.Types() {
		covered[ty] = true // not in "every type": TestSnapIO asks for them
	}
	for ty := event.Type(1); ty < event.NumTypes; ty++ {
		if !covered[ty] && ty.FromSensor() {
			t.Errorf("type %v is not exercised", ty)
		}
	}
	if res.stats.Lost != 0 {
		t.Errorf("lost %d events", res.stats.Lost)
	}
}

// TestExec checks exec events, ppid, vfork, exit status and the cgroup id
// against the cgroup v2 directory's inode.
func TestExec(t *testing.T) {
	res := trace(t, Options{}, []string{"sh", "-c", "cat /etc/hostname; exit 3"})
	wantCg := cgroupInode(t, uint32(os.Getpid()))
	var sh, cat *event.Event
	var vfork, open, exit bool
	for i := range res.events {
		ev := &res.events[i]
		if ev.CgroupID != wantCg {
			t.Errorf("%v: cgroup id %d, want inode %d", ev.Type, ev.CgroupID, wantCg)
		}
		if ev.PID != res.pid && (sh == nil || ev.PPID != sh.PID) {
			t.Errorf("event from outside the traced tree: %s", event.AppendJSON(nil, ev))
		}
		switch ev.Type {
		case event.TypeExecve:
			if ev.Ret == 0 && ev.Exec != nil && ev.Comm == "sh" {
				sh = ev
			}
			if ev.Ret == 0 && ev.Exec != nil && ev.Comm == "cat" {
				cat = ev
			}
		case event.TypeVfork, event.TypeClone, event.TypeFork:
			if sh != nil && ev.PID == sh.PID {
				vfork = true
			}
		case event.TypeOpenat:
			if ev.Path == "/etc/hostname" && ev.Ret >= 0 && cat != nil && ev.PID == cat.PID {
				open = true
			}
		case event.TypeProcExit:
			if ev.PID == res.pid && ev.Arg[0] == 3<<8 {
				exit = true
			}
		}
	}
	if sh == nil || cat == nil {
		t.Fatalf("exec of sh (%v) or cat (%v) missing", sh != nil, cat != nil)
	}
	if got := strings.Join(sh.Exec.Argv, "|"); got != "sh|-c|cat /etc/hostname; exit 3" {
		t.Errorf("sh argv = %q", got)
	}
	if got := strings.Join(cat.Exec.Argv, "|"); got != "cat|/etc/hostname" {
		t.Errorf("cat argv = %q", got)
	}
	if sh.PID != res.pid || sh.PPID != uint32(os.Getpid()) {
		t.Errorf("sh pid %d ppid %d, want %d %d", sh.PID, sh.PPID, res.pid, os.Getpid())
	}
	if cat.PPID != sh.PID {
		t.Errorf("cat ppid %d, want %d", cat.PPID, sh.PID)
	}
	catPath, _ := exec.LookPath("cat")
	realCat, _ := filepath.EvalSymlinks(catPath)
	if cat.Exec.ExePath != realCat {
		t.Errorf("cat exepath %q, want %q", cat.Exec.ExePath, realCat)
	}
	wd, _ := os.Getwd()
	if cat.Exec.Cwd != wd {
		t.Errorf("cat cwd %q, want %q", cat.Exec.Cwd, wd)
	}
	if cat.Exec.CapEff == 0 {
		t.Errorf("root's cat has no effective capabilities")
	}
	if res.left != 0 {
		t.Errorf("%d tgids left in the traced map after the tree exited", res.left)
	}
	if !vfork || !open || !exit {
		t.Errorf("fork from sh %v, openat /etc/hostname by cat %v, exit status 3 %v", vfork, open, exit)
	}
}

// TestTypesFilter attaches only what was asked for.
func TestTypesFilter(t *testing.T) {
	res := trace(t, Options{Types: []event.Type{event.TypeOpenat}}, []string{"cat", "/etc/hostname"})
	if len(res.hooks) != 3 || res.hooks[0] != "syscalls:sys_exit_openat" {
		t.Errorf("hooks = %v, want sys_exit_openat and the fork/exit hooks of the pid-tree filter", res.hooks)
	}
	n := 0
	for _, ev := range res.events {
		if ev.Type != event.TypeOpenat {
			t.Fatalf("got a %v event", ev.Type)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no openat event")
	}
}

// TestLossCounted fills a tiny ring that nobody reads.
func TestLossCounted(t *testing.T) {
	testkernel.RequireRoot(t)
	var stderr bytes.Buffer
	h, err := StartHeld(helperArgv(t), &exec.Cmd{Stderr: &stderr, Env: append(os.Environ(), envAction+"=openloop")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(&Options{RingBytes: 4096, FilterPIDTree: h.Pid(), Types: []event.Type{event.TypeOpenat, event.TypeClose}})
	if err != nil {
		h.Abort()
		testkernel.SkipIfErr(t, err)
	}
	defer s.Close()
	h.Release()
	if err := h.Cmd.Wait(); err != nil {
		t.Fatalf("helper: %v %s", err, stderr.String())
	}
	st := s.Stats()
	lost := func(typ event.Type) uint64 { return st.Drops[ReasonRingbufFull][typ] + st.Drops[ReasonShed][typ] }
	if st.Lost == 0 || lost(event.TypeOpenat) == 0 || lost(event.TypeClose) == 0 {
		t.Fatalf("lost %d, openat %d close %d", st.Lost, lost(event.TypeOpenat), lost(event.TypeClose))
	}
	// Reading now delivers what fit, and the totals add up to the 40000
	// calls of the loop plus the helper's own start-up.
	received := 0
	if err := s.Drain(func(*event.Event) { received++ }); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if received == 0 || int(st.Received) != received {
		t.Errorf("received %d, stats say %d", received, st.Received)
	}
	if total := st.Received + st.Lost; total < 40000 {
		t.Errorf("received %d + lost %d < 40000 calls made", st.Received, st.Lost)
	}
}

func TestCloseIdempotent(t *testing.T) {
	testkernel.RequireRoot(t)
	s, err := New(&Options{Types: []event.Type{event.TypeKill}, ExcludeSelf: true})
	testkernel.SkipIfErr(t, err)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	if err := s.Read(&ev); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

// TestReadWakesUp checks that a lone event arrives without more traffic
// (the reader polls, since records are submitted without wake-up).
func TestReadWakesUp(t *testing.T) {
	testkernel.RequireRoot(t)
	s, err := New(&Options{Types: []event.Type{event.TypeKill}})
	testkernel.SkipIfErr(t, err)
	defer s.Close()
	unix.Kill(os.Getpid(), 0)
	got := make(chan event.Event, 1)
	go func() {
		var ev event.Event
		for s.Read(&ev) == nil {
			if ev.PID == uint32(os.Getpid()) {
				got <- clone(&ev)
				return
			}
		}
	}()
	select {
	case ev := <-got:
		if ev.Arg[0] != int64(os.Getpid()) || ev.Arg[1] != 0 {
			t.Errorf("kill args %v", ev.Arg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event not delivered")
	}
}

// TestExecFilelessAndUpperLayer checks the memfd and overlayfs upper-layer
// flags of exec events.
func TestExecFilelessAndUpperLayer(t *testing.T) {
	testkernel.RequireRoot(t)
	bb, err := exec.LookPath("busybox")
	testkernel.SkipIfErr(t, err)
	res := trace(t, Options{Types: []event.Type{event.TypeExecve}}, helperArgv(t), envAction+"=memfdexec", "VIGIL_SENSOR_TEST_BIN="+bb)
	var memfd bool
	for _, ev := range res.events {
		if ev.Exec != nil && ev.Exec.FromMemfd && strings.HasPrefix(ev.Exec.ExePath, "/memfd:vigil-fileless") {
			memfd = true
		}
	}
	if !memfd {
		for _, ev := range res.events {
			t.Logf("%s", event.AppendJSON(nil, &ev))
		}
		t.Errorf("no exec with from_memfd")
	}

	// overlayfs: a binary in the lower layer, a copy written to the upper.
	d := t.TempDir()
	for _, sub := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(d, "lower/low"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "lower/low/true"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", d, d, d)
	err = unix.Mount("overlay", filepath.Join(d, "merged"), "overlay", 0, opts)
	testkernel.SkipIfErr(t, err)
	defer unix.Unmount(filepath.Join(d, "merged"), unix.MNT_DETACH)
	if err := os.MkdirAll(filepath.Join(d, "merged/up"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "merged/up/true"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	res = trace(t, Options{Types: []event.Type{event.TypeExecve}}, []string{"sh", "-c",
		fmt.Sprintf("%s/merged/low/true && %s/merged/up/true", d, d)})
	got := map[string]bool{}
	for _, ev := range res.events {
		if ev.Exec != nil {
			got[filepath.Base(filepath.Dir(ev.Exec.Filename))] = ev.Exec.UpperLayer
		}
	}
	if up, ok := got["up"]; !ok || !up {
		t.Errorf("binary written in the upper layer: seen %v, upper_layer %v", ok, up)
	}
	if up, ok := got["low"]; !ok || up {
		t.Errorf("binary of the lower layer: seen %v, upper_layer %v", ok, up)
	}
}

// TestNotRoot checks the one clear error without privileges.
func TestNotRoot(t *testing.T) {
	testkernel.RequireRoot(t) // to drop to another uid
	cmd := exec.Command(helperArgv(t)[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envAction+"=nonroot")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "needs root") {
		t.Fatalf("non-root New: %v: %s", err, out)
	}
}

// TestDecodeNoAlloc checks that decoding a record without strings does not
// allocate.
func TestDecodeNoAlloc(t *testing.T) {
	s := &Sensor{comms: map[[16]byte]string{}}
	rec := make([]byte, hdrSize)
	h := (*vigilVigilHdr)(unsafe.Pointer(&rec[0]))
	h.Type = uint16(event.TypeClose)
	h.Kind = recSys
	h.Args[0] = 7
	h.Comm = [16]int8{'c', 'a', 't'}
	var ev event.Event
	n := testing.AllocsPerRun(100, func() {
		if _, err := s.decode(rec, &ev); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 || ev.FD != 7 || ev.Comm != "cat" || ev.Type != event.TypeClose {
		t.Fatalf("allocs %.1f, event %+v", n, ev)
	}
	if _, err := s.decode(rec[:10], &ev); err == nil {
		t.Fatal("short record decoded")
	}
}

// TestExecWritable checks exec.writable: root may write /bin/true (on a
// writable filesystem), nobody may not; a file made world-writable is.
func TestExecWritable(t *testing.T) {
	testkernel.RequireRoot(t)
	truePath, err := exec.LookPath("true")
	testkernel.SkipIfErr(t, err)
	run := func(argv []string, uid uint32) *event.Exec {
		t.Helper()
		var stderr bytes.Buffer
		tmpl := &exec.Cmd{Stderr: &stderr, Env: os.Environ(), SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}}
		h, err := StartHeld(argv, tmpl)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(&Options{Types: []event.Type{event.TypeExecve}, FilterPIDTree: h.Pid()})
		if err != nil {
			h.Abort()
			t.Fatal(err)
		}
		defer s.Close()
		h.Release()
		werr := h.Cmd.Wait()
		var x *event.Exec
		s.Drain(func(ev *event.Event) {
			if ev.Exec != nil && ev.Exec.Filename == argv[0] {
				c := clone(ev)
				x = c.Exec
			}
		})
		if x == nil {
			t.Fatalf("no exec of %s (%v %s)", argv[0], werr, stderr.String())
		}
		return x
	}
	var st unix.Statfs_t
	if err := unix.Statfs(truePath, &st); err != nil {
		t.Fatal(err)
	}
	rootWritable := st.Flags&unix.ST_RDONLY == 0
	if x := run([]string{truePath}, 0); x.Writable != rootWritable {
		t.Errorf("root exec of %s: writable %v, want %v", truePath, x.Writable, rootWritable)
	}
	if x := run([]string{truePath}, 65534); x.Writable {
		t.Errorf("nobody exec of %s: writable", truePath)
	}
	d := t.TempDir()
	os.Chmod(filepath.Dir(d), 0o755)
	os.Chmod(d, 0o755)
	bin, err := os.ReadFile(truePath)
	if err != nil {
		t.Fatal(err)
	}
	ww := filepath.Join(d, "true")
	if err := os.WriteFile(ww, bin, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(ww, 0o777)
	if x := run([]string{ww}, 65534); !x.Writable {
		t.Errorf("nobody exec of a world-writable %s: not writable", ww)
	}
}

// TestCgroupFilter moves a held child into a new cgroup v2 directory and
// traces only that cgroup: every event carries the directory's inode as its
// cgroup id, and the child's events are there.
func TestCgroupFilter(t *testing.T) {
	testkernel.RequireRoot(t)
	root, err := host.Cgroup2Root()
	testkernel.SkipIfErr(t, err)
	dir := filepath.Join(root, fmt.Sprintf("vigil-sensor-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		testkernel.SkipIfErr(t, err)
	}
	defer os.Remove(dir)
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	h, err := StartHeld([]string{"cat", "/etc/hostname"}, &exec.Cmd{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(h.Pid())), 0o644); err != nil {
		h.Abort()
		t.Fatal(err)
	}
	if got := cgroupInode(t, h.Pid()); got != st.Ino {
		t.Fatalf("child's cgroup inode %d, want %d", got, st.Ino)
	}
	s, err := New(&Options{FilterCgroup: st.Ino, Types: []event.Type{event.TypeExecve, event.TypeOpenat, event.TypeProcExit}})
	if err != nil {
		h.Abort()
		t.Fatal(err)
	}
	defer s.Close()
	h.Release()
	h.Cmd.Wait()
	var n int
	var sawCat bool
	s.Drain(func(ev *event.Event) {
		n++
		if ev.CgroupID != st.Ino || ev.PID != h.Pid() {
			t.Errorf("event outside the cgroup: %s", event.AppendJSON(nil, ev))
		}
		if ev.Type == event.TypeOpenat && ev.Path == "/etc/hostname" && ev.Ret >= 0 {
			sawCat = true
		}
	})
	if !sawCat {
		t.Errorf("cat's openat of /etc/hostname not seen in %d events", n)
	}
}

// TestExecIDsEnvInode: the exec record carries what Falco's proc.env,
// proc.vpid, thread.vtid, proc.vpgid, proc.sid and proc.exe_ino* need:
// `env -i` gives sh a known environment, setsid makes it a session and
// process group leader, and its child cat inherits both ids.
func TestExecIDsEnvInode(t *testing.T) {
	setsid, err := exec.LookPath("setsid")
	testkernel.SkipIfErr(t, err)
	res := trace(t, Options{Types: []event.Type{event.TypeExecve}},
		[]string{"env", "-i", "VIGIL_TEST_ENV=marker", "PATH=/usr/bin:/bin", setsid, "sh", "-c", "cat /etc/hostname >/dev/null; true"})
	var sh, cat *event.Event
	for i := range res.events {
		ev := &res.events[i]
		if ev.Exec == nil || ev.Ret != 0 {
			continue
		}
		switch ev.Comm {
		case "sh":
			sh = ev
		case "cat":
			cat = ev
		}
	}
	if sh == nil || cat == nil {
		t.Fatalf("exec of sh (%v) or cat (%v) missing", sh != nil, cat != nil)
	}
	if got := strings.Join(sh.Exec.Env, " "); got != "VIGIL_TEST_ENV=marker PATH=/usr/bin:/bin" || sh.Exec.EnvTruncated {
		t.Errorf("sh env %q (truncated %v)", got, sh.Exec.EnvTruncated)
	}
	// The test runs in the host pid namespace: namespace ids are host ids.
	if ids := sh.Exec.IDs; ids.VPID != sh.PID || ids.VTID != sh.TID || ids.VSID != sh.PID || ids.VPGID != sh.PID {
		t.Errorf("sh ids %+v, pid %d (setsid makes it session and group leader)", ids, sh.PID)
	}
	if ids := cat.Exec.IDs; ids.VPID != cat.PID || ids.VSID != sh.PID || ids.VPGID != sh.PID {
		t.Errorf("cat ids %+v, want vpid %d and sh's session and group %d", ids, cat.PID, sh.PID)
	}
	var st unix.Stat_t
	if err := unix.Stat(cat.Exec.ExePath, &st); err != nil {
		t.Fatal(err)
	}
	if cat.Exec.ExeIno != st.Ino || cat.Exec.ExeCtime != st.Ctim.Nano() || cat.Exec.ExeMtime != st.Mtim.Nano() {
		t.Errorf("cat exe ino %d ctime %d mtime %d, stat of %s: %d %d %d", cat.Exec.ExeIno, cat.Exec.ExeCtime,
			cat.Exec.ExeMtime, cat.Exec.ExePath, st.Ino, st.Ctim.Nano(), st.Mtim.Nano())
	}
}
