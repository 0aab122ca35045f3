package event

import (
	"net/netip"
	"strconv"
)

// FlagName is one entry of a flag table: a name and the bits it stands for.
type FlagName struct {
	Name  string
	Value uint64
}

// FlagTable is a named table of flag or enum names, in Falco's table order
// (driver/flags_table.c): the order decides the order of names in a
// rendered value.
type FlagTable struct {
	Name  string
	Enum  bool // PT_ENUMFLAGS: exact equality, every equal name emitted
	Names []FlagName
}

// PPM open flags (driver/ppm_events_public.h). Falco renders open flags in
// these bits, not the kernel's.
const (
	PPMORdonly      = 1 << 0
	PPMOWronly      = 1 << 1
	PPMOCreat       = 1 << 2
	PPMOAppend      = 1 << 3
	PPMODsync       = 1 << 4
	PPMOExcl        = 1 << 5
	PPMONonblock    = 1 << 6
	PPMOSync        = 1 << 7
	PPMOTrunc       = 1 << 8
	PPMODirect      = 1 << 9
	PPMODirectory   = 1 << 10
	PPMOLargefile   = 1 << 11
	PPMOCloexec     = 1 << 12
	PPMOTmpfile     = 1 << 13
	PPMOFCreated    = 1 << 14
	PPMFDUpperLayer = 1 << 15
	PPMFDLowerLayer = 1 << 16
)

// PPM execve flags.
const (
	PPMExeWritable   = 1 << 0
	PPMExeUpperLayer = 1 << 1
	PPMExeFromMemfd  = 1 << 2
	PPMExeLowerLayer = 1 << 3
)

// Kernel open(2) flag bits (x86-64 and arm64 generic values).
const (
	kOWronly    = 0o1
	kORdwr      = 0o2
	kOCreat     = 0o100
	kOExcl      = 0o200
	kOTrunc     = 0o1000
	kOAppend    = 0o2000
	kONonblock  = 0o4000
	kODsync     = 0o10000
	kODirect    = 0o40000
	kOLargefile = 0o100000
	kODirectory = 0o200000
	kOCloexec   = 0o2000000
	kOSync      = 0o4010000
	kOTmpfile   = 0o20200000
)

// OpenCreated is set in Event.Flags of an open whose call created the file
// (the kernel's FMODE_CREATED on the new file), as Falco's driver sets
// PPM_O_F_CREATED in the open's flags. It lies above the kernel's 32 open
// flag bits, so it never collides with one.
const OpenCreated uint64 = 1 << 32

// OpenFlagsToPPM converts kernel open flags to Falco's PPM bits, as the
// driver's open_flags_to_scap does: access mode 0 (O_RDONLY, and O_PATH)
// becomes PPM_O_RDONLY, O_RDWR sets both read and write bits; OpenCreated
// becomes PPM_O_F_CREATED.
func OpenFlagsToPPM(f uint64) uint64 {
	var r uint64
	if f&OpenCreated != 0 {
		r |= PPMOFCreated
	}
	switch f & 3 {
	case 0:
		r |= PPMORdonly
	case kOWronly:
		r |= PPMOWronly
	case kORdwr:
		r |= PPMORdonly | PPMOWronly
	}
	if f&kOCreat != 0 {
		r |= PPMOCreat
	}
	if f&kOAppend != 0 {
		r |= PPMOAppend
	}
	if f&kODsync != 0 {
		r |= PPMODsync
	}
	if f&kOExcl != 0 {
		r |= PPMOExcl
	}
	if f&kONonblock != 0 {
		r |= PPMONonblock
	}
	if f&kOSync == kOSync {
		r |= PPMOSync
	}
	if f&kOTrunc != 0 {
		r |= PPMOTrunc
	}
	if f&kODirect != 0 {
		r |= PPMODirect
	}
	if f&kOTmpfile == kOTmpfile {
		r |= PPMOTmpfile
	} else if f&kODirectory != 0 {
		r |= PPMODirectory
	}
	if f&kOLargefile != 0 {
		r |= PPMOLargefile
	}
	if f&kOCloexec != 0 {
		r |= PPMOCloexec
	}
	return r
}

