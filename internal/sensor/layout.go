package sensor

import (
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
)

// layout says, for one event type, which x86-64 syscall produces it, what
// the BPF program must capture (desc) and where each raw register goes in
// the Event. It is the single source of the per-syscall argument layout:
// the BPF descriptor table is filled from it and the decoder reads it.
type layout struct {
	nr   int // syscall number; -1 for events that do not come from sys_exit
	desc vigilVigilDesc

	fd, fd2, dirfd, dirfd2, flags, mode int8 // raw argument index, -1 when unused
	arg                                 [4]int8
	strSlot                             [3]event.Slot
	wide                                uint8 // raw arguments that are 64 bits wide (others are int/unsigned int)
	sizeFromRet                         bool  // Arg[0] (size) is the return value (sendmsg/recvmsg)
}

type opt func(*layout)

func fd(i int8) opt     { return func(l *layout) { l.fd = i } }
func fd2(i int8) opt    { return func(l *layout) { l.fd2 = i } }
func dirfd(i int8) opt  { return func(l *layout) { l.dirfd = i } }
func dirfd2(i int8) opt { return func(l *layout) { l.dirfd2 = i } }
func flags(i int8) opt  { return func(l *layout) { l.flags = i } }
func mode(i int8) opt   { return func(l *layout) { l.mode = i } }
func wide(i int8) opt   { return func(l *layout) { l.wide |= 1 << i } }
func failOnly() opt     { return func(l *layout) { l.desc.Flags |= vigilDescFailOnly } }
func sizeFromRet() opt  { return func(l *layout) { l.sizeFromRet = true } }
func local(i uint8) opt { return func(l *layout) { l.desc.Local = i } }
func arg(n, i int8) opt { return func(l *layout) { l.arg[n] = i } }
func args3() opt        { return func(l *layout) { l.arg = [4]int8{0, 1, 2, -1} } }
func openHow() opt      { return func(l *layout) { l.desc.Flags |= vigilDescOpenHow } }

// file: ret is an opened file's new fd, whose device, inode and created
// mark the sensor reads (struct vigil_file after the strings; Arg[1], Arg[2]
// and event.OpenCreated in Flags).
func file() opt { return func(l *layout) { l.desc.Flags |= vigilDescFile } }
func str(i uint8, s event.Slot) opt {
	return func(l *layout) {
		n := l.desc.Nstr
		l.desc.StrArg[n] = i
		l.strSlot[n] = s
		l.desc.Nstr++
	}
}

// buf says where an I/O call's data buffer is (evt.buffer).
func buf(mode vigilVigilBufMode, arg uint8) opt {
	return func(l *layout) {
		l.desc.BufMode = uint8(mode)
		l.desc.BufArg = arg
	}
}

func addr(mode vigilVigilAddrMode, ptr, length uint8) opt {
	return func(l *layout) {
		l.desc.AddrMode = uint8(mode)
		l.desc.AddrArg = ptr
		l.desc.LenArg = length
	}
}

// Constants of vigil.h that are #defines (bpf2go only exports types).
const (
	vigilDescFailOnly = 1
	vigilDescOpenHow  = 2
	vigilDescRaw      = 4
	vigilDescFile     = 8
	vigilPrefixMax    = 64  // VIGIL_PREFIX_MAX
	vigilMaxTypes     = 128 // VIGIL_MAX_TYPES
	vigilOpenCreat    = 255 // VIGIL_OPEN_FLAGS_CREAT
	vigilLocalNone    = 255
	vigilLocalRet     = 6

	hdrFArgvTrunc = 1
	hdrFUpper     = 2
	hdrFMemfd     = 4
	hdrFWritable  = 32
	hdrFEnvTrunc  = 64
	hdrFFile      = 128
)

func sys(nr int, opts ...opt) layout {
	l := layout{nr: nr, fd: -1, fd2: -1, dirfd: -1, dirfd2: -1, flags: -1, mode: -1, arg: [4]int8{-1, -1, -1, -1}}
	l.desc.Local = vigilLocalNone
	for _, o := range opts {
		o(&l)
	}
	return l
}

