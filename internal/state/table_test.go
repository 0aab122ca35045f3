package state

import (
	"net/netip"
	"os"
	"reflect"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// newSynthetic returns a table whose /proc is an empty directory, so that
// every process and fd comes from the events alone.
func newSynthetic(t testing.TB, cfg Config) *Table {
	t.Helper()
	cfg.ProcRoot = t.TempDir()
	cfg.CgroupRoot = "/nonexistent"
	tb, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tb
}

// ev builds an event of pid (tid = pid, ppid given) with no fd arguments.
func ev(typ event.Type, pid, ppid uint32) *event.Event {
	return &event.Event{
		Type: typ, PID: pid, TID: pid, PPID: ppid, Comm: "proc", LoginUID: event.NoLoginUID,
		FD: -1, FD2: -1, DirFD: -1, DirFD2: -1, Time: 1000,
	}
}

func execEv(pid, ppid uint32, comm, exepath, cwd string, argv ...string) *event.Event {
	e := ev(event.TypeExecve, pid, ppid)
	e.Comm = comm
	e.Path = exepath
	e.Exec = &event.Exec{Filename: exepath, ExePath: exepath, Argv: argv, Cwd: cwd, Tty: 34816, CapEff: 0x3, CapPrm: 0x3}
	e.Time = 2000
	return e
}

func forkEv(pid, ppid, child uint32) *event.Event {
	e := ev(event.TypeClone, pid, ppid)
	e.Ret = int64(child)
	e.Arg[0] = int64(child)
	e.Time = 1500
	return e
}

func openatEv(pid, ppid uint32, dirfd int64, path string, flags uint64, ret int64) *event.Event {
	e := ev(event.TypeOpenat, pid, ppid)
	e.DirFD, e.Path, e.Flags, e.Ret = dirfd, path, flags, ret
	return e
}

func fdEv(typ event.Type, pid, ppid uint32, fd, ret int64) *event.Event {
	e := ev(typ, pid, ppid)
	e.FD, e.Ret = fd, ret
	return e
}

func apply(t testing.TB, tb *Table, e *event.Event) *event.Event {
	t.Helper()
	tb.Apply(e)
	if e.Proc == nil {
		t.Fatalf("%v: Proc not set", e.Type)
	}
	return e
}

func wantFD(t testing.TB, what string, got *event.FDInfo, want event.FDInfo) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: FDInfo nil, want %+v", what, want)
	}
	if *got != want {
		t.Fatalf("%s: FDInfo\n got  %+v\n want %+v", what, *got, want)
	}
}

func ip4(s string, port uint16) event.SockAddr {
	return event.SockAddr{Family: syscall.AF_INET, IP: netip.MustParseAddr(s), Port: port}
}

func ip6(s string, port uint16) event.SockAddr {
	return event.SockAddr{Family: syscall.AF_INET6, IP: netip.MustParseAddr(s), Port: port}
}