var flagTables = map[string]*FlagTable{
	// mode_flags: a chmod mode (Falco's PT_MODE), the libs' order.
	"mode_flags": {Name: "mode_flags", Names: []FlagName{
		{"S_IXOTH", 0o1}, {"S_IWOTH", 0o2}, {"S_IROTH", 0o4}, {"S_IXGRP", 0o10}, {"S_IWGRP", 0o20}, {"S_IRGRP", 0o40},
		{"S_IXUSR", 0o100}, {"S_IWUSR", 0o200}, {"S_IRUSR", 0o400}, {"S_ISVTX", 0o1000}, {"S_ISGID", 0o2000}, {"S_ISUID", 0o4000},
	}},
	"file_flags": {Name: "file_flags", Names: []FlagName{
		{"O_LARGEFILE", PPMOLargefile}, {"O_DIRECTORY", PPMODirectory}, {"O_DIRECT", PPMODirect},
		{"O_TRUNC", PPMOTrunc}, {"O_SYNC", PPMOSync}, {"O_NONBLOCK", PPMONonblock}, {"O_EXCL", PPMOExcl},
		{"O_DSYNC", PPMODsync}, {"O_APPEND", PPMOAppend}, {"O_CREAT", PPMOCreat},
		{"O_RDWR", PPMORdonly | PPMOWronly}, {"O_WRONLY", PPMOWronly}, {"O_RDONLY", PPMORdonly},
		{"O_CLOEXEC", PPMOCloexec}, {"O_NONE", 0}, {"O_TMPFILE", PPMOTmpfile}, {"O_F_CREATED", PPMOFCreated},
		{"FD_UPPER_LAYER", PPMFDUpperLayer}, {"FD_LOWER_LAYER", PPMFDLowerLayer},
	}},
	"execve_flags": {Name: "execve_flags", Names: []FlagName{
		{"EXE_WRITABLE", PPMExeWritable}, {"EXE_UPPER_LAYER", PPMExeUpperLayer},
		{"EXE_FROM_MEMFD", PPMExeFromMemfd}, {"EXE_LOWER_LAYER", PPMExeLowerLayer},
	}},
	"execveat_flags": {Name: "execveat_flags", Names: []FlagName{
		{"AT_EMPTY_PATH", 0x1000}, {"AT_SYMLINK_NOFOLLOW", 0x100},
	}},
	"openat2_resolve": {Name: "openat2_resolve", Names: []FlagName{
		{"RESOLVE_BENEATH", 0x8}, {"RESOLVE_IN_ROOT", 0x10}, {"RESOLVE_NO_MAGICLINKS", 0x2},
		{"RESOLVE_NO_SYMLINKS", 0x4}, {"RESOLVE_NO_XDEV", 0x1}, {"RESOLVE_CACHED", 0x20},
	}},
	"socket_families": {Name: "socket_families", Enum: true, Names: []FlagName{
		{"AF_UNSPEC", 0}, {"AF_LOCAL", 1}, {"AF_UNIX", 1}, {"AF_INET", 2}, {"AF_AX25", 3}, {"AF_IPX", 4},
		{"AF_APPLETALK", 5}, {"AF_NETROM", 6}, {"AF_BRIDGE", 7}, {"AF_ATMPVC", 8}, {"AF_X25", 9},
		{"AF_INET6", 10}, {"AF_ROSE", 11}, {"AF_DECnet", 12}, {"AF_NETBEUI", 13}, {"AF_SECURITY", 14},
		{"AF_KEY", 15}, {"AF_ROUTE", 16}, {"AF_NETLINK", 16}, {"AF_PACKET", 17}, {"AF_ASH", 18},
		{"AF_ECONET", 19}, {"AF_ATMSVC", 20}, {"AF_RDS", 21}, {"AF_SNA", 22}, {"AF_IRDA", 23},
		{"AF_PPPOX", 24}, {"AF_WANPIPE", 25}, {"AF_LLC", 26}, {"AF_CAN", 29}, {"AF_TIPC", 30},
		{"AF_BLUETOOTH", 31}, {"AF_IUCV", 32}, {"AF_RXRPC", 33}, {"AF_ISDN", 34}, {"AF_PHONET", 35},
		{"AF_IEEE802154", 36}, {"AF_CAIF", 37}, {"AF_ALG", 38}, {"AF_NFC", 39}, {"AF_VSOCK", 40},
		{"AF_KCM", 41}, {"AF_QIPCRTR", 42}, {"AF_SMC", 43}, {"AF_XDP", 44},
	}},
	"ptrace_requests": {Name: "ptrace_requests", Enum: true, Names: []FlagName{
		{"PTRACE_TRACEME", 0}, {"PTRACE_PEEKTEXT", 1}, {"PTRACE_PEEKDATA", 2}, {"PTRACE_PEEKUSR", 3},
		{"PTRACE_POKETEXT", 4}, {"PTRACE_POKEDATA", 5}, {"PTRACE_POKEUSR", 6}, {"PTRACE_CONT", 7},
		{"PTRACE_KILL", 8}, {"PTRACE_SINGLESTEP", 9}, {"PTRACE_GETREGS", 12}, {"PTRACE_SETREGS", 13},
		{"PTRACE_GETFPREGS", 14}, {"PTRACE_SETFPREGS", 15}, {"PTRACE_ATTACH", 16}, {"PTRACE_DETACH", 17},
		{"PTRACE_GETFPXREGS", 18}, {"PTRACE_SETFPXREGS", 19}, {"PTRACE_SYSCALL", 24},
		{"PTRACE_SINGLEBLOCK", 33}, {"PTRACE_SYSEMU", 31}, {"PTRACE_SYSEMU_SINGLESTEP", 32},
		{"PTRACE_SETOPTIONS", 0x4200}, {"PTRACE_GETEVENTMSG", 0x4201}, {"PTRACE_GETSIGINFO", 0x4202},
		{"PTRACE_SETSIGINFO", 0x4203}, {"PTRACE_GETREGSET", 0x4204}, {"PTRACE_SETREGSET", 0x4205},
		{"PTRACE_SEIZE", 0x4206}, {"PTRACE_INTERRUPT", 0x4207}, {"PTRACE_LISTEN", 0x4208},
		{"PTRACE_PEEKSIGINFO", 0x4209},
	}},
	"clone_flags": {Name: "clone_flags", Names: []FlagName{
		{"CLONE_FILES", 0x400}, {"CLONE_FS", 0x200}, {"CLONE_SYSVSEM", 0x40000}, {"CLONE_NEWTIME", 0x80},
		{"CLONE_NEWNS", 0x20000}, {"CLONE_NEWCGROUP", 0x02000000}, {"CLONE_NEWUTS", 0x04000000},
		{"CLONE_NEWIPC", 0x08000000}, {"CLONE_NEWUSER", 0x10000000}, {"CLONE_NEWPID", 0x20000000},
		{"CLONE_NEWNET", 0x40000000},
	}},
	"mount_flags": {Name: "mount_flags", Names: []FlagName{
		{"RDONLY", 1}, {"NOSUID", 2}, {"NODEV", 4}, {"NOEXEC", 8}, {"SYNCHRONOUS", 16}, {"REMOUNT", 32},
		{"MANDLOCK", 64}, {"DIRSYNC", 128}, {"NOATIME", 1024}, {"NODIRATIME", 2048}, {"BIND", 4096},
		{"MOVE", 8192}, {"REC", 16384}, {"SILENT", 32768}, {"POSIXACL", 1 << 16}, {"UNBINDABLE", 1 << 17},
		{"PRIVATE", 1 << 18}, {"SLAVE", 1 << 19}, {"SHARED", 1 << 20}, {"RELATIME", 1 << 21},
		{"KERNMOUNT", 1 << 22}, {"I_VERSION", 1 << 23}, {"STRICTATIME", 1 << 24}, {"LAZYTIME", 1 << 25},
	}},
	"umount_flags": {Name: "umount_flags", Names: []FlagName{
		{"FORCE", 1}, {"DETACH", 2}, {"EXPIRE", 4}, {"NOFOLLOW", 8},
	}},
	"linkat_flags": {Name: "linkat_flags", Names: []FlagName{
		{"AT_SYMLINK_FOLLOW", 0x400}, {"AT_EMPTY_PATH", 0x1000},
	}},
	"unlinkat_flags": {Name: "unlinkat_flags", Names: []FlagName{{"AT_REMOVEDIR", 0x200}}},
	"renameat2_flags": {Name: "renameat2_flags", Names: []FlagName{
		{"RENAME_NOREPLACE", 1}, {"RENAME_EXCHANGE", 2}, {"RENAME_WHITEOUT", 4},
	}},
	"memfd_flags": {Name: "memfd_flags", Names: []FlagName{
		{"MFD_CLOEXEC", 1}, {"MFD_ALLOW_SEALING", 2}, {"MFD_HUGETLB", 4}, {"MFD_NOEXEC_SEAL", 8}, {"MFD_EXEC", 0x10},
	}},
	"finit_module_flags": {Name: "finit_module_flags", Names: []FlagName{
		{"MODULE_INIT_IGNORE_MODVERSIONS", 1}, {"MODULE_INIT_IGNORE_VERMAGIC", 2}, {"MODULE_INIT_COMPRESSED_FILE", 4},
	}},
	"socket_types": {Name: "socket_types", Names: []FlagName{
		{"SOCK_NONBLOCK", 0o4000}, {"SOCK_CLOEXEC", 0o2000000},
	}},
	"bpf_commands": {Name: "bpf_commands", Enum: true, Names: []FlagName{
		{"BPF_MAP_CREATE", 0}, {"BPF_MAP_LOOKUP_ELEM", 1}, {"BPF_MAP_UPDATE_ELEM", 2}, {"BPF_MAP_DELETE_ELEM", 3},
		{"BPF_MAP_GET_NEXT_KEY", 4}, {"BPF_PROG_LOAD", 5}, {"BPF_OBJ_PIN", 6}, {"BPF_OBJ_GET", 7},
		{"BPF_PROG_ATTACH", 8}, {"BPF_PROG_DETACH", 9}, {"BPF_PROG_TEST_RUN", 10}, {"BPF_PROG_GET_NEXT_ID", 11},
		{"BPF_MAP_GET_NEXT_ID", 12}, {"BPF_PROG_GET_FD_BY_ID", 13}, {"BPF_MAP_GET_FD_BY_ID", 14},
		{"BPF_OBJ_GET_INFO_BY_FD", 15}, {"BPF_PROG_QUERY", 16}, {"BPF_RAW_TRACEPOINT_OPEN", 17},
		{"BPF_BTF_LOAD", 18}, {"BPF_BTF_GET_FD_BY_ID", 19}, {"BPF_TASK_FD_QUERY", 20},
		{"BPF_MAP_LOOKUP_AND_DELETE_ELEM", 21}, {"BPF_MAP_FREEZE", 22}, {"BPF_BTF_GET_NEXT_ID", 23},
		{"BPF_MAP_LOOKUP_BATCH", 24}, {"BPF_MAP_LOOKUP_AND_DELETE_BATCH", 25}, {"BPF_MAP_UPDATE_BATCH", 26},
		{"BPF_MAP_DELETE_BATCH", 27}, {"BPF_LINK_CREATE", 28}, {"BPF_LINK_UPDATE", 29},
		{"BPF_LINK_GET_FD_BY_ID", 30}, {"BPF_LINK_GET_NEXT_ID", 31}, {"BPF_ENABLE_STATS", 32},
		{"BPF_ITER_CREATE", 33}, {"BPF_LINK_DETACH", 34}, {"BPF_PROG_BIND_MAP", 35}, {"BPF_TOKEN_CREATE", 36},
	}},
}

