package event

// ret is the return-value argument of most syscalls ("res" in Falco).
var ret = ArgDef{Name: "res", Kind: KindErrno, Slot: SlotRet}

// retFD is the return value of a call that creates an fd ("fd" in Falco).
var retFD = ArgDef{Name: "fd", Kind: KindErrno, Slot: SlotRet}

func fdArg(name string) ArgDef   { return ArgDef{Name: name, Kind: KindFD, Slot: SlotFD} }
func pathArg(name string) ArgDef { return ArgDef{Name: name, Kind: KindPath, Slot: SlotPath} }
func dirfd(name string, s Slot) ArgDef {
	return ArgDef{Name: name, Kind: KindFD, Slot: s}
}
func relPath(name string, s, dir Slot) ArgDef {
	return ArgDef{Name: name, Kind: KindRelPath, Slot: s, DirFD: dir}
}
func flags(name, table string) ArgDef {
	return ArgDef{Name: name, Kind: KindFlags, Slot: SlotFlags, Flags: table}
}
func intArg(name string, s Slot) ArgDef { return ArgDef{Name: name, Kind: KindInt, Slot: s} }
func uidArg(name string, s Slot) ArgDef { return ArgDef{Name: name, Kind: KindUID, Slot: s} }
func modeArg(name string) ArgDef        { return ArgDef{Name: name, Kind: KindMode, Slot: SlotMode} }

// chmodMode is the mode of the chmod family: Falco's PT_MODE, rendered by
// flag names (S_IXUSR|S_ISUID...), so that `evt.arg.mode contains S_ISUID`
// matches as it does in Falco.
func chmodMode() ArgDef {
	return ArgDef{Name: "mode", Kind: KindFlags, Slot: SlotMode, Flags: "mode_flags"}
}
func addrArg(name string) ArgDef { return ArgDef{Name: name, Kind: KindSockaddr, Slot: SlotAddr} }

// devIno are the last arguments of Falco's open exit events: the device of
// the opened file's filesystem (new_encode_dev, as stat's st_dev) and its
// inode, read by the sensor from the new fd; 0 for a failed open.
var devIno = []ArgDef{{Name: "dev", Kind: KindUint, Slot: SlotArg1}, {Name: "ino", Kind: KindUint, Slot: SlotArg2}}

func withDevIno(a ...ArgDef) []ArgDef { return append(a, devIno...) }

// data is the I/O buffer argument of the read/write family (evt.arg.data).
var data = ArgDef{Name: "data", Kind: KindBuffer, Slot: SlotBuffer}

const (
	devInoDoc = " dev and ino are the device (new_encode_dev of the filesystem's, as stat's st_dev) and inode of the opened file, read in the kernel from the new fd."
	openDoc   = devInoDoc + " flags holds O_F_CREATED when the call created the file (FMODE_CREATED)."
)

const ioDoc = " data (evt.arg.data, evt.buffer) holds the first bytes moved, at most 80 (Falco's default snaplen), captured only for the types of loaded rules that read evt.buffer or evt.arg.data."