const (
	ptrLen    = vigilVigilAddrModeVIGIL_ADDR_PTR_LEN
	ptrLenPtr = vigilVigilAddrModeVIGIL_ADDR_PTR_LENPTR
	bufPtr    = vigilVigilBufModeVIGIL_BUF_PTR
	bufMsghdr = vigilVigilBufModeVIGIL_BUF_MSGHDR
	bufIovec  = vigilVigilBufModeVIGIL_BUF_IOVEC
	msghdr    = vigilVigilAddrModeVIGIL_ADDR_MSGHDR
)

const (
	pth  = event.SlotPath
	pth2 = event.SlotPath2
	strv = event.SlotStr
)

// layouts is indexed by event.Type. Argument positions follow the x86-64
// syscall ABI (di, si, dx, r10, r8, r9 = 0..5).
var layouts = [event.NumTypes]layout{
	event.TypeExecve:      sys(unix.SYS_EXECVE, str(0, pth), failOnly()),
	event.TypeExecveat:    sys(unix.SYS_EXECVEAT, dirfd(0), str(1, pth), flags(4), failOnly()),
	event.TypeOpen:        sys(unix.SYS_OPEN, str(0, pth), flags(1), mode(2), file()),
	event.TypeOpenat:      sys(unix.SYS_OPENAT, dirfd(0), str(1, pth), flags(2), mode(3), file()),
	event.TypeOpenat2:     sys(unix.SYS_OPENAT2, dirfd(0), str(1, pth), openHow(), flags(3), mode(4), arg(0, 5), wide(3), wide(4), wide(5), file()),
	event.TypeCreat:       sys(unix.SYS_CREAT, str(0, pth), mode(1), file()),
	event.TypeClose:       sys(unix.SYS_CLOSE, fd(0)),
	event.TypeDup:         sys(unix.SYS_DUP, fd(0)),
	event.TypeDup2:        sys(unix.SYS_DUP2, fd(0), fd2(1)),
	event.TypeDup3:        sys(unix.SYS_DUP3, fd(0), fd2(1), flags(2)),
	event.TypeSocket:      sys(unix.SYS_SOCKET, args3()),
	event.TypeConnect:     sys(unix.SYS_CONNECT, fd(0), addr(ptrLen, 1, 2), local(0)),
	event.TypeAccept:      sys(unix.SYS_ACCEPT, fd(0), addr(ptrLenPtr, 1, 2), local(vigilLocalRet)),
	event.TypeAccept4:     sys(unix.SYS_ACCEPT4, fd(0), addr(ptrLenPtr, 1, 2), local(vigilLocalRet), flags(3)),
	event.TypeBind:        sys(unix.SYS_BIND, fd(0), addr(ptrLen, 1, 2)),
	event.TypeListen:      sys(unix.SYS_LISTEN, fd(0), arg(0, 1)),
	event.TypeSendto:      sys(unix.SYS_SENDTO, fd(0), arg(0, 2), wide(2), flags(3), addr(ptrLen, 4, 5), buf(bufPtr, 1)),
	event.TypeSendmsg:     sys(unix.SYS_SENDMSG, fd(0), sizeFromRet(), flags(2), addr(msghdr, 1, 0), buf(bufMsghdr, 1)),
	event.TypeRecvfrom:    sys(unix.SYS_RECVFROM, fd(0), arg(0, 2), wide(2), flags(3), addr(ptrLenPtr, 4, 5), buf(bufPtr, 1)),
	event.TypeRecvmsg:     sys(unix.SYS_RECVMSG, fd(0), sizeFromRet(), flags(2), addr(msghdr, 1, 0), buf(bufMsghdr, 1)),
	event.TypeLink:        sys(unix.SYS_LINK, str(0, pth), str(1, pth2)),
	event.TypeLinkat:      sys(unix.SYS_LINKAT, dirfd(0), str(1, pth), dirfd2(2), str(3, pth2), flags(4)),
	event.TypeSymlink:     sys(unix.SYS_SYMLINK, str(0, pth), str(1, pth2)),
	event.TypeSymlinkat:   sys(unix.SYS_SYMLINKAT, str(0, pth), dirfd(1), str(2, pth2)),
	event.TypeUnlink:      sys(unix.SYS_UNLINK, str(0, pth)),
	event.TypeUnlinkat:    sys(unix.SYS_UNLINKAT, dirfd(0), str(1, pth), flags(2)),
	event.TypeRename:      sys(unix.SYS_RENAME, str(0, pth), str(1, pth2)),
	event.TypeRenameat:    sys(unix.SYS_RENAMEAT, dirfd(0), str(1, pth), dirfd2(2), str(3, pth2)),
	event.TypeRenameat2:   sys(unix.SYS_RENAMEAT2, dirfd(0), str(1, pth), dirfd2(2), str(3, pth2), flags(4)),
	event.TypeMkdir:       sys(unix.SYS_MKDIR, str(0, pth), mode(1)),
	event.TypeMkdirat:     sys(unix.SYS_MKDIRAT, dirfd(0), str(1, pth), mode(2)),
	event.TypeRmdir:       sys(unix.SYS_RMDIR, str(0, pth)),
	event.TypeChmod:       sys(unix.SYS_CHMOD, str(0, pth), mode(1)),
	event.TypeFchmod:      sys(unix.SYS_FCHMOD, fd(0), mode(1)),
	event.TypeFchmodat:    sys(unix.SYS_FCHMODAT, dirfd(0), str(1, pth), mode(2)),
	event.TypePtrace:      sys(unix.SYS_PTRACE, arg(0, 0), arg(1, 1), wide(0)),
	event.TypeSetuid:      sys(unix.SYS_SETUID, arg(0, 0)),
	event.TypeSetgid:      sys(unix.SYS_SETGID, arg(0, 0)),
	event.TypeSetresuid:   sys(unix.SYS_SETRESUID, args3()),
	event.TypeSetresgid:   sys(unix.SYS_SETRESGID, args3()),
	event.TypeSetns:       sys(unix.SYS_SETNS, fd(0), flags(1)),
	event.TypeUnshare:     sys(unix.SYS_UNSHARE, flags(0)),
	event.TypeMount:       sys(unix.SYS_MOUNT, str(0, pth), str(1, pth2), str(2, strv), flags(3), wide(3)),
	event.TypeUmount2:     sys(unix.SYS_UMOUNT2, str(0, pth), flags(1)),
	event.TypeInitModule:  sys(unix.SYS_INIT_MODULE, arg(0, 1), wide(1), str(2, strv)),
	event.TypeFinitModule: sys(unix.SYS_FINIT_MODULE, fd(0), str(1, strv), flags(2)),
	event.TypeBpf:         sys(unix.SYS_BPF, arg(0, 0)),
	event.TypeMemfdCreate: sys(unix.SYS_MEMFD_CREATE, str(0, strv), flags(1)),
	event.TypeUserfaultfd: sys(unix.SYS_USERFAULTFD, flags(0)),
	event.TypeChdir:       sys(unix.SYS_CHDIR, str(0, pth)),
	event.TypeFchdir:      sys(unix.SYS_FCHDIR, fd(0)),
	event.TypeKill:        sys(unix.SYS_KILL, arg(0, 0), arg(1, 1)),
	event.TypeClone:       sys(-1),
	event.TypeFork:        sys(-1),
	event.TypeVfork:       sys(-1),
	event.TypeClone3:      sys(-1),
	event.TypeProcExit:    sys(-1),
	event.TypeRead:        sys(unix.SYS_READ, fd(0), arg(0, 2), wide(2), buf(bufPtr, 1)),
	event.TypeWrite:       sys(unix.SYS_WRITE, fd(0), arg(0, 2), wide(2), buf(bufPtr, 1)),
	event.TypePread:       sys(unix.SYS_PREAD64, fd(0), arg(0, 2), wide(2), arg(1, 3), wide(3), buf(bufPtr, 1)),
	event.TypePwrite:      sys(unix.SYS_PWRITE64, fd(0), arg(0, 2), wide(2), arg(1, 3), wide(3), buf(bufPtr, 1)),
	event.TypeReadv:       sys(unix.SYS_READV, fd(0), sizeFromRet(), buf(bufIovec, 1)),
	event.TypeWritev:      sys(unix.SYS_WRITEV, fd(0), sizeFromRet(), buf(bufIovec, 1)),
	event.TypePreadv:      sys(unix.SYS_PREADV, fd(0), sizeFromRet(), arg(1, 3), wide(3), buf(bufIovec, 1)),
	event.TypePwritev:     sys(unix.SYS_PWRITEV, fd(0), sizeFromRet(), arg(1, 3), wide(3), buf(bufIovec, 1)),
}

func init() {
	for t := range layouts {
		layouts[t].desc.Type = uint16(t)
	}
}