// socketTypeNames are the socket(2) base types (the low 4 bits of type).
var socketTypeNames = [...]string{1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
	5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}

// Flags returns the flag table called name, or nil.
func Flags(name string) *FlagTable { return flagTables[name] }

// AppendFlags renders v with table t the way Falco does: for bit flags,
// names in table order, each added when all its bits are set and those bits
// then cleared, joined with "|"; a zero entry matches only a zero value; the
// raw decimal when nothing matches. For enums every name equal to v, or
// unknownName when none is.
func AppendFlags(dst []byte, t *FlagTable, v uint64) []byte {
	if t == nil {
		return strconv.AppendUint(dst, v, 10)
	}
	start := len(dst)
	if t.Enum {
		for _, n := range t.Names {
			if n.Value == v {
				if len(dst) > start {
					dst = append(dst, '|')
				}
				dst = append(dst, n.Name...)
			}
		}
		if len(dst) == start {
			if t.Name == "ptrace_requests" {
				return append(dst, "PTRACE_UNKNOWN"...)
			}
			return strconv.AppendUint(dst, v, 10)
		}
		return dst
	}
	rem := v
	for _, n := range t.Names {
		if n.Value == 0 {
			if v == 0 {
				if len(dst) > start {
					dst = append(dst, '|')
				}
				dst = append(dst, n.Name...)
			}
			continue
		}
		if rem&n.Value == n.Value {
			if len(dst) > start {
				dst = append(dst, '|')
			}
			dst = append(dst, n.Name...)
			rem &^= n.Value
			if n.Value == v {
				break
			}
		}
	}
	if len(dst) == start {
		return strconv.AppendUint(dst, v, 10)
	}
	return dst
}

