package state

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// startSleep starts a real `sleep` in dir with extra open files as fds 3…,
// and waits (polling) until the exec has happened.
func startSleep(t *testing.T, dir string, files ...*os.File) *exec.Cmd {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep not found: %v", err)
	}
	cmd := exec.Command(sleep, "1000", "5s")
	cmd.Args[0] = "sleep"
	cmd.Dir = dir
	cmd.ExtraFiles = files
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	want, _ := filepath.EvalSymlinks(sleep)
	deadline := time.Now().Add(10 * time.Second)
	for {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
		if exe == want {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep did not exec: exe %q, want %q", exe, want)
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

// selfCgroupID computes the cgroup id of this process independently of the
// package: the inode of the "0::" directory under the cgroup2 mount.
func selfCgroupID(t *testing.T) uint64 {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var root string
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, " - cgroup2 ") {
			root = strings.Fields(l)[4]
		}
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil || root == "" {
		return 0
	}
	for _, l := range strings.Split(string(cg), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			fi, err := os.Stat(root + p)
			if err != nil {
				t.Fatalf("stat cgroup dir: %v", err)
			}
			return fi.Sys().(*syscall.Stat_t).Ino
		}
	}
	return 0
}

func TestSeedRealProcess(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "data.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	before := time.Now().UnixNano()
	cmd := startSleep(t, dir, f, lf, d)
	pid := uint32(cmd.Process.Pid)

	// A budget of a whole second: this test is about what the lazy lookups find; on a loaded machine three
	// lookups can take more than the default 20 ms a second, after which the table skips them (TestFDLookupBudget).
	tb, err := New(Config{FDLookupBudget: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Seed(); err != nil {
		t.Fatal(err)
	}
	p, ok := tb.Lookup(pid)
	if !ok {
		t.Fatalf("seeded table has no entry for the child %d", pid)
	}
	sleepPath, _ := exec.LookPath("sleep")
	exePath, _ := filepath.EvalSymlinks(sleepPath)
	realDir, _ := filepath.EvalSymlinks(dir)
	if p.Comm != "sleep" || p.Exe != "sleep" || strings.Join(p.Args, " ") != "1000 5s" ||
		p.ExePath != exePath || p.Cwd != realDir+"/" || p.PPID != uint32(os.Getpid()) {
		t.Fatalf("child entry: %+v\nwant comm/exe sleep, args [1000 5s], exepath %s, cwd %s/, ppid %d",
			p, exePath, realDir, os.Getpid())
	}
	if p.UID != uint32(os.Geteuid()) || p.GID != uint32(os.Getegid()) {
		t.Fatalf("uid/gid %d/%d, want %d/%d", p.UID, p.GID, os.Geteuid(), os.Getegid())
	}
	self, _ := tb.Lookup(uint32(os.Getpid()))
	if p.Tty != self.Tty || p.LoginUID != self.LoginUID || p.CapEff != self.CapEff || p.CapPrm != self.CapPrm {
		t.Fatalf("inherited tty/loginuid/caps differ from the parent's: %+v vs %+v", p, self)
	}
	if lu, err := os.ReadFile("/proc/self/loginuid"); err == nil && strings.TrimSpace(string(lu)) != strconv.FormatUint(uint64(p.LoginUID), 10) {
		t.Fatalf("loginuid %d, /proc/self/loginuid says %s", p.LoginUID, lu)
	}
	if want := selfCgroupID(t); p.CgroupID != want {
		t.Fatalf("cgroup id %d, want %d", p.CgroupID, want)
	}
	// /proc start times have clock-tick (10ms) resolution.
	if now := time.Now().UnixNano(); p.StartTime < before-int64(20*time.Millisecond) || p.StartTime > now+int64(20*time.Millisecond) {
		t.Fatalf("start time %d outside [%d, %d]", p.StartTime, before, now)
	}

	// Ancestry: the test binary, then up to pid 1.
	if p.Parent == nil || p.Parent.PID != uint32(os.Getpid()) {
		t.Fatalf("parent: %+v", p.Parent)
	}
	depth := 0
	for a := &p; a.PID != 1; a = a.Parent {
		if a.Parent == nil {
			t.Fatalf("ancestry of %d stops at %d (%s) before pid 1", pid, a.PID, a.Comm)
		}
		if a.Parent.PID != a.PPID {
			t.Fatalf("pid %d: Parent.PID %d != PPID %d", a.PID, a.Parent.PID, a.PPID)
		}
		depth++
	}
	t.Logf("ancestry depth to pid 1: %d", depth)

	// Threads of a seeded process map to it (the Go runtime has several).
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	threads := 0
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if tid == os.Getpid() {
			continue
		}
		threads++
		if q, ok := tb.Lookup(uint32(tid)); !ok || q.PID != uint32(os.Getpid()) {
			// A thread started after Seed is unknown until its clone event.
			t.Logf("thread %d: %+v %v", tid, q.PID, ok)
			threads--
		}
	}
	if threads == 0 {
		t.Fatal("no thread of the test process maps to it")
	}

	// Fds, resolved lazily from /proc.
	fi, ok := tb.LookupFD(pid, 3)
	if !ok || fi.Type != event.FDFile || fi.Name != filepath.Join(realDir, "data.txt") ||
		fi.Flags&syscall.O_ACCMODE != syscall.O_RDWR || fi.Flags&syscall.O_CLOEXEC != 0 {
		t.Fatalf("fd 3: %+v %v", fi, ok)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fi, ok = tb.LookupFD(pid, 4)
	if !ok || fi.Type != event.FDIPv4 || !fi.Listening || fi.L4Proto != "tcp" || fi.Name != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("fd 4 (listener on port %d): %+v %v", port, fi, ok)
	}
	fi, ok = tb.LookupFD(pid, 5)
	if !ok || fi.Type != event.FDDirectory || fi.Name != realDir {
		t.Fatalf("fd 5 (directory): %+v %v", fi, ok)
	}
	if _, ok := tb.LookupFD(pid, 99); ok {
		t.Fatal("fd 99 is not open but was found")
	}
	st := tb.Stats()
	if st.FDLookups != 4 || st.FDMisses != 1 || st.FDs != 3 {
		t.Fatalf("fd stats %+v, want 4 lookups, 1 miss, 3 fds", st)
	}
	if st.Procs < 3 || st.ProcLookups < uint64(st.Procs) {
		t.Fatalf("proc stats %+v", st)
	}
	if len(tb.Processes()) != st.Procs {
		t.Fatalf("Processes() has %d entries, Stats says %d", len(tb.Processes()), st.Procs)
	}
}

// TestLazyProcessAndFD: a process started after Seed is read from /proc on
// its first event, and the event's fd too.
func TestLazyProcessAndFD(t *testing.T) {
	tb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Seed(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "late.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := startSleep(t, dir, f)
	pid := uint32(cmd.Process.Pid)
	if _, ok := tb.Lookup(pid); ok {
		t.Fatal("process started after Seed is already known")
	}
	before := tb.Stats()
	e := &event.Event{Type: event.TypeFchmod, PID: pid, TID: pid, PPID: uint32(os.Getpid()), FD: 3, Ret: 0,
		UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), LoginUID: event.NoLoginUID}
	tb.Apply(e)
	if e.Proc == nil || e.Proc.Comm != "sleep" || e.Proc.Parent == nil || e.Proc.Parent.PID != uint32(os.Getpid()) {
		t.Fatalf("lazy process: %+v", e.Proc)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	if e.FDInfo == nil || e.FDInfo.Name != filepath.Join(realDir, "late.txt") || e.FDInfo.Num != 3 {
		t.Fatalf("lazy fd: %+v", e.FDInfo)
	}
	// fd.dev and fd.ino of an fd found in /proc: stat's.
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if e.FDInfo.Ino != st.Ino || uint64(e.FDInfo.Dev) != st.Dev {
		t.Fatalf("lazy fd dev %d ino %d, stat says %d %d", e.FDInfo.Dev, e.FDInfo.Ino, st.Dev, st.Ino)
	}
	after := tb.Stats()
	if after.ProcLookups != before.ProcLookups+1 || after.FDLookups != before.FDLookups+1 {
		t.Fatalf("stats before %+v after %+v: want one process and one fd lookup", before, after)
	}
	// The second event on the same fd does not go to /proc again.
	tb.Apply(e)
	if s := tb.Stats(); s.FDLookups != after.FDLookups || s.ProcLookups != after.ProcLookups {
		t.Fatalf("second event went to /proc: %+v", s)
	}
}

func TestParseHexAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000000000000000000001000000:01BB": "::1:443",
		"0000000000000000FFFF00000100007F:0050": "::ffff:127.0.0.1:80",
	} {
		a, ok := parseHexAddr(in)
		if !ok || string(appendAddr(nil, a)) != want {
			t.Errorf("parseHexAddr(%q) = %+v %v, want %s", in, a, ok, want)
		}
	}
	if _, ok := parseHexAddr("zz:1"); ok {
		t.Error("parseHexAddr accepted garbage")
	}
}