// TestProcessLifecycle: exec → open dir → fork → exec in the child →
// openat via dirfd → dup2 → close → failed opens → exit and reap, with
// every Process and FDInfo field checked.
func TestProcessLifecycle(t *testing.T) {
	tb := newSynthetic(t, Config{})
	const bash, cat, initPID = 100, 101, 1

	e := apply(t, tb, execEv(bash, initPID, "bash", "/usr/bin/bash", "/home/u", "-bash", "-l"))
	want := event.Process{
		PID: bash, PPID: initPID, Comm: "bash", Exe: "-bash", ExePath: "/usr/bin/bash", Args: []string{"-l"},
		Cwd: "/home/u/", Tty: 34816, LoginUID: event.NoLoginUID, CapEff: 3, CapPrm: 3, ExecTime: 2000,
	}
	checkProc(t, "bash exec", e.Proc, want)
	if e.FDInfo != nil {
		t.Fatalf("exec: FDInfo = %+v, want nil (fd.* have no value on execve)", e.FDInfo)
	}
	if p := e.Proc.Parent; p == nil || p.PID != initPID || p.Comm != "<NA>" || p.Exe != "<NA>" || p.UID != ^uint32(0) {
		t.Fatalf("unknown parent: got %+v, want a <NA> placeholder for pid 1", p)
	}

	e = apply(t, tb, openatEv(bash, initPID, event.AtFDCWD, "docs/", syscall.O_RDONLY|syscall.O_DIRECTORY, 3))
	wantFD(t, "opendir", e.FDInfo, event.FDInfo{Num: 3, Type: event.FDDirectory, Name: "/home/u/docs", NameRaw: "docs/", Flags: syscall.O_DIRECTORY})
	e = apply(t, tb, openatEv(bash, initPID, event.AtFDCWD, "/etc//passwd", syscall.O_RDONLY|syscall.O_CLOEXEC, 4))
	wantFD(t, "open cloexec", e.FDInfo, event.FDInfo{Num: 4, Type: event.FDFile, Name: "/etc/passwd", NameRaw: "/etc/passwd", Flags: syscall.O_CLOEXEC})

	e = apply(t, tb, forkEv(bash, initPID, cat))
	if e.Proc.PID != bash {
		t.Fatalf("fork: Proc.PID = %d, want the parent %d", e.Proc.PID, bash)
	}
	child, ok := tb.Lookup(cat)
	if !ok {
		t.Fatal("fork: child not in the table")
	}
	wantChild := want
	wantChild.PID, wantChild.PPID, wantChild.StartTime = cat, bash, 1500
	checkProc(t, "forked child", &child, wantChild)

	e = apply(t, tb, execEv(cat, bash, "cat", "/usr/bin/cat", "", "cat", "x/f.txt"))
	wantCat := event.Process{
		PID: cat, PPID: bash, Comm: "cat", Exe: "cat", ExePath: "/usr/bin/cat", Args: []string{"x/f.txt"},
		Cwd: "/home/u/", Tty: 34816, LoginUID: event.NoLoginUID, CapEff: 3, CapPrm: 3, ExecTime: 2000, StartTime: 1500,
	}
	checkProc(t, "cat exec", e.Proc, wantCat)
	if e.Proc.Parent == nil || e.Proc.Parent.Comm != "bash" || e.Proc.Parent.Parent == nil || e.Proc.Parent.Parent.PID != initPID {
		t.Fatalf("cat ancestry: %+v", e.Proc.Parent)
	}
	if _, ok := tb.LookupFD(cat, 4); ok {
		t.Fatal("exec kept an O_CLOEXEC fd")
	}
	if fi, ok := tb.LookupFD(cat, 3); !ok || fi.Name != "/home/u/docs" {
		t.Fatalf("exec dropped an inherited fd: %+v %v", fi, ok)
	}

	e = apply(t, tb, openatEv(cat, bash, 3, "../x/./f.txt", syscall.O_RDWR|syscall.O_CREAT, 5))
	wantFD(t, "openat dirfd", e.FDInfo, event.FDInfo{Num: 5, Type: event.FDFile, Name: "/home/u/x/f.txt", NameRaw: "../x/./f.txt", Flags: syscall.O_RDWR | syscall.O_CREAT})

	d := fdEv(event.TypeDup2, cat, bash, 5, 1)
	d.FD2 = 1
	e = apply(t, tb, d)
	wantFD(t, "dup2", e.FDInfo, event.FDInfo{Num: 1, Type: event.FDFile, Name: "/home/u/x/f.txt", NameRaw: "../x/./f.txt", Flags: syscall.O_RDWR | syscall.O_CREAT})

	e = apply(t, tb, fdEv(event.TypeClose, cat, bash, 5, 0))
	wantFD(t, "close", e.FDInfo, event.FDInfo{Num: 5, Type: event.FDFile, Name: "/home/u/x/f.txt", NameRaw: "../x/./f.txt", Flags: syscall.O_RDWR | syscall.O_CREAT})
	if _, ok := tb.LookupFD(cat, 5); ok {
		t.Fatal("close did not remove the fd")
	}
	if fi, ok := tb.LookupFD(cat, 1); !ok || fi.Name != "/home/u/x/f.txt" {
		t.Fatalf("dup2 target lost after closing the source: %+v", fi)
	}

	e = apply(t, tb, openatEv(cat, bash, event.AtFDCWD, "../../etc/shadow", syscall.O_RDONLY, -int64(syscall.EACCES)))
	wantFD(t, "failed openat", e.FDInfo, event.FDInfo{Num: -1, Type: event.FDFile, Name: "/etc/shadow", NameRaw: "../../etc/shadow"})
	o := ev(event.TypeOpen, cat, bash)
	o.Path, o.Ret = "nope", -int64(syscall.ENOENT)
	e = apply(t, tb, o)
	wantFD(t, "failed open", e.FDInfo, event.FDInfo{Num: -1, Type: event.FDUnknown, Name: "/home/u/nope", NameRaw: "nope"})
	c := ev(event.TypeCreat, cat, bash)
	c.Path, c.Ret = "/tmp/new", 6
	e = apply(t, tb, c)
	wantFD(t, "creat", e.FDInfo, event.FDInfo{Num: 6, Type: event.FDFile, Name: "/tmp/new", NameRaw: "/tmp/new", Flags: syscall.O_CREAT | syscall.O_WRONLY | syscall.O_TRUNC})

	// Copy-on-write: the parent's table did not see the child's changes.
	if _, ok := tb.LookupFD(bash, 5); ok {
		t.Fatal("child's open leaked into the parent's fd table")
	}
	if _, ok := tb.LookupFD(bash, 4); !ok {
		t.Fatal("child's exec dropped the parent's O_CLOEXEC fd")
	}

	x := ev(event.TypeProcExit, cat, bash)
	e = apply(t, tb, x)
	if e.Proc == nil || e.Proc.Comm != "cat" {
		t.Fatalf("exit event not enriched: %+v", e.Proc)
	}
	if _, ok := tb.Lookup(cat); !ok {
		t.Fatal("process reaped before the next event")
	}
	apply(t, tb, fdEv(event.TypeFchmod, bash, initPID, 3, 0))
	if _, ok := tb.Lookup(cat); ok {
		t.Fatal("exited process not reaped at the next event")
	}
	st := tb.Stats()
	if st.Reaped != 1 || st.Procs != 2 || st.FDs != 2 {
		t.Fatalf("stats after reap: %+v, want Reaped 1, Procs 2 (bash, init placeholder), FDs 2", st)
	}
}

