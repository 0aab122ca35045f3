package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
)

// envAction selects what the re-executed test binary does (see TestMain).
const envAction = "VIGIL_SENSOR_TEST_ACTION"

// envStop names the file whose creation stops the openuntil action.
const envStop = "VIGIL_SENSOR_TEST_STOP"

// atcwd returns AT_FDCWD as a raw syscall argument.
func atcwd() uintptr { v := int64(unix.AT_FDCWD); return uintptr(v) }

var keep []*byte // keeps C strings alive while raw syscalls use them

func cs(s string) uintptr {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	keep = append(keep, p)
	return uintptr(unsafe.Pointer(p))
}

// u converts an int argument for a raw syscall.
func u[T int | int64 | uintptr](v T) uintptr { return uintptr(v) }

func rawsys(nr uintptr, a ...uintptr) int64 {
	var x [6]uintptr
	copy(x[:], a)
	r, _, e := unix.Syscall6(nr, x[0], x[1], x[2], x[3], x[4], x[5])
	if e != 0 {
		return -int64(e)
	}
	return int64(r)
}

// runAction runs a helper action and exits.
func runAction(name string) {
	switch name {
	case "all":
		os.Stdout.Write(actionAll())
	case "memfdexec":
		// Copy a static binary into a memfd and execute it from there.
		bin, err := os.ReadFile(os.Getenv("VIGIL_SENSOR_TEST_BIN"))
		if err != nil {
			panic(err)
		}
		fd, err := unix.MemfdCreate("vigil-fileless", 0)
		if err != nil {
			panic(err)
		}
		unix.Write(fd, bin)
		err = unix.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), []string{"true"}, os.Environ())
		panic(err)
	case "nonroot":
		if err := unix.Setresuid(65534, 65534, 65534); err != nil {
			panic(err)
		}
		_, err := New(nil)
		if !errors.Is(err, ErrNotRoot) {
			fmt.Printf("New as uid 65534: %v", err)
			os.Exit(1)
		}
		fmt.Print(err)
	case "openloop":
		for i := 0; i < 20000; i++ {
			fd := rawsys(unix.SYS_OPENAT, atcwd(), cs("/etc/hostname"), unix.O_RDONLY, 0)
			rawsys(unix.SYS_CLOSE, uintptr(fd))
			keep = keep[:0]
		}
	case "openuntil":
		// TestLifecycleRingUnderFlood: opens and closes until the file
		// named by envStop exists (30 s at most).
		stop := os.Getenv(envStop)
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
			for i := 0; i < 1000; i++ {
				fd := rawsys(unix.SYS_OPENAT, atcwd(), cs("/etc/hostname"), unix.O_RDONLY, 0)
				rawsys(unix.SYS_CLOSE, uintptr(fd))
				keep = keep[:0]
			}
			if _, err := os.Stat(stop); err == nil {
				return
			}
		}
	case "snap":
		// TestSnap: a datagram through sendto/recvfrom and one through
		// sendmsg/recvmsg on a unix socket pair.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
		if err != nil {
			panic(err)
		}
		if err := unix.Sendto(fds[0], snapPayload, 0, nil); err != nil {
			panic(err)
		}
		b := make([]byte, 256)
		if _, _, err := unix.Recvfrom(fds[1], b, 0); err != nil {
			panic(err)
		}
		if _, err := unix.SendmsgN(fds[0], []byte("hello over sendmsg"), nil, nil, 0); err != nil {
			panic(err)
		}
		if _, _, _, _, err := unix.Recvmsg(fds[1], b, nil, 0); err != nil {
			panic(err)
		}
	case "io":
		// TestSnapIO: each call of the read/write family on a file.
		f, err := os.CreateTemp("", "vigil-io")
		if err != nil {
			panic(err)
		}
		defer os.Remove(f.Name())
		fd := int(f.Fd())
		for _, err := range []error{
			ignoreN(unix.Write(fd, ioPayload("write"))),
			ignoreN(unix.Pwrite(fd, ioPayload("pwrite"), 0)),
			ignoreN(unix.Writev(fd, [][]byte{ioPayload("writev"), []byte("second iovec")})),
			ignoreN(unix.Pwritev(fd, [][]byte{ioPayload("pwritev"), []byte("second iovec")}, 0)),
		} {
			if err != nil {
				panic(err)
			}
		}
		b, c := make([]byte, 7), make([]byte, 200)
		for _, err := range []error{
			ignoreN(unix.Pread(fd, b, 0)), // "pwritev"
			ignoreN(unix.Seek(fd, 0, 0)),
			ignoreN(unix.Read(fd, b)),
			ignoreN(unix.Seek(fd, 0, 0)),
			ignoreN(unix.Readv(fd, [][]byte{b, c})),
			ignoreN(unix.Preadv(fd, [][]byte{b, c}, 0)),
		} {
			if err != nil {
				panic(err)
			}
		}
	case "opens":
		// The opens of TestOpenFilter, in order, then an exec.
		for _, o := range filterOpens {
			if o.cwd != "" {
				if err := os.Chdir(o.cwd); err != nil {
					panic(err)
				}
			}
			fd := rawsys(unix.SYS_OPENAT, atcwd(), cs(o.path), uintptr(o.flags), 0)
			if fd >= 0 {
				rawsys(unix.SYS_CLOSE, uintptr(fd))
			}
		}
	case "closes":
		// TestCloseOfUnsentOpen: a dropped open and its close; then a
		// dropped open whose fd a reported dup2 replaces, and its close.
		fd := rawsys(unix.SYS_OPENAT, atcwd(), cs("/etc/hostname"), unix.O_RDONLY, 0)
		rawsys(unix.SYS_CLOSE, uintptr(fd))
		fd = rawsys(unix.SYS_OPENAT, atcwd(), cs("/etc/hostname"), unix.O_RDONLY, 0)
		sh := rawsys(unix.SYS_OPENAT, atcwd(), cs("/etc/shadow"), unix.O_RDONLY, 0)
		rawsys(unix.SYS_DUP2, uintptr(sh), uintptr(fd))
		rawsys(unix.SYS_CLOSE, uintptr(fd))
		rawsys(unix.SYS_CLOSE, uintptr(sh))
	case "connects":
		// TestConnectFilter: one connect per family on fixed fds
		// (connectFDs), each failing fast, and one on a file.
		for _, c := range connectFDs {
			fd, err := unix.Socket(c.domain, unix.SOCK_STREAM, 0)
			if c.domain == unix.AF_NETLINK {
				fd, err = unix.Socket(c.domain, unix.SOCK_RAW, unix.NETLINK_ROUTE)
			}
			if c.domain == 0 {
				fd, err = unix.Open("/etc/hostname", unix.O_RDONLY, 0)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", c.name, err)
				continue
			}
			if err := unix.Dup2(fd, c.fd); err != nil {
				panic(err)
			}
			unix.Close(fd)
			var sa unix.Sockaddr
			switch c.domain {
			case unix.AF_INET, 0:
				sa = &unix.SockaddrInet4{Port: 1, Addr: [4]byte{127, 0, 0, 1}}
			case unix.AF_INET6:
				sa = &unix.SockaddrInet6{Port: 1, Addr: [16]byte{15: 1}}
			case unix.AF_UNIX:
				sa = &unix.SockaddrUnix{Name: "/vigil-none/sock"}
			case unix.AF_NETLINK:
				sa = &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
			}
			_ = unix.Connect(c.fd, sa)
		}
	case "openflood":
		// Fill the ring with opens, then exec: the exec must get through.
		for i := 0; i < 20000; i++ {
			fd := rawsys(unix.SYS_OPENAT, atcwd(), cs("/etc/hostname"), unix.O_RDONLY, 0)
			rawsys(unix.SYS_CLOSE, uintptr(fd))
			keep = keep[:0]
		}
		bin, _ := exec.LookPath("true")
		if err := unix.Exec(bin, []string{"true", "after-flood"}, nil); err != nil {
			panic(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown action %q\n", name)
		os.Exit(2)
	}
	os.Exit(0)
}