func TestFindCgroup2(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "self"), 0o755)
	mi := "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n" +
		"40 30 0:37 / /sys/fs/cgroup/with\\040space rw,relatime - cgroup2 cgroup2 rw\n"
	os.WriteFile(filepath.Join(dir, "self", "mountinfo"), []byte(mi), 0o644)
	got, err := findCgroup2(dir)
	if err != nil || got != "/sys/fs/cgroup/with space" {
		t.Fatalf("findCgroup2 = %q, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, "self", "mountinfo"), []byte(mi[:strings.Index(mi, "\n")+1]), 0o644)
	if got, err := findCgroup2(dir); err != nil || got != "" {
		t.Fatalf("no cgroup2: %q, %v", got, err)
	}
	if _, err := findCgroup2(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing mountinfo: no error")
	}
}

// TestSweep: a process whose exit event was lost is removed by Sweep once
// it is gone from /proc; live processes stay.
func TestSweep(t *testing.T) {
	tb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := startSleep(t, t.TempDir())
	pid := uint32(cmd.Process.Pid)
	tb.Apply(&event.Event{Type: event.TypeKill, PID: pid, TID: pid, PPID: uint32(os.Getpid()), LoginUID: event.NoLoginUID})
	if n := tb.Sweep(0); n != 0 {
		t.Fatalf("Sweep removed %d live processes", n)
	}
	cmd.Process.Kill()
	cmd.Wait() // reaped by the kernel: /proc/PID is gone
	if n := tb.Sweep(0); n != 1 {
		t.Fatalf("Sweep removed %d processes, want 1", n)
	}
	if _, ok := tb.Lookup(pid); ok {
		t.Fatal("dead process still in the table")
	}
	if _, ok := tb.Lookup(uint32(os.Getpid())); !ok {
		t.Fatal("Sweep removed the live parent")
	}
	if st := tb.Stats(); st.Swept != 1 {
		t.Fatalf("stats %+v", st)
	}
}