func checkProc(t testing.TB, what string, got *event.Process, want event.Process) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: Proc nil", what)
	}
	g := *got
	g.Parent, want.Parent = nil, nil
	g.State, want.State = nil, nil // the live state is checked by the field tests
	if len(g.Args) == 0 && len(want.Args) == 0 {
		g.Args, want.Args = nil, nil
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, g, want)
	}
}

func TestFailedExecKeepsImage(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(10, 1, "sh", "/bin/sh", "/", "sh"))
	f := execEv(10, 1, "evil", "/tmp/evil", "/", "evil")
	f.Ret = -int64(syscall.ENOENT)
	e := apply(t, tb, f)
	if e.Proc.Comm != "sh" || e.Proc.Exe != "sh" || e.Proc.ExePath != "/bin/sh" {
		t.Fatalf("failed exec changed the image: %+v", e.Proc)
	}
}

func TestSockets(t *testing.T) {
	tb := newSynthetic(t, Config{})
	const pid, ppid = 200, 1
	sock := func(fd int64, domain, typ, proto int64) *event.FDInfo {
		e := ev(event.TypeSocket, pid, ppid)
		e.Ret, e.Arg[0], e.Arg[1], e.Arg[2] = fd, domain, typ, proto
		return apply(t, tb, e).FDInfo
	}
	local := ip4("192.168.1.2", 40000)
	server := ip4("10.0.0.1", 443)

	// TCP: socket → connect (in progress) → send.
	wantFD(t, "tcp socket", sock(3, syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0),
		event.FDInfo{Num: 3, Type: event.FDIPv4, L4Proto: "tcp"})
	c := fdEv(event.TypeConnect, pid, ppid, 3, -int64(syscall.EINPROGRESS))
	c.Addr, c.Local = server, local
	tcp := event.FDInfo{Num: 3, Type: event.FDIPv4, L4Proto: "tcp",
		Name: "192.168.1.2:40000->10.0.0.1:443", Client: local, Server: server, Connected: true, NameChanged: true}
	wantFD(t, "connect", apply(t, tb, c).FDInfo, tcp)
	tcp.NameChanged = false
	s := fdEv(event.TypeSendto, pid, ppid, 3, 100)
	wantFD(t, "send on connected", apply(t, tb, s).FDInfo, tcp)
	s2 := fdEv(event.TypeSendto, pid, ppid, 3, 100)
	s2.Addr = ip4("1.1.1.1", 53) // ignored on a connected socket
	wantFD(t, "sendto addr on connected", apply(t, tb, s2).FDInfo, tcp)
	fc := fdEv(event.TypeConnect, pid, ppid, 3, -int64(syscall.ECONNREFUSED))
	fc.Addr = ip4("10.9.9.9", 1)
	wantFD(t, "failed connect leaves the fd", apply(t, tb, fc).FDInfo, tcp)

	// UDP: the name changes with each new peer (fd.name_changed).
	sock(4, syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	udp := func(to event.SockAddr) *event.FDInfo {
		e := fdEv(event.TypeSendto, pid, ppid, 4, 10)
		e.Addr, e.Local = to, ip4("0.0.0.0", 5353)
		return apply(t, tb, e).FDInfo
	}
	dns := ip4("8.8.8.8", 53)
	u := event.FDInfo{Num: 4, Type: event.FDIPv4, L4Proto: "udp",
		Name: "0.0.0.0:5353->8.8.8.8:53", Client: ip4("0.0.0.0", 5353), Server: dns, NameChanged: true}
	wantFD(t, "udp first peer", udp(dns), u)
	u.NameChanged = false
	wantFD(t, "udp same peer", udp(dns), u)
	u.Name, u.Server, u.NameChanged = "0.0.0.0:5353->1.1.1.1:53", ip4("1.1.1.1", 53), true
	wantFD(t, "udp new peer", udp(ip4("1.1.1.1", 53)), u)

	// Unknown fd first seen on sendto: assumed UDP.
	e := fdEv(event.TypeSendmsg, pid, ppid, 9, 10)
	e.Addr = dns
	wantFD(t, "sendmsg unknown fd", apply(t, tb, e).FDInfo, event.FDInfo{Num: 9, Type: event.FDIPv4, L4Proto: "udp",
		Name: "0.0.0.0:0->8.8.8.8:53", Client: ip4("0.0.0.0", 0), Server: dns})

	// IPv6 without brackets; IPv4-mapped pairs become IPv4.
	sock(5, syscall.AF_INET6, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	c = fdEv(event.TypeConnect, pid, ppid, 5, 0)
	c.Addr, c.Local = ip6("::1", 443), ip6("::1", 5000)
	if fi := apply(t, tb, c).FDInfo; fi.Name != "::1:5000->::1:443" || fi.Type != event.FDIPv6 {
		t.Fatalf("ipv6 connect: %+v", fi)
	}
	sock(6, syscall.AF_INET6, syscall.SOCK_STREAM, 0)
	c = fdEv(event.TypeConnect, pid, ppid, 6, 0)
	c.Addr, c.Local = ip6("::ffff:10.0.0.1", 80), ip6("::ffff:10.0.0.2", 5000)
	if fi := apply(t, tb, c).FDInfo; fi.Name != "10.0.0.2:5000->10.0.0.1:80" || fi.Type != event.FDIPv4 {
		t.Fatalf("mapped connect: %+v", fi)
	}

	// Unix.
	wantFD(t, "unix socket", sock(7, syscall.AF_UNIX, syscall.SOCK_STREAM, 0), event.FDInfo{Num: 7, Type: event.FDUnix})
	c = fdEv(event.TypeConnect, pid, ppid, 7, 0)
	c.Addr = event.SockAddr{Family: syscall.AF_UNIX, Path: "/run/containerd/containerd.sock"}
	if fi := apply(t, tb, c).FDInfo; fi.Name != "/run/containerd/containerd.sock" || fi.Type != event.FDUnix || !fi.Connected {
		t.Fatalf("unix connect: %+v", fi)
	}

	// Server: bind → listen → accept4.
	sock(8, syscall.AF_INET, syscall.SOCK_STREAM, 0)
	b := fdEv(event.TypeBind, pid, ppid, 8, 0)
	b.Addr = ip4("0.0.0.0", 8080)
	lst := event.FDInfo{Num: 8, Type: event.FDIPv4, L4Proto: "tcp", Name: "0.0.0.0:8080", Server: ip4("0.0.0.0", 8080), NameChanged: true}
	wantFD(t, "bind", apply(t, tb, b).FDInfo, lst)
	l := fdEv(event.TypeListen, pid, ppid, 8, 0)
	lst.Listening, lst.NameChanged = true, false
	wantFD(t, "listen", apply(t, tb, l).FDInfo, lst)
	a := ev(event.TypeAccept4, pid, ppid)
	a.Ret, a.Addr, a.Local, a.Flags = 10, ip4("172.17.0.5", 51000), ip4("172.17.0.1", 8080), syscall.SOCK_CLOEXEC
	wantFD(t, "accept4", apply(t, tb, a).FDInfo, event.FDInfo{Num: 10, Type: event.FDIPv4, L4Proto: "tcp",
		Name: "172.17.0.5:51000->172.17.0.1:8080", Client: ip4("172.17.0.5", 51000), Server: ip4("172.17.0.1", 8080), Connected: true})

	// Unix server: accept takes the path from the listening socket.
	sock(11, syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	b = fdEv(event.TypeBind, pid, ppid, 11, 0)
	b.Addr = event.SockAddr{Family: syscall.AF_UNIX, Path: "/run/app.sock"}
	apply(t, tb, b)
	apply(t, tb, fdEv(event.TypeListen, pid, ppid, 11, 0))
	a = fdEv(event.TypeAccept, pid, ppid, 11, 12)
	a.Addr = event.SockAddr{Family: syscall.AF_UNIX}
	if fi := apply(t, tb, a).FDInfo; fi.Type != event.FDUnix || fi.Name != "/run/app.sock" || !fi.Connected || fi.Num != 12 {
		t.Fatalf("unix accept: %+v", fi)
	}

	// exec drops the SOCK_CLOEXEC/accept4 cloexec sockets and keeps the others.
	apply(t, tb, execEv(pid, ppid, "x", "/x", "", "x"))
	for fd, keep := range map[int64]bool{3: false, 4: true, 8: true, 10: false, 11: true, 12: true} {
		if _, ok := tb.LookupFD(pid, fd); ok != keep {
			t.Errorf("after exec fd %d present=%v, want %v", fd, ok, keep)
		}
	}
}

func TestAnonFDs(t *testing.T) {
	tb := newSynthetic(t, Config{})
	m := ev(event.TypeMemfdCreate, 300, 1)
	m.Ret, m.Str, m.Flags = 3, "payload", mfdCloexec
	wantFD(t, "memfd", apply(t, tb, m).FDInfo, event.FDInfo{Num: 3, Type: event.FDMemfd, Name: "payload", NameRaw: "payload", Flags: mfdCloexec})
	u := ev(event.TypeUserfaultfd, 300, 1)
	u.Ret = 4
	wantFD(t, "userfaultfd", apply(t, tb, u).FDInfo, event.FDInfo{Num: 4, Type: event.FDUnix})
	b := ev(event.TypeBpf, 300, 1)
	b.Ret, b.Arg[0] = 5, 5 // BPF_PROG_LOAD
	wantFD(t, "bpf prog", apply(t, tb, b).FDInfo, event.FDInfo{Num: 5, Type: event.FDBPF})
	b = ev(event.TypeBpf, 300, 1)
	b.Ret, b.Arg[0] = 0, 2 // BPF_MAP_UPDATE_ELEM: no fd
	if fi := apply(t, tb, b).FDInfo; fi != nil {
		t.Fatalf("bpf map update created an fd: %+v", fi)
	}
	if _, ok := tb.LookupFD(300, 0); ok {
		t.Fatal("fd 0 appeared")
	}
}

func TestCwd(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(400, 1, "sh", "/bin/sh", "/home/u", "sh"))
	c := ev(event.TypeChdir, 400, 1)
	c.Path = "../../tmp/./a/"
	if p := apply(t, tb, c).Proc; p.Cwd != "/tmp/a/" {
		t.Fatalf("chdir: cwd %q, want /tmp/a/", p.Cwd)
	}
	c = ev(event.TypeChdir, 400, 1)
	c.Path, c.Ret = "/nope", -int64(syscall.ENOENT)
	if p := apply(t, tb, c).Proc; p.Cwd != "/tmp/a/" {
		t.Fatalf("failed chdir changed cwd to %q", p.Cwd)
	}
	apply(t, tb, openatEv(400, 1, event.AtFDCWD, "/var/log", syscall.O_DIRECTORY, 3))
	e := apply(t, tb, fdEv(event.TypeFchdir, 400, 1, 3, 0))
	if e.Proc.Cwd != "/var/log/" || e.FDInfo == nil || e.FDInfo.Num != 3 {
		t.Fatalf("fchdir: cwd %q fd %+v", e.Proc.Cwd, e.FDInfo)
	}
	o := apply(t, tb, openatEv(400, 1, event.AtFDCWD, "syslog", 0, 4))
	if o.FDInfo.Name != "/var/log/syslog" {
		t.Fatalf("open after fchdir: %q", o.FDInfo.Name)
	}
	// Unknown dirfd: Falco's <UNKNOWN> prefix.
	o = apply(t, tb, openatEv(400, 1, 42, "x", 0, 5))
	if o.FDInfo.Name != "<UNKNOWN>x" {
		t.Fatalf("unknown dirfd: %q", o.FDInfo.Name)
	}
}

func TestThreads(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(500, 1, "srv", "/srv", "/", "srv"))
	th := forkEv(500, 1, 501)
	th.Arg[0] = 500 // same tgid: a thread
	apply(t, tb, th)
	if p, ok := tb.Lookup(501); !ok || p.PID != 500 || p.Comm != "srv" {
		t.Fatalf("thread lookup: %+v %v", p, ok)
	}
	if n := len(tb.Processes()); n != 2 { // srv + init placeholder
		t.Fatalf("a thread created a process entry: %d processes", n)
	}
	x := ev(event.TypeProcExit, 500, 1)
	x.TID = 501
	if e := apply(t, tb, x); e.Proc == nil || e.Proc.PID != 500 {
		t.Fatalf("thread exit not enriched: %+v", e.Proc)
	}
	apply(t, tb, ev(event.TypeKill, 500, 1))
	if _, ok := tb.Lookup(500); !ok {
		t.Fatal("a thread's exit reaped the process")
	}
	if _, ok := tb.Lookup(501); ok {
		t.Fatal("exited thread still maps to the process")
	}
	apply(t, tb, ev(event.TypeProcExit, 500, 1))
	apply(t, tb, ev(event.TypeKill, 1, 0))
	if _, ok := tb.Lookup(500); ok {
		t.Fatal("leader exit did not reap the process")
	}

	// The leader exits first (pthread_exit in main): the process lives
	// until its last thread exits.
	apply(t, tb, execEv(600, 1, "mt", "/mt", "/", "mt"))
	th = forkEv(600, 1, 601)
	th.Arg[0] = 600
	apply(t, tb, th)
	apply(t, tb, ev(event.TypeProcExit, 600, 1))
	apply(t, tb, ev(event.TypeKill, 1, 0))
	if _, ok := tb.Lookup(600); !ok {
		t.Fatal("process reaped while a thread is alive")
	}
	x = ev(event.TypeProcExit, 600, 1)
	x.TID = 601
	apply(t, tb, x)
	apply(t, tb, ev(event.TypeKill, 1, 0))
	if _, ok := tb.Lookup(600); ok {
		t.Fatal("process not reaped after its last thread exited")
	}
}

func TestAncestryAndReparent(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(1000, 1, "p0", "/p0", "/", "p0"))
	for i := uint32(1); i <= 10; i++ {
		gp := 1000 + i - 2
		if i == 1 {
			gp = 1
		}
		apply(t, tb, forkEv(1000+i-1, gp, 1000+i))
		apply(t, tb, execEv(1000+i, 1000+i-1, "p"+string(rune('0'+i%10)), "/p", "/", "p"))
	}
	e := apply(t, tb, ev(event.TypeKill, 1010, 1009))
	p := e.Proc
	for i := 0; i < 10; i++ {
		if p.Parent == nil {
			t.Fatalf("ancestry stops at level %d (pid %d)", i, p.PID)
		}
		if p.Parent.PID != p.PPID {
			t.Fatalf("level %d: Parent.PID %d != PPID %d", i, p.Parent.PID, p.PPID)
		}
		p = p.Parent
	}
	if p.PID != 1000 {
		t.Fatalf("10th ancestor is %d, want 1000", p.PID)
	}
	// The parent exits; the kernel reparents to 1 and the next event says so.
	apply(t, tb, ev(event.TypeProcExit, 1009, 1008))
	e = apply(t, tb, ev(event.TypeKill, 1010, 1))
	if e.Proc.PPID != 1 || e.Proc.Parent == nil || e.Proc.Parent.PID != 1 {
		t.Fatalf("reparent: PPID %d Parent %+v", e.Proc.PPID, e.Proc.Parent)
	}
	if _, ok := tb.Lookup(1009); ok {
		t.Fatal("exited parent not reaped")
	}
}