// appendSocketType renders a socket(2) type: base type then flag names.
func appendSocketType(dst []byte, v uint64) []byte {
	base := v & 0xf
	start := len(dst)
	if int(base) < len(socketTypeNames) && socketTypeNames[base] != "" {
		dst = append(dst, socketTypeNames[base]...)
	}
	for _, n := range flagTables["socket_types"].Names {
		if v&n.Value != 0 {
			if len(dst) > start {
				dst = append(dst, '|')
			}
			dst = append(dst, n.Name...)
		}
	}
	if len(dst) == start {
		return strconv.AppendUint(dst, v, 10)
	}
	return dst
}

var errnoNames = [...]string{
	1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC",
	9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 15: "ENOTBLK",
	16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
	23: "ENFILE", 24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE",
	30: "EROFS", 31: "EMLINK", 32: "EPIPE", 33: "EDOM", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG",
	37: "ENOLCK", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG", 43: "EIDRM", 61: "ENODATA",
	62: "ETIME", 71: "EPROTO", 74: "EBADMSG", 75: "EOVERFLOW", 84: "EILSEQ", 88: "ENOTSOCK",
	89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT", 93: "EPROTONOSUPPORT",
	94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 96: "EPFNOSUPPORT", 97: "EAFNOSUPPORT", 98: "EADDRINUSE",
	99: "EADDRNOTAVAIL", 100: "ENETDOWN", 101: "ENETUNREACH", 102: "ENETRESET", 103: "ECONNABORTED",
	104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN", 108: "ESHUTDOWN",
	110: "ETIMEDOUT", 111: "ECONNREFUSED", 112: "EHOSTDOWN", 113: "EHOSTUNREACH", 114: "EALREADY",
	115: "EINPROGRESS", 116: "ESTALE", 122: "EDQUOT", 125: "ECANCELED", 130: "EOWNERDEAD",
	131: "ENOTRECOVERABLE", 512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND",
	515: "ENOIOCTLCMD", 516: "ERESTART_RESTARTBLOCK",
}