// defs is the event table. Argument names and order follow Falco's exit
// events (driver/event_table.c) so that evt.arg.NAME and evt.arg[N] mean the
// same thing in Vigil as in Falco.
var defs = [NumTypes]Def{
	TypeExecve: {Name: "execve", Category: CatProcess, Syscall: "execve",
		Args: []ArgDef{ret, pathArg("exe"), flags("flags", "execve_flags")},
		Doc:  "A program was executed. Successful execs come from sched_process_exec; failed ones from the syscall exit."},
	TypeExecveat: {Name: "execveat", Category: CatProcess, Syscall: "execveat",
		Args: []ArgDef{ret, dirfd("dirfd", SlotDirFD), relPath("pathname", SlotPath, SlotDirFD), flags("flags", "execveat_flags")},
		Doc:  "A failed execveat (a successful one is reported as execve, as Falco does)."},
	TypeOpen: {Name: "open", Category: CatFile, Syscall: "open",
		Args: withDevIno(retFD, pathArg("name"), flags("flags", "file_flags"), modeArg("mode")),
		Doc:  "A file was opened with open(2)." + openDoc},
	TypeOpenat: {Name: "openat", Category: CatFile, Syscall: "openat",
		Args: withDevIno(retFD, dirfd("dirfd", SlotDirFD), relPath("name", SlotPath, SlotDirFD), flags("flags", "file_flags"), modeArg("mode")),
		Doc:  "A file was opened with openat(2)." + openDoc},
	TypeOpenat2: {Name: "openat2", Category: CatFile, Syscall: "openat2",
		Args: withDevIno(retFD, dirfd("dirfd", SlotDirFD), relPath("name", SlotPath, SlotDirFD), flags("flags", "file_flags"), modeArg("mode"), ArgDef{Name: "resolve", Kind: KindFlags, Slot: SlotArg0, Flags: "openat2_resolve"}),
		Doc:  "A file was opened with openat2(2)." + openDoc},
	TypeCreat: {Name: "creat", Category: CatFile, Syscall: "creat",
		Args: withDevIno(retFD, pathArg("name"), modeArg("mode")),
		Doc:  "A file was created with creat(2)." + devInoDoc},
	TypeClose: {Name: "close", Category: CatFile, Syscall: "close",
		Args: []ArgDef{ret, fdArg("fd")},
		Doc:  "An fd was closed."},
	TypeDup: {Name: "dup", Category: CatFile, Syscall: "dup",
		Args: []ArgDef{retFD, fdArg("oldfd")},
		Doc:  "An fd was duplicated with dup(2)."},
	TypeDup2: {Name: "dup2", Category: CatFile, Syscall: "dup2",
		Args: []ArgDef{retFD, fdArg("oldfd"), {Name: "newfd", Kind: KindFD, Slot: SlotFD2}},
		Doc:  "An fd was duplicated with dup2(2)."},
	TypeDup3: {Name: "dup3", Category: CatFile, Syscall: "dup3",
		Args: []ArgDef{retFD, fdArg("oldfd"), {Name: "newfd", Kind: KindFD, Slot: SlotFD2}, flags("flags", "file_flags")},
		Doc:  "An fd was duplicated with dup3(2)."},
	TypeSocket: {Name: "socket", Category: CatNetwork, Syscall: "socket",
		Args: []ArgDef{retFD, {Name: "domain", Kind: KindEnum, Slot: SlotArg0, Flags: "socket_families"}, {Name: "type", Kind: KindFlags, Slot: SlotArg1, Flags: "socket_types"}, intArg("proto", SlotArg2)},
		Doc:  "A socket was created."},
	TypeConnect: {Name: "connect", Category: CatNetwork, Syscall: "connect",
		Args: []ArgDef{ret, fdArg("fd"), addrArg("addr")},
		Doc:  "A socket was connected; Local holds the local end when the kernel assigned one."},
	TypeAccept: {Name: "accept", Category: CatNetwork, Syscall: "accept",
		Args: []ArgDef{retFD, addrArg("tuple")},
		Doc:  "A connection was accepted; Addr is the peer."},
	TypeAccept4: {Name: "accept4", Category: CatNetwork, Syscall: "accept4",
		Args: []ArgDef{retFD, addrArg("tuple"), flags("flags", "socket_types")},
		Doc:  "A connection was accepted with accept4(2); Addr is the peer."},
	TypeBind: {Name: "bind", Category: CatNetwork, Syscall: "bind",
		Args: []ArgDef{ret, addrArg("addr"), fdArg("fd")},
		Doc:  "A socket was bound to an address."},
	TypeListen: {Name: "listen", Category: CatNetwork, Syscall: "listen",
		Args: []ArgDef{ret, fdArg("fd"), intArg("backlog", SlotArg0)},
		Doc:  "A socket started listening."},
	TypeSendto: {Name: "sendto", Category: CatNetwork, Syscall: "sendto",
		Args: []ArgDef{ret, fdArg("fd"), intArg("size", SlotArg0), addrArg("tuple")},
		Doc:  "Data was sent with sendto(2); Addr is the destination when one was given."},
	TypeSendmsg: {Name: "sendmsg", Category: CatNetwork, Syscall: "sendmsg",
		Args: []ArgDef{ret, fdArg("fd"), intArg("size", SlotArg0), addrArg("tuple")},
		Doc:  "Data was sent with sendmsg(2); Addr is msg_name when one was given."},
	TypeRecvfrom: {Name: "recvfrom", Category: CatNetwork, Syscall: "recvfrom",
		Args: []ArgDef{ret, fdArg("fd"), intArg("size", SlotArg0), addrArg("tuple")},
		Doc:  "Data was received with recvfrom(2)."},
	TypeRecvmsg: {Name: "recvmsg", Category: CatNetwork, Syscall: "recvmsg",
		Args: []ArgDef{ret, fdArg("fd"), intArg("size", SlotArg0), addrArg("tuple")},
		Doc:  "Data was received with recvmsg(2)."},
	TypeLink: {Name: "link", Category: CatFile, Syscall: "link",
		Args: []ArgDef{ret, pathArg("oldpath"), {Name: "newpath", Kind: KindPath, Slot: SlotPath2}},
		Doc:  "A hard link was created."},
	TypeLinkat: {Name: "linkat", Category: CatFile, Syscall: "linkat",
		Args: []ArgDef{ret, dirfd("olddir", SlotDirFD), relPath("oldpath", SlotPath, SlotDirFD), dirfd("newdir", SlotDirFD2), relPath("newpath", SlotPath2, SlotDirFD2), flags("flags", "linkat_flags")},
		Doc:  "A hard link was created with linkat(2)."},
	TypeSymlink: {Name: "symlink", Category: CatFile, Syscall: "symlink",
		Args: []ArgDef{ret, {Name: "target", Kind: KindString, Slot: SlotPath}, {Name: "linkpath", Kind: KindPath, Slot: SlotPath2}},
		Doc:  "A symbolic link was created; target is its content, unresolved."},
	TypeSymlinkat: {Name: "symlinkat", Category: CatFile, Syscall: "symlinkat",
		Args: []ArgDef{ret, {Name: "target", Kind: KindString, Slot: SlotPath}, dirfd("linkdirfd", SlotDirFD), relPath("linkpath", SlotPath2, SlotDirFD)},
		Doc:  "A symbolic link was created with symlinkat(2)."},
	TypeUnlink: {Name: "unlink", Category: CatFile, Syscall: "unlink",
		Args: []ArgDef{ret, pathArg("path")},
		Doc:  "A file was removed."},
	TypeUnlinkat: {Name: "unlinkat", Category: CatFile, Syscall: "unlinkat",
		Args: []ArgDef{ret, dirfd("dirfd", SlotDirFD), relPath("name", SlotPath, SlotDirFD), flags("flags", "unlinkat_flags")},
		Doc:  "A file or directory was removed with unlinkat(2)."},
	TypeRename: {Name: "rename", Category: CatFile, Syscall: "rename",
		Args: []ArgDef{ret, pathArg("oldpath"), {Name: "newpath", Kind: KindPath, Slot: SlotPath2}},
		Doc:  "A file was renamed."},
	TypeRenameat: {Name: "renameat", Category: CatFile, Syscall: "renameat",
		Args: []ArgDef{ret, dirfd("olddirfd", SlotDirFD), relPath("oldpath", SlotPath, SlotDirFD), dirfd("newdirfd", SlotDirFD2), relPath("newpath", SlotPath2, SlotDirFD2)},
		Doc:  "A file was renamed with renameat(2)."},
	TypeRenameat2: {Name: "renameat2", Category: CatFile, Syscall: "renameat2",
		Args: []ArgDef{ret, dirfd("olddirfd", SlotDirFD), relPath("oldpath", SlotPath, SlotDirFD), dirfd("newdirfd", SlotDirFD2), relPath("newpath", SlotPath2, SlotDirFD2), flags("flags", "renameat2_flags")},
		Doc:  "A file was renamed with renameat2(2)."},
	TypeMkdir: {Name: "mkdir", Category: CatFile, Syscall: "mkdir",
		Args: []ArgDef{ret, pathArg("path"), modeArg("mode")},
		Doc:  "A directory was created."},
	TypeMkdirat: {Name: "mkdirat", Category: CatFile, Syscall: "mkdirat",
		Args: []ArgDef{ret, dirfd("dirfd", SlotDirFD), relPath("path", SlotPath, SlotDirFD), modeArg("mode")},
		Doc:  "A directory was created with mkdirat(2)."},
	TypeRmdir: {Name: "rmdir", Category: CatFile, Syscall: "rmdir",
		Args: []ArgDef{ret, pathArg("path")},
		Doc:  "A directory was removed."},
	TypeChmod: {Name: "chmod", Category: CatFile, Syscall: "chmod",
		Args: []ArgDef{ret, pathArg("filename"), chmodMode()},
		Doc:  "A file's mode was changed."},
	TypeFchmod: {Name: "fchmod", Category: CatFile, Syscall: "fchmod",
		Args: []ArgDef{ret, fdArg("fd"), chmodMode()},
		Doc:  "An open file's mode was changed."},
	TypeFchmodat: {Name: "fchmodat", Category: CatFile, Syscall: "fchmodat",
		Args: []ArgDef{ret, dirfd("dirfd", SlotDirFD), relPath("filename", SlotPath, SlotDirFD), chmodMode()},
		Doc:  "A file's mode was changed with fchmodat(2)."},
	TypePtrace: {Name: "ptrace", Category: CatSecurity, Syscall: "ptrace",
		Args: []ArgDef{ret, {Name: "request", Kind: KindEnum, Slot: SlotArg0, Flags: "ptrace_requests"}, {Name: "pid", Kind: KindPID, Slot: SlotArg1}},
		Doc:  "A process used ptrace(2)."},
	TypeSetuid: {Name: "setuid", Category: CatSecurity, Syscall: "setuid",
		Args: []ArgDef{ret, uidArg("uid", SlotArg0)},
		Doc:  "A process changed its user id."},
	TypeSetgid: {Name: "setgid", Category: CatSecurity, Syscall: "setgid",
		Args: []ArgDef{ret, uidArg("gid", SlotArg0)},
		Doc:  "A process changed its group id."},
	TypeSetresuid: {Name: "setresuid", Category: CatSecurity, Syscall: "setresuid",
		Args: []ArgDef{ret, uidArg("ruid", SlotArg0), uidArg("euid", SlotArg1), uidArg("suid", SlotArg2)},
		Doc:  "A process changed its real, effective and saved user ids."},
	TypeSetresgid: {Name: "setresgid", Category: CatSecurity, Syscall: "setresgid",
		Args: []ArgDef{ret, uidArg("rgid", SlotArg0), uidArg("egid", SlotArg1), uidArg("sgid", SlotArg2)},
		Doc:  "A process changed its real, effective and saved group ids."},
	TypeSetns: {Name: "setns", Category: CatSecurity, Syscall: "setns",
		Args: []ArgDef{ret, fdArg("fd"), flags("nstype", "clone_flags")},
		Doc:  "A process joined a namespace."},
	TypeUnshare: {Name: "unshare", Category: CatSecurity, Syscall: "unshare",
		Args: []ArgDef{ret, flags("flags", "clone_flags")},
		Doc:  "A process left namespaces (created new ones)."},
	TypeMount: {Name: "mount", Category: CatSecurity, Syscall: "mount",
		Args: []ArgDef{ret, pathArg("dev"), {Name: "dir", Kind: KindPath, Slot: SlotPath2}, {Name: "type", Kind: KindString, Slot: SlotStr}, flags("flags", "mount_flags")},
		Doc:  "A filesystem was mounted."},
	TypeUmount2: {Name: "umount2", Category: CatSecurity, Syscall: "umount2",
		Args: []ArgDef{ret, pathArg("name"), flags("flags", "umount_flags")},
		Doc:  "A filesystem was unmounted."},
	TypeInitModule: {Name: "init_module", Category: CatSecurity, Syscall: "init_module",
		Args: []ArgDef{ret, intArg("length", SlotArg0), {Name: "uargs", Kind: KindString, Slot: SlotStr}},
		Doc:  "A kernel module was loaded from memory."},
	TypeFinitModule: {Name: "finit_module", Category: CatSecurity, Syscall: "finit_module",
		Args: []ArgDef{ret, fdArg("fd"), {Name: "uargs", Kind: KindString, Slot: SlotStr}, flags("flags", "finit_module_flags")},
		Doc:  "A kernel module was loaded from a file."},
	TypeBpf: {Name: "bpf", Category: CatSecurity, Syscall: "bpf",
		Args: []ArgDef{retFD, {Name: "cmd", Kind: KindEnum, Slot: SlotArg0, Flags: "bpf_commands"}},
		Doc:  "A process used bpf(2)."},
	TypeMemfdCreate: {Name: "memfd_create", Category: CatFile, Syscall: "memfd_create",
		Args: []ArgDef{retFD, {Name: "name", Kind: KindString, Slot: SlotStr}, flags("flags", "memfd_flags")},
		Doc:  "An anonymous memory file was created."},
	TypeUserfaultfd: {Name: "userfaultfd", Category: CatSecurity, Syscall: "userfaultfd",
		Args: []ArgDef{retFD, flags("flags", "file_flags")},
		Doc:  "A userfaultfd was created (used by kernel exploits to win races)."},
	TypeChdir: {Name: "chdir", Category: CatFile, Syscall: "chdir",
		Args: []ArgDef{ret, pathArg("path")},
		Doc:  "The working directory changed."},
	TypeFchdir: {Name: "fchdir", Category: CatFile, Syscall: "fchdir",
		Args: []ArgDef{ret, fdArg("fd")},
		Doc:  "The working directory changed to an open directory."},
	TypeKill: {Name: "kill", Category: CatProcess, Syscall: "kill",
		Args: []ArgDef{ret, {Name: "pid", Kind: KindPID, Slot: SlotArg0}, {Name: "sig", Kind: KindSignal, Slot: SlotArg1}},
		Doc:  "A signal was sent."},
	TypeClone: {Name: "clone", Category: CatProcess,
		Args: []ArgDef{{Name: "res", Kind: KindPID, Slot: SlotRet}, {Name: "pid", Kind: KindPID, Slot: SlotArg0}},
		Doc:  "A task was created by clone(2) (from sched_process_fork); Ret is the child's tid, Arg[0] its tgid."},
	TypeFork: {Name: "fork", Category: CatProcess,
		Args: []ArgDef{{Name: "res", Kind: KindPID, Slot: SlotRet}, {Name: "pid", Kind: KindPID, Slot: SlotArg0}},
		Doc:  "A process was created by fork(2) (from sched_process_fork)."},
	TypeVfork: {Name: "vfork", Category: CatProcess,
		Args: []ArgDef{{Name: "res", Kind: KindPID, Slot: SlotRet}, {Name: "pid", Kind: KindPID, Slot: SlotArg0}},
		Doc:  "A process was created by vfork(2) (from sched_process_fork)."},
	TypeClone3: {Name: "clone3", Category: CatProcess,
		Args: []ArgDef{{Name: "res", Kind: KindPID, Slot: SlotRet}, {Name: "pid", Kind: KindPID, Slot: SlotArg0}},
		Doc:  "A task was created by clone3(2) (from sched_process_fork)."},
	TypeProcExit: {Name: "procexit", Category: CatProcess,
		Args: []ArgDef{{Name: "status", Kind: KindInt, Slot: SlotArg0}},
		Doc:  "A thread exited (sched_process_exit); Arg[0] is the exit status."},
	TypeK8sAudit: {Name: "k8s_audit", Category: CatK8sAudit,
		Doc: "A Kubernetes audit event (audit.k8s.io/v1 Event) received by the audit webhook or read from an audit log; rules of source k8s_audit evaluate it with the ka.* and jevt.* fields. Not from the sensor."},
	TypeRead: {Name: "read", Category: CatFile, Syscall: "read",
		Args: []ArgDef{ret, data, fdArg("fd"), intArg("size", SlotArg0)},
		Doc:  "Data was read with read(2); size is the count asked for." + ioDoc},
	TypeWrite: {Name: "write", Category: CatFile, Syscall: "write",
		Args: []ArgDef{ret, data, fdArg("fd"), intArg("size", SlotArg0)},
		Doc:  "Data was written with write(2); size is the count asked for." + ioDoc},
	TypePread: {Name: "pread", Category: CatFile, Syscall: "pread64",
		Args: []ArgDef{ret, data, fdArg("fd"), intArg("size", SlotArg0), intArg("pos", SlotArg1)},
		Doc:  "Data was read with pread64(2) at offset pos." + ioDoc},
	TypePwrite: {Name: "pwrite", Category: CatFile, Syscall: "pwrite64",
		Args: []ArgDef{ret, data, fdArg("fd"), intArg("size", SlotArg0), intArg("pos", SlotArg1)},
		Doc:  "Data was written with pwrite64(2) at offset pos." + ioDoc},
	TypeReadv: {Name: "readv", Category: CatFile, Syscall: "readv",
		Args: []ArgDef{ret, intArg("size", SlotArg0), data, fdArg("fd")},
		Doc:  "Data was read with readv(2); size is the bytes read, data those of the first iovec." + ioDoc},
	TypeWritev: {Name: "writev", Category: CatFile, Syscall: "writev",
		Args: []ArgDef{ret, data, fdArg("fd"), intArg("size", SlotArg0)},
		Doc:  "Data was written with writev(2); size is the bytes written, data those of the first iovec." + ioDoc},
	TypePreadv: {Name: "preadv", Category: CatFile, Syscall: "preadv",
		Args: []ArgDef{ret, intArg("size", SlotArg0), data, fdArg("fd"), intArg("pos", SlotArg1)},
		Doc:  "Data was read with preadv(2) at offset pos; size is the bytes read." + ioDoc},
	TypePwritev: {Name: "pwritev", Category: CatFile, Syscall: "pwritev",
		Args: []ArgDef{ret, data, fdArg("fd"), intArg("size", SlotArg0), intArg("pos", SlotArg1)},
		Doc:  "Data was written with pwritev(2) at offset pos; size is the bytes written." + ioDoc},
	TypeContainer: {Name: "container", Category: CatContainer,
		Doc: "A container started (Falco's container event, as its container_started macro uses it): made by the pipeline once per container from the successful exec of its first process (pid 1 in the container's pid namespace), with every container.* field and that process's proc.* fields. Not from the sensor; vigil run and vigil trace make it, a capture carries it."},
}

var byName map[string]Type

func init() {
	byName = make(map[string]Type, NumTypes)
	for t := Type(1); t < NumTypes; t++ {
		defs[t].Type = t
		byName[defs[t].Name] = t
	}
}

// Lookup returns the definition of t. Unknown types get an empty Def.
func Lookup(t Type) *Def {
	if t >= NumTypes {
		return &defs[TypeUnknown]
	}
	return &defs[t]
}

// ByName returns the type whose Falco name is name.
func ByName(name string) (Type, bool) {
	t, ok := byName[name]
	return t, ok
}

// Defs returns the event table, indexed by Type; entry 0 is TypeUnknown.
func Defs() []Def { return defs[:] }

// String returns the Falco name of the type.
func (t Type) String() string {
	if t == TypeUnknown || t >= NumTypes {
		return "unknown"
	}
	return defs[t].Name
}

// CreatesFD reports whether the event's return value, on success, is a new
// fd (Falco's exit argument "fd").
func (d *Def) CreatesFD() bool { return len(d.Args) > 0 && d.Args[0] == retFD }