func TestUnknownProcessFromEvent(t *testing.T) {
	tb := newSynthetic(t, Config{})
	e := ev(event.TypeKill, 600, 599)
	e.Comm, e.UID, e.GID, e.CgroupID = "ghost", 1000, 1000, 77
	p := apply(t, tb, e).Proc
	if p.Comm != "ghost" || p.Exe != "<NA>" || p.UID != 1000 || p.CgroupID != 77 || p.PPID != 599 {
		t.Fatalf("process from event: %+v", p)
	}
	if p.Parent == nil || p.Parent.Comm != "<NA>" || p.Parent.PID != 599 {
		t.Fatalf("placeholder parent: %+v", p.Parent)
	}
	st := tb.Stats()
	if st.Placeholders != 2 || st.ProcLookups != 2 || st.ProcMisses != 2 {
		t.Fatalf("stats: %+v, want 2 placeholders after 2 missed /proc lookups", st)
	}
	// setuid: credentials follow the events.
	s := ev(event.TypeSetuid, 600, 599)
	if p := apply(t, tb, s).Proc; p.UID != 0 {
		t.Fatalf("uid after setuid event: %d", p.UID)
	}
	// An exit of a process never seen is described from the event and
	// creates nothing.
	x := ev(event.TypeProcExit, 700, 600)
	x.Comm = "brief"
	apply(t, tb, x)
	if x.Proc == nil || x.Proc.PID != 700 || x.Proc.Comm != "brief" || x.Proc.Exe != "<NA>" || x.Proc.Parent == nil || x.Proc.Parent.Comm != "ghost" {
		t.Fatalf("exit of unknown process: %+v", x.Proc)
	}
	if _, ok := tb.Lookup(700); ok {
		t.Fatal("exit created an entry")
	}
}

