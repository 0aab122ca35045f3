package state

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
)

func sockAddr(sa syscall.Sockaddr) event.SockAddr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return event.SockAddr{Family: syscall.AF_INET, IP: netip.AddrFrom4(a.Addr), Port: uint16(a.Port)}
	case *syscall.SockaddrInet6:
		return event.SockAddr{Family: syscall.AF_INET6, IP: netip.AddrFrom16(a.Addr), Port: uint16(a.Port)}
	case *syscall.SockaddrUnix:
		return event.SockAddr{Family: syscall.AF_UNIX, Path: a.Name}
	}
	return event.SockAddr{}
}

// TestEventsMatchKernel performs real syscalls in this process, feeds the
// events the sensor would produce for them, and checks the enricher's fd
// table against what the kernel reports in /proc/self/fd (read by a second,
// event-less table).
func TestEventsMatchKernel(t *testing.T) {
	pid := uint32(os.Getpid())
	ppid := uint32(os.Getppid())
	tb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	kernel := func(fd int) (event.FDInfo, bool) {
		k, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		return k.LookupFD(pid, int64(fd))
	}
	mk := func(typ event.Type) *event.Event {
		return &event.Event{Type: typ, PID: pid, TID: pid, PPID: ppid, FD: -1, FD2: -1, DirFD: -1,
			UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), LoginUID: event.NoLoginUID}
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	dir, err := filepath.EvalSymlinks(t.TempDir())
	must("tempdir", err)
	must("mkdir", os.MkdirAll(filepath.Join(dir, "sub", "x"), 0o755))

	// openat(AT_FDCWD, dir/sub, O_DIRECTORY) then openat(dirfd, relative).
	dfd, err := unix.Openat(unix.AT_FDCWD, dir+"/sub", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	must("open dir", err)
	defer unix.Close(dfd)
	e := mk(event.TypeOpenat)
	e.DirFD, e.Path, e.Flags, e.Ret = event.AtFDCWD, dir+"/sub", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, int64(dfd)
	tb.Apply(e)
	if k, ok := kernel(dfd); !ok || e.FDInfo == nil || e.FDInfo.Name != k.Name || e.FDInfo.Type != event.FDDirectory || k.Type != event.FDDirectory {
		t.Fatalf("dir fd: event %+v, kernel %+v", e.FDInfo, k)
	}

	const rel = "../sub/./x/..//f.txt"
	fd, err := unix.Openat(dfd, rel, unix.O_CREAT|unix.O_RDWR, 0o644)
	must("openat", err)
	defer unix.Close(fd)
	e = mk(event.TypeOpenat)
	e.DirFD, e.Path, e.Flags, e.Ret = int64(dfd), rel, unix.O_CREAT|unix.O_RDWR, int64(fd)
	tb.Apply(e)
	k, ok := kernel(fd)
	if !ok || e.FDInfo.Name != k.Name || e.FDInfo.Name != dir+"/sub/f.txt" || e.FDInfo.Type != k.Type || e.FDInfo.NameRaw != "../sub/./x/../f.txt" {
		t.Fatalf("openat via dirfd: event %+v, kernel %+v", e.FDInfo, k)
	}

	// Failed openat: the kernel has no fd, the event still names the path.
	_, err = unix.Openat(dfd, "missing/../nope", unix.O_RDONLY, 0)
	if err != unix.ENOENT {
		t.Fatalf("openat missing: %v", err)
	}
	e = mk(event.TypeOpenat)
	e.DirFD, e.Path, e.Ret = int64(dfd), "missing/../nope", -int64(unix.ENOENT)
	tb.Apply(e)
	if e.FDInfo == nil || e.FDInfo.Num != -1 || e.FDInfo.Name != dir+"/sub/nope" {
		t.Fatalf("failed openat: %+v", e.FDInfo)
	}

	// dup3 to a chosen number, then close the original.
	const newfd = 200
	must("dup3", unix.Dup3(fd, newfd, unix.O_CLOEXEC))
	defer unix.Close(newfd)
	e = mk(event.TypeDup3)
	e.FD, e.FD2, e.Flags, e.Ret = int64(fd), newfd, unix.O_CLOEXEC, newfd
	tb.Apply(e)
	k, ok = kernel(newfd)
	if !ok || e.FDInfo.Num != newfd || e.FDInfo.Name != k.Name || k.Flags&unix.O_CLOEXEC == 0 {
		t.Fatalf("dup3: event %+v, kernel %+v", e.FDInfo, k)
	}
	must("close", unix.Close(fd))
	e = mk(event.TypeClose)
	e.FD = int64(fd)
	tb.Apply(e)
	if _, ok := kernel(fd); ok {
		t.Fatal("kernel still has the closed fd")
	}
	if _, ok := tb.LookupFD(pid, int64(fd)); ok {
		t.Fatal("table still has the closed fd")
	}

	// TCP: listener via socket/bind/listen, client via socket/connect,
	// server side via accept4.
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must("socket", err)
	defer unix.Close(lfd)
	e = mk(event.TypeSocket)
	e.Ret, e.Arg[0], e.Arg[1] = int64(lfd), unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC
	tb.Apply(e)
	must("bind", unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	lsa, err := syscall.Getsockname(lfd)
	must("getsockname", err)
	e = mk(event.TypeBind)
	e.FD, e.Addr = int64(lfd), sockAddr(lsa)
	tb.Apply(e)
	must("listen", unix.Listen(lfd, 8))
	e = mk(event.TypeListen)
	e.FD = int64(lfd)
	tb.Apply(e)
	k, ok = kernel(lfd)
	if !ok || !e.FDInfo.Listening || !k.Listening || e.FDInfo.Name != k.Name || e.FDInfo.Type != k.Type || e.FDInfo.L4Proto != k.L4Proto {
		t.Fatalf("listener: event %+v, kernel %+v", e.FDInfo, k)
	}

	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	must("socket", err)
	defer unix.Close(cfd)
	e = mk(event.TypeSocket)
	e.Ret, e.Arg[0], e.Arg[1] = int64(cfd), unix.AF_INET, unix.SOCK_STREAM
	tb.Apply(e)
	must("connect", syscall.Connect(cfd, lsa))
	csa, err := syscall.Getsockname(cfd)
	must("getsockname", err)
	e = mk(event.TypeConnect)
	e.FD, e.Addr, e.Local = int64(cfd), sockAddr(lsa), sockAddr(csa)
	tb.Apply(e)
	k, ok = kernel(cfd)
	want := "127.0.0.1:" + strconv.Itoa(csa.(*syscall.SockaddrInet4).Port) + "->127.0.0.1:" + strconv.Itoa(lsa.(*syscall.SockaddrInet4).Port)
	if !ok || e.FDInfo.Name != want || k.Name != want || !e.FDInfo.Connected || !k.Connected || !e.FDInfo.NameChanged {
		t.Fatalf("connect: event %+v, kernel %+v, want name %s", e.FDInfo, k, want)
	}

	afd, peer, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
	must("accept4", err)
	defer unix.Close(afd)
	asa, err := syscall.Getsockname(afd)
	must("getsockname", err)
	e = mk(event.TypeAccept4)
	e.Ret, e.Addr, e.Local, e.Flags = int64(afd), sockAddr(peer), sockAddr(asa), syscall.SOCK_CLOEXEC
	tb.Apply(e)
	if e.FDInfo.Name != want || e.FDInfo.Num != int64(afd) {
		t.Fatalf("accept4: %+v, want the client->server name %s", e.FDInfo, want)
	}

	// UDP sendto: the tuple follows the destination.
	ufd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	must("socket", err)
	defer unix.Close(ufd)
	e = mk(event.TypeSocket)
	e.Ret, e.Arg[0], e.Arg[1] = int64(ufd), unix.AF_INET, unix.SOCK_DGRAM
	tb.Apply(e)
	must("sendto", syscall.Sendto(ufd, []byte("x"), 0, lsa)) // nothing listens on UDP there: fine
	usa, err := syscall.Getsockname(ufd)
	must("getsockname", err)
	e = mk(event.TypeSendto)
	e.FD, e.Ret, e.Addr, e.Local = int64(ufd), 1, sockAddr(lsa), sockAddr(usa)
	tb.Apply(e)
	wantU := "0.0.0.0:" + strconv.Itoa(usa.(*syscall.SockaddrInet4).Port) + "->127.0.0.1:" + strconv.Itoa(lsa.(*syscall.SockaddrInet4).Port)
	if e.FDInfo.Name != wantU || !e.FDInfo.NameChanged || e.FDInfo.L4Proto != "udp" || e.FDInfo.Connected {
		t.Fatalf("udp sendto: %+v, want %s", e.FDInfo, wantU)
	}
	if k, ok := kernel(ufd); !ok || k.Type != event.FDIPv4 || k.L4Proto != "udp" {
		t.Fatalf("kernel view of the udp socket: %+v", k)
	}
}