func inet4(ip netip.Addr, port int) event.SockAddr {
	return event.SockAddr{Family: unix.AF_INET, IP: ip, Port: uint16(port)}
}

func sockname(fd int) event.SockAddr {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		panic(err)
	}
	in := sa.(*unix.SockaddrInet4)
	return inet4(netip.AddrFrom4(in.Addr), in.Port)
}

// cloneArgs is struct clone_args, version 0 (64 bytes).
type cloneArgs struct {
	Flags, Pidfd, ChildTID, ParentTID, ExitSignal, Stack, StackSize, TLS uint64
}

type rawSockaddrIn struct {
	Family uint16
	Port   [2]byte
	Addr   [4]byte
	Zero   [8]byte
}

func rawIn(a event.SockAddr) *rawSockaddrIn {
	return &rawSockaddrIn{Family: unix.AF_INET, Port: [2]byte{byte(a.Port >> 8), byte(a.Port)}, Addr: a.IP.As4()}
}

// actionAll makes every syscall of the def table with distinctive
// arguments and returns, in the capture format, the events the sensor must
// report for them (only the def-table arguments, Ret and Local are
// compared).
func actionAll() []byte {
	runtime.LockOSThread()
	var out []byte
	exp := func(t event.Type, ret int64, set func(ev *event.Event)) {
		ev := event.Event{Type: t, Ret: ret, FD: -1, FD2: -1, DirFD: -1, DirFD2: -1}
		if set != nil {
			set(&ev)
		}
		out = event.AppendJSON(out, &ev)
	}
	d, err := os.MkdirTemp("", "vigil-sensor-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(d)
	const cwd = unix.AT_FDCWD
	// devIno sets an open's dev and ino arguments to what fstat(2) says
	// of its new fd (the sensor reads them from the kernel's file).
	devIno := func(e *event.Event, fd int64) {
		var st unix.Stat_t
		if err := unix.Fstat(int(fd), &st); err != nil {
			panic(err)
		}
		e.Arg[1], e.Arg[2] = int64(st.Dev), int64(st.Ino)
	}

	dflags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	dfd := rawsys(unix.SYS_OPEN, cs(d), u(dflags), 0)
	exp(event.TypeOpen, dfd, func(e *event.Event) { e.Path = d; e.Flags = uint64(dflags); devIno(e, dfd) })
	oflags := unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC
	fd := rawsys(unix.SYS_OPENAT, u(dfd), cs("f1"), u(oflags), 0o640)
	// f1 is new: the open created it (evt.is_open_create, O_F_CREATED).
	exp(event.TypeOpenat, fd, func(e *event.Event) {
		e.DirFD = dfd
		e.Path = "f1"
		e.Flags = uint64(oflags) | event.OpenCreated
		e.Mode = 0o640
		devIno(e, fd)
	})
	// The same O_CREAT open of the now existing f1 creates nothing.
	r0 := rawsys(unix.SYS_OPENAT, u(dfd), cs("f1"), u(oflags), 0o640)
	exp(event.TypeOpenat, r0, func(e *event.Event) {
		e.DirFD = dfd
		e.Path = "f1"
		e.Flags = uint64(oflags)
		e.Mode = 0o640
		devIno(e, r0)
	})
	rawsys(unix.SYS_CLOSE, u(r0))
	exp(event.TypeClose, 0, func(e *event.Event) { e.FD = r0 })
	r := rawsys(unix.SYS_OPENAT, atcwd(), cs(d+"/nope/x"), unix.O_RDONLY, 0)
	exp(event.TypeOpenat, r, func(e *event.Event) { e.DirFD = cwd; e.Path = d + "/nope/x" })
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS}
	r = rawsys(unix.SYS_OPENAT2, u(dfd), cs("f1"), u(uintptr(unsafe.Pointer(&how))), unsafe.Sizeof(how))
	exp(event.TypeOpenat2, r, func(e *event.Event) {
		e.DirFD = dfd
		e.Path = "f1"
		e.Flags = how.Flags
		e.Arg[0] = int64(how.Resolve)
		devIno(e, r)
	})
	r = rawsys(unix.SYS_CREAT, cs(d+"/c1"), 0o600)
	exp(event.TypeCreat, r, func(e *event.Event) { e.Path = d + "/c1"; e.Mode = 0o600; devIno(e, r) })
	r = rawsys(unix.SYS_DUP, u(fd))
	exp(event.TypeDup, r, func(e *event.Event) { e.FD = fd })
	r = rawsys(unix.SYS_DUP2, u(fd), 100)
	exp(event.TypeDup2, r, func(e *event.Event) { e.FD = fd; e.FD2 = 100 })
	r = rawsys(unix.SYS_DUP3, u(fd), 101, unix.O_CLOEXEC)
	exp(event.TypeDup3, r, func(e *event.Event) { e.FD = fd; e.FD2 = 101; e.Flags = unix.O_CLOEXEC })
	r = rawsys(unix.SYS_CLOSE, 101)
	exp(event.TypeClose, r, func(e *event.Event) { e.FD = 101 })
	r = rawsys(unix.SYS_CLOSE, 12345)
	exp(event.TypeClose, r, func(e *event.Event) { e.FD = 12345 })

	r = rawsys(unix.SYS_LINK, cs(d+"/f1"), cs(d+"/l1"))
	exp(event.TypeLink, r, func(e *event.Event) { e.Path = d + "/f1"; e.Path2 = d + "/l1" })
	r = rawsys(unix.SYS_LINKAT, u(dfd), cs("f1"), u(dfd), cs("l2"), 0)
	exp(event.TypeLinkat, r, func(e *event.Event) { e.DirFD = dfd; e.Path = "f1"; e.DirFD2 = dfd; e.Path2 = "l2" })
	r = rawsys(unix.SYS_SYMLINK, cs("target-x"), cs(d+"/s1"))
	exp(event.TypeSymlink, r, func(e *event.Event) { e.Path = "target-x"; e.Path2 = d + "/s1" })
	r = rawsys(unix.SYS_SYMLINKAT, cs("target-y"), u(dfd), cs("s2"))
	exp(event.TypeSymlinkat, r, func(e *event.Event) { e.Path = "target-y"; e.DirFD = dfd; e.Path2 = "s2" })
	r = rawsys(unix.SYS_UNLINK, cs(d+"/l1"))
	exp(event.TypeUnlink, r, func(e *event.Event) { e.Path = d + "/l1" })
	r = rawsys(unix.SYS_UNLINKAT, u(dfd), cs("l2"), 0)
	exp(event.TypeUnlinkat, r, func(e *event.Event) { e.DirFD = dfd; e.Path = "l2" })
	r = rawsys(unix.SYS_RENAME, cs(d+"/s1"), cs(d+"/s1r"))
	exp(event.TypeRename, r, func(e *event.Event) { e.Path = d + "/s1"; e.Path2 = d + "/s1r" })
	r = rawsys(unix.SYS_RENAMEAT, u(dfd), cs("s2"), u(dfd), cs("s2r"))
	exp(event.TypeRenameat, r, func(e *event.Event) { e.DirFD = dfd; e.Path = "s2"; e.DirFD2 = dfd; e.Path2 = "s2r" })
	r = rawsys(unix.SYS_RENAMEAT2, u(dfd), cs("s2r"), u(dfd), cs("s3"), unix.RENAME_NOREPLACE)
	exp(event.TypeRenameat2, r, func(e *event.Event) {
		e.DirFD = dfd
		e.Path = "s2r"
		e.DirFD2 = dfd
		e.Path2 = "s3"
		e.Flags = unix.RENAME_NOREPLACE
	})
	r = rawsys(unix.SYS_MKDIR, cs(d+"/m1"), 0o750)
	exp(event.TypeMkdir, r, func(e *event.Event) { e.Path = d + "/m1"; e.Mode = 0o750 })
	r = rawsys(unix.SYS_MKDIRAT, u(dfd), cs("m2"), 0o700)
	exp(event.TypeMkdirat, r, func(e *event.Event) { e.DirFD = dfd; e.Path = "m2"; e.Mode = 0o700 })
	r = rawsys(unix.SYS_RMDIR, cs(d+"/m1"))
	exp(event.TypeRmdir, r, func(e *event.Event) { e.Path = d + "/m1" })
	r = rawsys(unix.SYS_CHMOD, cs(d+"/f1"), 0o604)
	exp(event.TypeChmod, r, func(e *event.Event) { e.Path = d + "/f1"; e.Mode = 0o604 })
	r = rawsys(unix.SYS_FCHMOD, u(fd), 0o644)
	exp(event.TypeFchmod, r, func(e *event.Event) { e.FD = fd; e.Mode = 0o644 })
	r = rawsys(unix.SYS_FCHMODAT, u(dfd), cs("f1"), 0o640)
	exp(event.TypeFchmodat, r, func(e *event.Event) { e.DirFD = dfd; e.Path = "f1"; e.Mode = 0o640 })
	r = rawsys(unix.SYS_CHDIR, cs(d))
	exp(event.TypeChdir, r, func(e *event.Event) { e.Path = d })
	r = rawsys(unix.SYS_FCHDIR, u(dfd))
	exp(event.TypeFchdir, r, func(e *event.Event) { e.FD = dfd })

	r = rawsys(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 1, 0, 0)
	exp(event.TypePtrace, r, func(e *event.Event) { e.Arg[0] = unix.PTRACE_PEEKDATA; e.Arg[1] = 1 })
	uid, gid := os.Getuid(), os.Getgid()
	r = rawsys(unix.SYS_SETUID, u(uid))
	exp(event.TypeSetuid, r, func(e *event.Event) { e.Arg[0] = int64(uid) })
	r = rawsys(unix.SYS_SETGID, u(gid))
	exp(event.TypeSetgid, r, func(e *event.Event) { e.Arg[0] = int64(gid) })
	m1 := ^uintptr(0)
	r = rawsys(unix.SYS_SETRESUID, m1, u(uid), m1)
	exp(event.TypeSetresuid, r, func(e *event.Event) { e.Arg = [4]int64{-1, int64(uid), -1, 0} })
	r = rawsys(unix.SYS_SETRESGID, m1, m1, u(gid))
	exp(event.TypeSetresgid, r, func(e *event.Event) { e.Arg = [4]int64{-1, -1, int64(gid), 0} })
	nsfd := rawsys(unix.SYS_OPENAT, atcwd(), cs("/proc/self/ns/uts"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	r = rawsys(unix.SYS_SETNS, u(nsfd), unix.CLONE_NEWUTS)
	exp(event.TypeSetns, r, func(e *event.Event) { e.FD = nsfd; e.Flags = unix.CLONE_NEWUTS })
	r = rawsys(unix.SYS_UNSHARE, unix.CLONE_NEWUTS)
	exp(event.TypeUnshare, r, func(e *event.Event) { e.Flags = unix.CLONE_NEWUTS })
	r = rawsys(unix.SYS_MOUNT, cs("vigil-none"), cs(d+"/nope"), cs("tmpfs"), unix.MS_RDONLY|unix.MS_NOSUID, 0)
	exp(event.TypeMount, r, func(e *event.Event) {
		e.Path = "vigil-none"
		e.Path2 = d + "/nope"
		e.Str = "tmpfs"
		e.Flags = unix.MS_RDONLY | unix.MS_NOSUID
	})
	r = rawsys(unix.SYS_UMOUNT2, cs(d+"/nope"), unix.MNT_DETACH)
	exp(event.TypeUmount2, r, func(e *event.Event) { e.Path = d + "/nope"; e.Flags = unix.MNT_DETACH })
	junk := make([]byte, 16)
	r = rawsys(unix.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&junk[0])), 16, cs("x=1"))
	exp(event.TypeInitModule, r, func(e *event.Event) { e.Arg[0] = 16; e.Str = "x=1" })
	r = rawsys(unix.SYS_FINIT_MODULE, u(fd), cs("y=2"), 0)
	exp(event.TypeFinitModule, r, func(e *event.Event) { e.FD = fd; e.Str = "y=2" })
	r = rawsys(unix.SYS_BPF, 0xffff, 0, 0)
	exp(event.TypeBpf, r, func(e *event.Event) { e.Arg[0] = 0xffff })
	r = rawsys(unix.SYS_MEMFD_CREATE, cs("vigil-memfd"), unix.MFD_CLOEXEC)
	exp(event.TypeMemfdCreate, r, func(e *event.Event) { e.Str = "vigil-memfd"; e.Flags = unix.MFD_CLOEXEC })
	r = rawsys(unix.SYS_USERFAULTFD, unix.O_CLOEXEC)
	exp(event.TypeUserfaultfd, r, func(e *event.Event) { e.Flags = unix.O_CLOEXEC })
	pid := os.Getpid()
	r = rawsys(unix.SYS_KILL, u(pid), 0)
	exp(event.TypeKill, r, func(e *event.Event) { e.Arg[0] = int64(pid) })

	// Network: TCP over loopback.
	lo := netip.MustParseAddr("127.0.0.1")
	stype := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	s := rawsys(unix.SYS_SOCKET, unix.AF_INET, u(stype), 0)
	exp(event.TypeSocket, s, func(e *event.Event) { e.Arg = [4]int64{unix.AF_INET, int64(stype), 0, 0} })
	any := inet4(lo, 0)
	r = rawsys(unix.SYS_BIND, u(s), uintptr(unsafe.Pointer(rawIn(any))), 16)
	exp(event.TypeBind, r, func(e *event.Event) { e.FD = s; e.Addr = any })
	r = rawsys(unix.SYS_LISTEN, u(s), 7)
	exp(event.TypeListen, r, func(e *event.Event) { e.FD = s; e.Arg[0] = 7 })
	srv := sockname(int(s))
	c := rawsys(unix.SYS_SOCKET, unix.AF_INET, u(stype), 0)
	r = rawsys(unix.SYS_CONNECT, u(c), uintptr(unsafe.Pointer(rawIn(srv))), 16)
	cli := sockname(int(c))
	exp(event.TypeConnect, r, func(e *event.Event) { e.FD = c; e.Addr = srv; e.Local = cli })
	var peer rawSockaddrIn
	plen := uint32(16)
	a := rawsys(unix.SYS_ACCEPT, u(s), uintptr(unsafe.Pointer(&peer)), uintptr(unsafe.Pointer(&plen)))
	exp(event.TypeAccept, a, func(e *event.Event) { e.Addr = cli; e.Local = srv })
	c2 := rawsys(unix.SYS_SOCKET, unix.AF_INET, u(stype), 0)
	rawsys(unix.SYS_CONNECT, u(c2), uintptr(unsafe.Pointer(rawIn(srv))), 16)
	cli2 := sockname(int(c2))
	plen = 16
	r = rawsys(unix.SYS_ACCEPT4, u(s), uintptr(unsafe.Pointer(&peer)), uintptr(unsafe.Pointer(&plen)), unix.SOCK_CLOEXEC)
	exp(event.TypeAccept4, r, func(e *event.Event) { e.Addr = cli2; e.Local = srv; e.Flags = unix.SOCK_CLOEXEC })
	msg := []byte("hello")
	r = rawsys(unix.SYS_SENDTO, u(c), uintptr(unsafe.Pointer(&msg[0])), 5, 0, 0, 0)
	exp(event.TypeSendto, r, func(e *event.Event) { e.FD = c; e.Arg[0] = 5 })
	buf := make([]byte, 64)
	r = rawsys(unix.SYS_RECVFROM, u(a), uintptr(unsafe.Pointer(&buf[0])), 64, 0, 0, 0)
	exp(event.TypeRecvfrom, r, func(e *event.Event) { e.FD = a; e.Arg[0] = 64 })

	// Network: UDP, where the addresses travel with the data.
	dtype := unix.SOCK_DGRAM | unix.SOCK_CLOEXEC
	u1 := rawsys(unix.SYS_SOCKET, unix.AF_INET, u(dtype), 0)
	rawsys(unix.SYS_BIND, u(u1), uintptr(unsafe.Pointer(rawIn(any))), 16)
	u1a := sockname(int(u1))
	u2 := rawsys(unix.SYS_SOCKET, unix.AF_INET, u(dtype), 0)
	rawsys(unix.SYS_BIND, u(u2), uintptr(unsafe.Pointer(rawIn(any))), 16)
	u2a := sockname(int(u2))
	r = rawsys(unix.SYS_SENDTO, u(u2), uintptr(unsafe.Pointer(&msg[0])), 3, 0, uintptr(unsafe.Pointer(rawIn(u1a))), 16)
	exp(event.TypeSendto, r, func(e *event.Event) { e.FD = u2; e.Arg[0] = 3; e.Addr = u1a })
	var from rawSockaddrIn
	flen := uint32(16)
	r = rawsys(unix.SYS_RECVFROM, u(u1), uintptr(unsafe.Pointer(&buf[0])), 64, 0, uintptr(unsafe.Pointer(&from)), uintptr(unsafe.Pointer(&flen)))
	exp(event.TypeRecvfrom, r, func(e *event.Event) { e.FD = u1; e.Arg[0] = 64; e.Addr = u2a })
	iov := unix.Iovec{Base: &msg[0], Len: 4}
	mh := unix.Msghdr{Name: (*byte)(unsafe.Pointer(rawIn(u1a))), Namelen: 16, Iov: &iov, Iovlen: 1}
	r = rawsys(unix.SYS_SENDMSG, u(u2), uintptr(unsafe.Pointer(&mh)), 0)
	exp(event.TypeSendmsg, r, func(e *event.Event) { e.FD = u2; e.Arg[0] = 4; e.Addr = u1a })
	iov2 := unix.Iovec{Base: &buf[0], Len: 64}
	mh2 := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&from)), Namelen: 16, Iov: &iov2, Iovlen: 1}
	r = rawsys(unix.SYS_RECVMSG, u(u1), uintptr(unsafe.Pointer(&mh2)), 0)
	exp(event.TypeRecvmsg, r, func(e *event.Event) { e.FD = u1; e.Arg[0] = 4; e.Addr = u2a })

	// AF_UNIX and AF_INET6 addresses.
	us := rawsys(unix.SYS_SOCKET, unix.AF_UNIX, u(stype), 0)
	upath := d + "/sock"
	if err := unix.Bind(int(us), &unix.SockaddrUnix{Name: upath}); err != nil {
		panic(err)
	}
	unix.Listen(int(us), 1)
	uc := rawsys(unix.SYS_SOCKET, unix.AF_UNIX, u(stype), 0)
	var sun unix.RawSockaddrUnix
	sun.Family = unix.AF_UNIX
	for i := range upath {
		sun.Path[i] = int8(upath[i])
	}
	r = rawsys(unix.SYS_CONNECT, u(uc), uintptr(unsafe.Pointer(&sun)), u(2+len(upath)+1))
	exp(event.TypeConnect, r, func(e *event.Event) { e.FD = uc; e.Addr = event.SockAddr{Family: unix.AF_UNIX, Path: upath} })
	if l6, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err == nil {
		if unix.Bind(l6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}) == nil && unix.Listen(l6, 1) == nil {
			sa, _ := unix.Getsockname(l6)
			p6 := sa.(*unix.SockaddrInet6).Port
			c6 := rawsys(unix.SYS_SOCKET, unix.AF_INET6, u(stype), 0)
			var raw6 unix.RawSockaddrInet6
			raw6.Family = unix.AF_INET6
			raw6.Port = uint16(p6>>8) | uint16(p6&0xff)<<8
			raw6.Addr[15] = 1
			r = rawsys(unix.SYS_CONNECT, u(c6), uintptr(unsafe.Pointer(&raw6)), unsafe.Sizeof(raw6))
			lsa, _ := unix.Getsockname(int(c6))
			lp := lsa.(*unix.SockaddrInet6).Port
			v6 := netip.MustParseAddr("::1")
			exp(event.TypeConnect, r, func(e *event.Event) {
				e.FD = c6
				e.Addr = event.SockAddr{Family: unix.AF_INET6, IP: v6, Port: uint16(p6)}
				e.Local = event.SockAddr{Family: unix.AF_INET6, IP: v6, Port: uint16(lp)}
			})
		}
	}

	// Failed execs are reported from the syscall exit.
	argv := []uintptr{cs("x"), 0}
	r = rawsys(unix.SYS_EXECVE, cs("/nonexistent/vigil"), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&argv[1])))
	exp(event.TypeExecve, r, func(e *event.Event) { e.Path = "/nonexistent/vigil" })
	r = rawsys(unix.SYS_EXECVEAT, u(dfd), cs("nope"), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&argv[1])), unix.AT_SYMLINK_NOFOLLOW)
	exp(event.TypeExecveat, r, func(e *event.Event) { e.DirFD = dfd; e.Path = "nope"; e.Flags = unix.AT_SYMLINK_NOFOLLOW })

	// fork and clone3: the child exits at once.
	child, _, errno := unix.RawSyscall(unix.SYS_FORK, 0, 0, 0)
	if errno == 0 && child == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	var ws unix.WaitStatus
	unix.Wait4(int(child), &ws, 0, nil)
	exp(event.TypeFork, int64(child), func(e *event.Event) { e.Arg[0] = int64(child) })
	ca := cloneArgs{ExitSignal: uint64(unix.SIGCHLD)}
	child, _, errno = unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&ca)), unsafe.Sizeof(ca), 0)
	if errno == 0 && child == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 7, 0, 0)
	}
	unix.Wait4(int(child), &ws, 0, nil)
	exp(event.TypeClone3, int64(child), func(e *event.Event) { e.Arg[0] = int64(child) })
	runtime.KeepAlive(keep)
	return out
}

// ioPayload is what the io action writes with call: its name, a colon,
// then more than the snaplen.
func ioPayload(call string) []byte {
	return append([]byte(call+":"), bytes.Repeat([]byte("B"), 100)...)
}

func ignoreN[T any](_ T, err error) error { return err }