func TestProcBounds(t *testing.T) {
	tb := newSynthetic(t, Config{MaxProcs: 4})
	apply(t, tb, execEv(10, 0, "keep", "/k", "/", "k"))
	for pid := uint32(20); pid < 30; pid++ {
		apply(t, tb, execEv(pid, 0, "p", "/p", "/", "p"))
		apply(t, tb, ev(event.TypeKill, 10, 0)) // keep 10 recently used
	}
	st := tb.Stats()
	if st.Procs != 4 || st.ProcEvictions != 7 {
		t.Fatalf("stats %+v, want 4 processes and 7 evictions", st)
	}
	for _, pid := range []uint32{10, 27, 28, 29} {
		if _, ok := tb.Lookup(pid); !ok {
			t.Errorf("recently used process %d evicted", pid)
		}
	}
}

func TestFDBounds(t *testing.T) {
	tb := newSynthetic(t, Config{MaxFDsPerProc: 3, MaxFDs: 5})
	for fd := int64(3); fd < 8; fd++ {
		apply(t, tb, openatEv(10, 0, event.AtFDCWD, "/f", 0, fd))
	}
	st := tb.Stats()
	if st.FDs != 3 || st.FDEvictions != 2 {
		t.Fatalf("per-process bound: %+v, want 3 fds, 2 evictions", st)
	}
	if _, ok := tb.LookupFD(10, 7); !ok {
		t.Fatal("the newest fd was evicted")
	}
	// A second process: the total bound drops the least recently used table.
	for fd := int64(3); fd < 6; fd++ {
		apply(t, tb, openatEv(11, 0, event.AtFDCWD, "/g", 0, fd))
	}
	st = tb.Stats()
	if st.FDs > 5 || st.FDs != 3 || st.FDEvictions != 5 {
		t.Fatalf("total bound: %+v, want 3 fds (process 10's table dropped), 5 evictions", st)
	}
	for fd := int64(3); fd < 6; fd++ {
		if _, ok := tb.LookupFD(11, fd); !ok {
			t.Fatalf("current process lost fd %d", fd)
		}
	}
}

