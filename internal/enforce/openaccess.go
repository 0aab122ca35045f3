package enforce

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/vigilsec/vigil/internal/policy"
	"golang.org/x/sys/unix"
)

// How an open system call gives its flags, for openAccess.
const (
	flagsArg0   = iota // flags are argument N (flagsArg0 + N)
	flagsCreat  = 8    // creat(2): always for writing
	flagsExec   = 9    // execve, execveat: the kernel opens the program to read it
	flagsHowPtr = 10   // openat2(2): argument 2 points to struct open_how, flags first
)

// openSyscalls maps the system calls that open a file to where their
// flags are. The architecture's legacy calls (open, creat) are added by
// its file.
var openSyscalls = map[uint64]int{
	unix.SYS_OPENAT:            flagsArg0 + 2,
	unix.SYS_OPEN_BY_HANDLE_AT: flagsArg0 + 2,
	unix.SYS_OPENAT2:           flagsHowPtr,
	unix.SYS_EXECVE:            flagsExec,
	unix.SYS_EXECVEAT:          flagsExec,
}

// openAccess returns the access that the open thread tid is blocked in
// asks for. The descriptor a fanotify permission event carries is the
// group's own open of the file (read-only), not the caller's, so the
// caller's flags are read from the system call it is in
// (/proc/<tid>/syscall: number and arguments; the thread is stopped in
// the kernel until the gate answers). O_WRONLY, O_TRUNC and O_CREAT are
// writes (as the profile counts them), O_RDWR both. ok is false when the
// thread is not in a known open (an io_uring worker, a 32-bit task, a
// thread gone): the caller treats the access as unknown.
func openAccess(tid int32) (acc policy.Access, ok bool) {
	var pb [48]byte
	name := string(strconv.AppendInt(append(pb[:0], "/proc/"...), int64(tid), 10))
	fd, err := unix.Open(name+"/syscall", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	var buf [256]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || n <= 0 {
		return 0, false
	}
	// "nr arg0 arg1 arg2 arg3 arg4 arg5 sp pc", hexadecimal arguments;
	// "running" or "-1 sp pc" when not in a system call.
	f := bytes.Fields(buf[:n])
	if len(f) < 7 {
		return 0, false
	}
	nr, err := strconv.ParseUint(string(f[0]), 10, 64)
	if err != nil {
		return 0, false
	}
	where, known := openSyscalls[nr]
	if !known {
		return 0, false
	}
	arg := func(i int) (uint64, bool) {
		v, err := strconv.ParseUint(string(bytes.TrimPrefix(f[1+i], []byte("0x"))), 16, 64)
		return v, err == nil
	}
	var flags uint64
	switch {
	case where == flagsCreat:
		return policy.AccessWrite, true
	case where == flagsExec:
		return policy.AccessRead, true
	case where == flagsHowPtr:
		p, ok := arg(2)
		if !ok {
			return 0, false
		}
		mfd, err := unix.Open(name+"/mem", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, false
		}
		var how [8]byte
		n, err := unix.Pread(mfd, how[:], int64(p))
		unix.Close(mfd)
		if err != nil || n != len(how) {
			return 0, false
		}
		flags = binary.NativeEndian.Uint64(how[:])
	default:
		v, ok := arg(where - flagsArg0)
		if !ok {
			return 0, false
		}
		flags = v
	}
	return accessOfFlags(flags), true
}

// accessOfFlags is the access open flags ask for.
func accessOfFlags(flags uint64) policy.Access {
	var acc policy.Access
	switch flags & unix.O_ACCMODE {
	case unix.O_WRONLY:
		acc = policy.AccessWrite
	case unix.O_RDWR:
		acc = policy.AccessAny
	default:
		acc = policy.AccessRead
	}
	if flags&(unix.O_TRUNC|unix.O_CREAT) != 0 {
		acc |= policy.AccessWrite
	}
	return acc
}