// ErrnoName returns the symbolic name of errno e ("ENOENT"), or "" when
// unknown.
func ErrnoName(e int64) string {
	if e > 0 && e < int64(len(errnoNames)) {
		return errnoNames[e]
	}
	return ""
}

// AppendRes renders a return value as Falco's evt.res: SUCCESS when ≥0,
// the errno name otherwise (the number when the errno is unknown).
func AppendRes(dst []byte, ret int64) []byte {
	if ret >= 0 {
		return append(dst, "SUCCESS"...)
	}
	if n := ErrnoName(-ret); n != "" {
		return append(dst, n...)
	}
	return strconv.AppendInt(dst, ret, 10)
}

var signalNames = [...]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP",
	21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
	28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS"}

// capNames are the capability names by bit number.
var capNames = [...]string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}

// AppendCaps renders a capability set as Falco does: names of the set
// bits in bit order, separated by single spaces; empty for no capability.
func AppendCaps(dst []byte, caps uint64) []byte {
	first := true
	for i, n := range capNames {
		if caps&(1<<uint(i)) != 0 {
			if !first {
				dst = append(dst, ' ')
			}
			dst = append(dst, n...)
			first = false
		}
	}
	return dst
}

// appendSockaddr renders an address as Falco prints tuple ends: ip:port,
// IPv6 without brackets, unix paths as they are.
func appendSockaddr(dst []byte, a SockAddr) []byte {
	switch {
	case a.Family == afUnix:
		return append(dst, a.Path...)
	case a.IP.IsValid():
		dst = appendIP(dst, a.IP)
		dst = append(dst, ':')
		return strconv.AppendUint(dst, uint64(a.Port), 10)
	}
	return dst
}