func TestForkSharesFDTable(t *testing.T) {
	tb := newSynthetic(t, Config{})
	for fd := int64(3); fd < 13; fd++ {
		apply(t, tb, openatEv(10, 1, event.AtFDCWD, "/f", 0, fd))
	}
	if n := testing.AllocsPerRun(100, func() {
		tb.Apply(forkEv(10, 1, 11))
	}); n > 4 { // the event literal, the child entry and the LRU/map growth
		t.Fatalf("fork allocated %.0f times: the fd table is copied eagerly", n)
	}
	if st := tb.Stats(); st.FDs != 10 {
		t.Fatalf("shared table counted %d fds, want 10", st.FDs)
	}
	apply(t, tb, fdEv(event.TypeClose, 11, 10, 3, 0))
	if st := tb.Stats(); st.FDs != 19 {
		t.Fatalf("after the child's first change: %d fds, want 19 (copied table minus one)", st.FDs)
	}
	if _, ok := tb.LookupFD(10, 3); !ok {
		t.Fatal("child's close removed the parent's fd")
	}
}

// TestNoAllocs: events that do not change state allocate nothing.
func TestNoAllocs(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(10, 1, "c", "/c", "/", "c"))
	s := ev(event.TypeSocket, 10, 1)
	s.Ret, s.Arg[0], s.Arg[1] = 3, syscall.AF_INET, syscall.SOCK_STREAM
	apply(t, tb, s)
	c := fdEv(event.TypeConnect, 10, 1, 3, 0)
	c.Addr, c.Local = ip4("10.0.0.1", 443), ip4("10.0.0.2", 4000)
	apply(t, tb, c)
	u := ev(event.TypeSocket, 10, 1)
	u.Ret, u.Arg[0], u.Arg[1] = 4, syscall.AF_INET, syscall.SOCK_DGRAM
	apply(t, tb, u)
	apply(t, tb, openatEv(10, 1, event.AtFDCWD, "/etc/hosts", 0, 5))

	send := fdEv(event.TypeSendto, 10, 1, 3, 100)
	udp := fdEv(event.TypeSendto, 10, 1, 4, 100)
	udp.Addr = ip4("8.8.8.8", 53)
	fchmod := fdEv(event.TypeFchmod, 10, 1, 5, 0)
	kill := ev(event.TypeKill, 10, 1)
	recv := fdEv(event.TypeRecvfrom, 10, 1, 3, 100)
	tb.Apply(send)
	tb.Apply(udp)
	tb.Apply(udp)
	for name, e := range map[string]*event.Event{"sendto connected": send, "sendto same udp peer": udp, "fchmod": fchmod, "kill": kill, "recvfrom": recv} {
		if n := testing.AllocsPerRun(1000, func() { tb.Apply(e) }); n != 0 {
			t.Errorf("%s: %.1f allocs per Apply, want 0", name, n)
		}
		if e.Proc == nil {
			t.Errorf("%s: not enriched", name)
		}
	}
}

