package event

// Type identifies the kind of an event. Syscall events carry the Falco name
// of the syscall (Def(t).Name), lifecycle events a name of their own.
type Type uint16

// Event types. The numeric values cross into BPF (the sensor writes them in
// its records), so new types are appended, never inserted.
const (
	TypeUnknown Type = iota
	TypeExecve
	TypeExecveat
	TypeOpen
	TypeOpenat
	TypeOpenat2
	TypeCreat
	TypeClose
	TypeDup
	TypeDup2
	TypeDup3
	TypeSocket
	TypeConnect
	TypeAccept
	TypeAccept4
	TypeBind
	TypeListen
	TypeSendto
	TypeSendmsg
	TypeRecvfrom
	TypeRecvmsg
	TypeLink
	TypeLinkat
	TypeSymlink
	TypeSymlinkat
	TypeUnlink
	TypeUnlinkat
	TypeRename
	TypeRenameat
	TypeRenameat2
	TypeMkdir
	TypeMkdirat
	TypeRmdir
	TypeChmod
	TypeFchmod
	TypeFchmodat
	TypePtrace
	TypeSetuid
	TypeSetgid
	TypeSetresuid
	TypeSetresgid
	TypeSetns
	TypeUnshare
	TypeMount
	TypeUmount2
	TypeInitModule
	TypeFinitModule
	TypeBpf
	TypeMemfdCreate
	TypeUserfaultfd
	TypeChdir
	TypeFchdir
	TypeKill
	// Process lifecycle. Fork events come from sched_process_fork and are
	// named after the syscall that created the task.
	TypeClone
	TypeFork
	TypeVfork
	TypeClone3
	TypeProcExit
	// Events of other sources than the sensor.
	TypeK8sAudit // a Kubernetes audit event (source k8s_audit)
	// TypeContainer is Falco's container event: a container started (made
	// by the pipeline from the exec of the container's first process).
	TypeContainer
	// Data I/O. The sensor attaches their hooks only while a rule or
	// caller asks for one of them by type (IOTypes).
	TypeRead
	TypeWrite
	TypePread
	TypePwrite
	TypeReadv
	TypeWritev
	TypePreadv
	TypePwritev

	// NumTypes is one past the last type; tables indexed by Type use it.
	NumTypes
)

// Category groups event types for filtering (`vigil trace --types file`).
type Category uint8

const (
	CatProcess Category = iota + 1
	CatFile
	CatNetwork
	CatSecurity // privilege, namespace, module, bpf, ptrace
	CatK8sAudit // Kubernetes audit events
	CatContainer
)

func (c Category) String() string {
	switch c {
	case CatProcess:
		return "process"
	case CatFile:
		return "file"
	case CatNetwork:
		return "network"
	case CatSecurity:
		return "security"
	case CatK8sAudit:
		return SourceK8sAudit
	case CatContainer:
		return "container"
	}
	return "unknown"
}

// Rule sources: the kinds of event a rule is written for (Falco's
// `source:`).
const (
	SourceSyscall  = "syscall"
	SourceK8sAudit = "k8s_audit"
	// SourceAny marks the fields every source has (evt.time...).
	SourceAny = "any"
)

// Source returns the source of events of type t.
func (t Type) Source() string {
	if t == TypeK8sAudit {
		return SourceK8sAudit
	}
	return SourceSyscall
}

// IOTypes are the data I/O calls (read, write and their vector and
// positioned forms). Their hooks run on every read and write of the
// machine, so the sensor attaches them only while they are asked for by
// type; "every type" does not include them.
var IOTypes = TypeSetOf(TypeRead, TypeWrite, TypePread, TypePwrite, TypeReadv, TypeWritev, TypePreadv, TypePwritev)

// FromSensor reports whether the sensor reports events of type t (the
// others are made elsewhere: Kubernetes audit events by the audit source,
// container events by the pipeline).
func (t Type) FromSensor() bool {
	return t != TypeK8sAudit && t != TypeContainer
}

// SourceTypes returns the event types of a source (empty for an unknown
// one).
func SourceTypes(source string) TypeSet {
	switch source {
	case SourceSyscall:
		return AllTypes().Minus(TypeSetOf(TypeK8sAudit))
	case SourceK8sAudit:
		return TypeSetOf(TypeK8sAudit)
	}
	return TypeSet{}
}

// Slot names the Event field that holds an argument.
type Slot uint8

const (
	SlotNone   Slot = iota
	SlotRet         // Event.Ret
	SlotFD          // Event.FD
	SlotFD2         // Event.FD2
	SlotDirFD       // Event.DirFD
	SlotDirFD2      // Event.DirFD2
	SlotPath        // Event.Path
	SlotPath2       // Event.Path2
	SlotStr         // Event.Str
	SlotFlags       // Event.Flags
	SlotMode        // Event.Mode
	SlotAddr        // Event.Addr
	SlotArg0        // Event.Arg[0]
	SlotArg1        // Event.Arg[1]
	SlotArg2        // Event.Arg[2]
	SlotArg3        // Event.Arg[3]
	SlotBuffer      // Event.Buffer
)

// Kind says how an argument is typed and rendered (Falco's PT_* types).
type Kind uint8

const (
	KindInt      Kind = iota + 1 // signed decimal
	KindUint                     // unsigned decimal
	KindFD                       // fd number, rendered with its name when known
	KindErrno                    // return value: fd/0 on success, -errno on failure
	KindPath                     // absolute or cwd-relative path (PT_FSPATH)
	KindRelPath                  // path relative to a dirfd (PT_FSRELPATH); ArgDef.DirFD names the dirfd slot
	KindString                   // raw string (PT_CHARBUF)
	KindFlags                    // bit flags rendered by name from ArgDef.Flags
	KindEnum                     // a single value rendered by name from ArgDef.Flags
	KindMode                     // file mode, octal
	KindSockaddr                 // family/address/port
	KindPID                      // process id
	KindUID                      // user or group id
	KindSignal                   // signal number, rendered SIGxxx
	KindBuffer                   // I/O data (PT_BYTEBUF): printable bytes as they are, others as '.'
)

// ArgDef describes one argument of an event, in Falco's order and with
// Falco's name so that `evt.arg.NAME` and `evt.arg[N]` resolve.
type ArgDef struct {
	Name  string
	Kind  Kind
	Slot  Slot
	DirFD Slot   // for KindRelPath: the slot of the dirfd the path is relative to
	Flags string // for KindFlags/KindEnum: the name of the flag table (see flags.go)
}

// Def is one row of the event table: everything Vigil knows about an event
// type. The sensor, the decoder, the rules compiler and docs/events.md are
// all driven by this table.
type Def struct {
	Type     Type
	Name     string // Falco evt.type
	Category Category
	Syscall  string // kernel syscall name ("" for non-syscall events); tracepoints sys_exit_<Syscall>
	Args     []ArgDef
	Doc      string
}