func appendIP(dst []byte, ip netip.Addr) []byte {
	return ip.Unmap().AppendTo(dst)
}

const (
	afUnix  = 1
	afInet  = 2
	afInet6 = 10
)

// ArgIndex returns the position of the argument called name in t's
// definition, or -1.
func ArgIndex(t Type, name string) int {
	for i, a := range Lookup(t).Args {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// AppendArg renders argument i of ev the way Falco's evt.arg does: flags
// by name, errnos by name, paths resolved against the cwd (relative ones),
// addresses as ip:port. ok is false when the event has no such argument.
func AppendArg(dst []byte, ev *Event, i int) ([]byte, bool) {
	d := Lookup(ev.Type)
	if i < 0 || i >= len(d.Args) {
		return dst, false
	}
	a := &d.Args[i]
	switch a.Kind {
	case KindErrno:
		if ev.Ret < 0 {
			if n := ErrnoName(-ev.Ret); n != "" {
				return append(dst, n...), true
			}
		}
		return strconv.AppendInt(dst, ev.Ret, 10), true
	case KindInt, KindPID:
		return strconv.AppendInt(dst, slotInt(ev, a.Slot), 10), true
	case KindUint, KindUID:
		return strconv.AppendUint(dst, uint64(slotInt(ev, a.Slot)), 10), true
	case KindFD:
		v := slotInt(ev, a.Slot)
		if v == AtFDCWD {
			return append(dst, "AT_FDCWD"...), true
		}
		return strconv.AppendInt(dst, v, 10), true
	case KindPath:
		p := slotStr(ev, a.Slot)
		if p != "" && p[0] != '/' {
			return AppendJoinPath(dst, procCwd(ev), p), true
		}
		return append(dst, p...), true
	case KindRelPath:
		p := slotStr(ev, a.Slot)
		if p != "" && p[0] != '/' && slotInt(ev, a.DirFD) == AtFDCWD {
			return AppendJoinPath(dst, procCwd(ev), p), true
		}
		return append(dst, p...), true
	case KindString:
		return append(dst, slotStr(ev, a.Slot)...), true
	case KindFlags, KindEnum:
		v := uint64(slotInt(ev, a.Slot))
		switch a.Flags {
		case "file_flags":
			v = OpenFlagsToPPM(v)
		case "execve_flags":
			v = execFlags(ev)
		case "socket_types":
			return appendSocketType(dst, v), true
		}
		return AppendFlags(dst, flagTables[a.Flags], v), true
	case KindBuffer:
		for _, b := range ev.Buffer {
			if b < 0x20 || b > 0x7e {
				b = '.'
			}
			dst = append(dst, b)
		}
		return dst, true
	case KindMode:
		dst = append(dst, '0')
		return strconv.AppendUint(dst, uint64(ev.Mode), 8), true
	case KindSockaddr:
		if !ev.Addr.Valid() {
			return dst, true
		}
		if ev.Local.Valid() && a.Name == "tuple" {
			// tuples are client->server: the peer is the client of an accept
			if ev.Type == TypeAccept || ev.Type == TypeAccept4 {
				dst = appendSockaddr(dst, ev.Addr)
				dst = append(dst, "->"...)
				return appendSockaddr(dst, ev.Local), true
			}
			dst = appendSockaddr(dst, ev.Local)
			dst = append(dst, "->"...)
		}
		return appendSockaddr(dst, ev.Addr), true
	case KindSignal:
		s := slotInt(ev, a.Slot)
		if s > 0 && s < int64(len(signalNames)) {
			return append(dst, signalNames[s]...), true
		}
		return strconv.AppendInt(dst, s, 10), true
	}
	return dst, false
}

// execFlags returns an exec event's flags in PPM EXE_* bits, from the Exec
// record when there is one.
func execFlags(ev *Event) uint64 {
	if ev.Exec == nil {
		return ev.Flags
	}
	var f uint64
	if ev.Exec.Writable {
		f |= PPMExeWritable
	}
	if ev.Exec.UpperLayer {
		f |= PPMExeUpperLayer
	}
	if ev.Exec.FromMemfd {
		f |= PPMExeFromMemfd
	}
	return f
}

// AppendArgs renders every argument as Falco's evt.args does:
// name=value separated by single spaces.
func AppendArgs(dst []byte, ev *Event) []byte {
	for i, a := range Lookup(ev.Type).Args {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, a.Name...)
		dst = append(dst, '=')
		dst, _ = AppendArg(dst, ev, i)
	}
	return dst
}

func procCwd(ev *Event) string {
	if ev.Proc != nil {
		return ev.Proc.Cwd
	}
	if ev.Exec != nil {
		return ev.Exec.Cwd
	}
	return ""
}

func slotInt(ev *Event, s Slot) int64 {
	switch s {
	case SlotRet:
		return ev.Ret
	case SlotFD:
		return ev.FD
	case SlotFD2:
		return ev.FD2
	case SlotDirFD:
		return ev.DirFD
	case SlotDirFD2:
		return ev.DirFD2
	case SlotFlags:
		return int64(ev.Flags)
	case SlotMode:
		return int64(ev.Mode)
	case SlotArg0:
		return ev.Arg[0]
	case SlotArg1:
		return ev.Arg[1]
	case SlotArg2:
		return ev.Arg[2]
	case SlotArg3:
		return ev.Arg[3]
	}
	return 0
}

func slotStr(ev *Event, s Slot) string {
	switch s {
	case SlotPath:
		return ev.Path
	case SlotPath2:
		return ev.Path2
	case SlotStr:
		return ev.Str
	case SlotBuffer:
		return unsafeString(ev.Buffer) // valid while the event is
	}
	return ""
}

// AppendJoinPath appends dir joined with p, lexically normalised as Falco
// does (".", "..", repeated and trailing "/" collapsed; symlinks are not
// resolved). An absolute p ignores dir.
func AppendJoinPath(dst []byte, dir, p string) []byte {
	start := len(dst)
	dst = append(dst, '/')
	add := func(s string) {
		for len(s) > 0 {
			i := 0
			for i < len(s) && s[i] != '/' {
				i++
			}
			comp := s[:i]
			if i < len(s) {
				s = s[i+1:]
			} else {
				s = ""
			}
			switch comp {
			case "", ".":
			case "..":
				// drop the last component, never above the root
				j := len(dst) - 1
				for j > start && dst[j] != '/' {
					j--
				}
				if j <= start {
					dst = dst[:start+1]
				} else {
					dst = dst[:j]
				}
			default:
				if len(dst) > start+1 {
					dst = append(dst, '/')
				}
				dst = append(dst, comp...)
			}
		}
	}
	if p == "" || p[0] != '/' {
		add(dir)
	}
	add(p)
	return dst
}