func TestNewRejectsNegativeBounds(t *testing.T) {
	_, err := New(Config{MaxFDs: -1, CgroupRoot: "/x"})
	if err == nil {
		t.Fatal("New accepted a negative bound")
	}
}

func TestResolvePath(t *testing.T) {
	for _, c := range []struct{ base, p, want string }{
		{"/home/u/", "a/../b/./c/", "/home/u/b/c"},
		{"/", "../../etc", "/etc"},
		{"/x/", "/etc//passwd/", "/etc/passwd"},
		{"", "rel", "<UNKNOWN>rel"},
		{"/a/", "", ""},
	} {
		if got := resolvePath(c.base, c.p); got != c.want {
			t.Errorf("resolvePath(%q, %q) = %q, want %q", c.base, c.p, got, c.want)
		}
	}
	if got := collapseSlashes("..//a///b"); got != "../a/b" {
		t.Errorf("collapseSlashes: %q", got)
	}
}

// TestConcurrentReaders runs Lookup, Processes, Stats and LookupFD while
// Apply changes the table (meaningful under -race).
func TestConcurrentReaders(t *testing.T) {
	tb := newSynthetic(t, Config{MaxProcs: 64})
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
			}
			if p, ok := tb.Lookup(10); ok && p.PID != 10 {
				t.Errorf("Lookup(10) returned pid %d", p.PID)
			}
			for _, p := range tb.Processes() {
				if p.Parent != nil {
					t.Error("Processes() leaked a Parent pointer")
				}
			}
			tb.Stats()
			tb.LookupFD(10, 3)
		}
	}()
	for i := 0; i < 2000; i++ {
		child := uint32(100 + i%50)
		tb.Apply(forkEv(10, 1, child))
		tb.Apply(execEv(child, 10, "c", "/c", "/tmp", "c", "x"))
		tb.Apply(openatEv(child, 10, event.AtFDCWD, "f", 0, 3))
		tb.Apply(openatEv(10, 1, event.AtFDCWD, "g", 0, 3))
		tb.Apply(ev(event.TypeProcExit, child, 10))
	}
	close(done)
	<-finished
	if st := tb.Stats(); st.Reaped < 1900 || st.Events != 10000 {
		t.Fatalf("stats %+v", st)
	}
}

// TestOrphansAdopted: when a process is reaped its children are re-parented
// from /proc (here a fake /proc/PID/stat), so the ancestry of their own
// descendants is right before the orphans emit any event.
func TestOrphansAdopted(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(10, 1, "init-ish", "/i", "/", "i"))
	apply(t, tb, forkEv(10, 1, 11))
	apply(t, tb, forkEv(11, 10, 12))
	apply(t, tb, forkEv(11, 10, 14)) // gone from /proc: keeps its old parent
	apply(t, tb, forkEv(12, 11, 13))
	stat := "12 (daemon) S 1 12 12 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 500 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	if err := os.MkdirAll(tb.cfg.ProcRoot+"/12", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tb.cfg.ProcRoot+"/12/stat", []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	apply(t, tb, ev(event.TypeProcExit, 11, 10))
	apply(t, tb, ev(event.TypeKill, 10, 1)) // reaps 11
	p, ok := tb.Lookup(13)
	if !ok || p.Parent == nil || p.Parent.PID != 12 || p.Parent.PPID != 1 || p.Parent.Parent == nil || p.Parent.Parent.PID != 1 {
		t.Fatalf("grandchild ancestry after its parent's parent exited: %+v / %+v", p, p.Parent)
	}
	q, _ := tb.Lookup(14)
	if q.PPID != 11 || q.Parent == nil || q.Parent.PID != 11 {
		t.Fatalf("orphan unknown to /proc: %+v", q)
	}
	// Its next event carries the new parent.
	e := apply(t, tb, ev(event.TypeKill, 14, 1))
	if e.Proc.PPID != 1 || e.Proc.Parent.PID != 1 {
		t.Fatalf("orphan after its event: %+v", e.Proc)
	}
}

// TestNoParentCycle: events that claim a cycle (lost events and pid reuse)
// leave the chain finite.
func TestNoParentCycle(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, ev(event.TypeKill, 20, 21))      // 20's parent is 21
	e := apply(t, tb, ev(event.TypeKill, 21, 20)) // and 21 claims 20
	if e.Proc.PPID != 20 || e.Proc.Parent != nil {
		t.Fatalf("cycle: 21 has PPID %d Parent %+v, want PPID 20 and no Parent", e.Proc.PPID, e.Proc.Parent)
	}
	if p, _ := tb.Lookup(20); p.Parent == nil || p.Parent.PID != 21 || p.Parent.Parent != nil {
		t.Fatalf("20's chain: %+v", p.Parent)
	}
}

// TestParentEntryReplaced: when the parent's entry is replaced (a fork event
// for a pid already seeded), the child's next event links the new entry.
func TestParentEntryReplaced(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(30, 29, "old", "/old", "/", "old"))
	apply(t, tb, forkEv(30, 29, 31))
	apply(t, tb, execEv(29, 1, "new", "/new", "/", "new"))
	apply(t, tb, forkEv(29, 1, 30)) // replaces 30
	apply(t, tb, execEv(30, 29, "fresh", "/fresh", "/", "fresh"))
	e := apply(t, tb, ev(event.TypeKill, 31, 30))
	if e.Proc.Parent == nil || e.Proc.Parent.Comm != "fresh" {
		t.Fatalf("31's parent after 30 was replaced: %+v", e.Proc.Parent)
	}
}

func TestSelfExecComm(t *testing.T) {
	for _, c := range []struct {
		file string
		self bool
	}{{"/proc/self/exe", true}, {"/proc/thread-self/exe", true}, {"/proc/123/exe", true},
		{"/proc/12a/exe", false}, {"/proc//exe", false}, {"/bin/exe", false}, {"/proc/self/exe2", false}, {"exe", false}} {
		if got := isSelfExec(c.file); got != c.self {
			t.Errorf("isSelfExec(%q) = %v", c.file, got)
		}
	}
	for argv0, want := range map[string]string{"base64": "base64", "/bin/cat": "cat", "": "", "/": "",
		"a-very-long-applet-name": "a-very-long-app"} {
		if got := argv0Comm(argv0); got != want {
			t.Errorf("argv0Comm(%q) = %q, want %q", argv0, got, want)
		}
	}
}
