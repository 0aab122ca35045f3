package event

import "net/netip"

// AtFDCWD is the dirfd value meaning "relative to the current directory".
const AtFDCWD = -100

// Event is one observation from the sensor. Syscall events are taken at
// syscall exit: the arguments are those the call was made with, Ret is its
// return value (a new fd, 0, or -errno). Which argument fields are set
// depends on Type; Def(Type).Args names them.
//
// The sensor fills the raw part. The pipeline's enrichment stage sets Proc,
// FDInfo and Container before the rules engine sees the event. Events are
// reused by the sensor's reader: a consumer that keeps one must Clone it.
type Event struct {
	Type     Type
	Time     int64  // wall clock, ns since the Unix epoch
	PID      uint32 // thread group id
	TID      uint32 // thread id
	PPID     uint32 // parent's thread group id
	UID      uint32 // effective uid
	GID      uint32 // effective gid
	LoginUID uint32 // audit loginuid; NoLoginUID when unset
	Comm     string // task comm, at most 15 bytes
	CgroupID uint64 // cgroup v2 id: the inode number of the task's cgroup directory
	Ret      int64  // return value
	CPU      uint16 // the CPU the event happened on

	FD     int64    // fd argument, -1 when none
	FD2    int64    // second fd argument (dup2/dup3 newfd), -1 when none
	DirFD  int64    // dirfd of *at syscalls (the old one for linkat/renameat*)
	DirFD2 int64    // second dirfd (linkat/renameat* newdirfd)
	Path   string   // primary path argument exactly as passed
	Path2  string   // second path argument (rename/link target, symlink linkpath, mount dir)
	Str    string   // other string argument (memfd name, mount fstype, module params)
	Flags  uint64   // raw flags argument as the kernel received it
	Mode   uint32   // mode argument
	Addr   SockAddr // remote/target address: connect, sendto, sendmsg, accept peer, bind address
	Local  SockAddr // local end of a connected socket where known (connect, accept)
	Arg    [4]int64 // syscall-specific integers, named by Def(Type).Args
	Exec   *Exec    // execve/execveat only
	// Buffer is the first bytes an I/O call (sendto, sendmsg, recvfrom,
	// recvmsg) moved, at most the sensor's snaplen (80 bytes), when a
	// rule asked for them (evt.buffer); nil otherwise. The sensor reuses
	// it: copy it to keep it.
	Buffer []byte

	// Audit is the Kubernetes audit event of a TypeK8sAudit event.
	Audit *Audit

	// Enrichment, set by the pipeline.
	Proc      *Process
	FDInfo    *FDInfo
	Container *Container
}

// NoLoginUID is the kernel's value for an unset audit loginuid.
const NoLoginUID = ^uint32(0)

// Exec carries what an exec event knows about the new program. Its Argv
// and Env are never modified once the event is made, so consumers keep
// them without a copy (the sensor interns them: 10k workers of one command
// line share one copy in the process table).
type Exec struct {
	Filename      string   // path passed to execve, as passed
	ExePath       string   // resolved path of the executable (mm->exe_file)
	Argv          []string // argv, bounded by the sensor
	ArgvTruncated bool     // argv was cut (too many or too long arguments)
	Cwd           string
	Tty           uint32 // controlling tty as an encoded dev_t, 0 when none
	CapEff        uint64
	CapPrm        uint64
	CapInh        uint64
	UpperLayer    bool     // the executable lives in an overlayfs upper layer (written after the container started)
	FromMemfd     bool     // the executable is a memfd (fileless execution)
	Writable      bool     // the executable is writable by the calling user
	Env           []string // environment, bounded by the sensor (VIGIL_ENV_MAX bytes)
	EnvTruncated  bool
	IDs           NSIDs
	ExeIno        uint64
	ExeCtime      int64 // ns since the epoch
	ExeMtime      int64
	Usage         Usage // memory, page faults and fd limit of the new image
	PidnsStart    int64 // start of the init of the process's pid namespace, ns since the epoch; 0 when unknown
}

// Usage is what the sensor reads of a process's resources at exec (Falco
// refreshes the same at exec and clone).
type Usage struct {
	Known                 bool
	VMSize, VMRSS, VMSwap uint64 // KiB
	PFMajor, PFMinor      uint64 // page faults of the exec'ing thread
	FDLimit               int64  // RLIMIT_NOFILE soft limit
}

// NSIDs are the ids of a process as seen from its own pid namespace (what
// Falco calls vpid, vtid, vpgid and sid); 0 when unknown.
type NSIDs struct {
	VPID  uint32
	VTID  uint32
	VPGID uint32
	VSID  uint32
}

// SockAddr is a socket address. Family is AF_INET, AF_INET6, AF_UNIX, or 0
// when the event has no address.
type SockAddr struct {
	Family uint16
	IP     netip.Addr
	Port   uint16
	Path   string // AF_UNIX path ("@name" for abstract sockets)
}

// Valid reports whether the address is set.
func (a SockAddr) Valid() bool { return a.Family != 0 }

// Process is the process-table entry the enrichment stage attaches to an
// event. Its fields describe the process after the event (so on an exec they
// describe the new image). Parent links the ancestry; it may be nil when
// the parent is unknown.
type Process struct {
	PID       uint32
	PPID      uint32
	Comm      string   // kernel comm (proc.name)
	Exe       string   // argv[0] (proc.exe)
	ExePath   string   // resolved executable path (proc.exepath)
	Args      []string // argv[1:] (proc.args)
	Cwd       string
	Tty       uint32
	UID       uint32
	GID       uint32
	LoginUID  uint32
	CapEff    uint64
	CapPrm    uint64
	CapInh    uint64
	StartTime int64 // fork time, ns since the epoch
	ExecTime  int64 // last exec, ns since the epoch
	CgroupID  uint64
	// ExeUpperLayer and ExeFromMemfd are computed by the sensor at exec and
	// false for processes found in the /proc scan.
	ExeUpperLayer bool
	ExeFromMemfd  bool
	ExeWritable   bool
	// Env is the environment at exec (or from /proc/PID/environ).
	Env []string
	// IDs are the namespace ids; a forked child has its parent's VPGID and
	// VSID and no VPID until it execs.
	IDs      NSIDs
	ExeIno   uint64
	ExeCtime int64 // ns since the epoch, 0 when unknown
	ExeMtime int64
	// Usage is the resource usage read at the last exec (Known false for
	// processes found in the /proc scan); PidnsStart as Exec's.
	Usage      Usage
	PidnsStart int64
	// Cgroups are the process's cgroups as Falco lists them (thread.cgroups),
	// read from /proc/PID/cgroup at exec and in the /proc scan, inherited at
	// fork. Shared between processes: never modify it.
	Cgroups []Cgroup
	Parent  *Process
	// State reads what the enrichment keeps about the live process beyond
	// this struct (its fd table, its threads) for the fields that need it
	// (fd.types, proc.nthreads, evt.abspath); nil when unknown. Only the
	// goroutine that applies events may call it, like reading Process.
	State ProcState
}

// Cgroup is one cgroup of a process: a controller (cpu, memory,
// name=systemd...) and the path in its hierarchy.
type Cgroup struct {
	Subsys string
	Path   string
}

// ProcState is the live state of a process kept by the enrichment.
type ProcState interface {
	// FD returns the fd the table knows as num (no /proc lookup).
	FD(num int64) (*FDInfo, bool)
	// EachFD calls fn for every fd the table knows, until fn returns false.
	EachFD(fn func(*FDInfo) bool)
	// Threads reports whether the thread group leader is alive and how
	// many other threads are.
	Threads() (leader bool, others int)
}

// ThreadCPUReader is implemented by the ProcStates that can tell a live
// thread's CPU use (thread.cpu, thread.cpu.user, thread.cpu.system).
type ThreadCPUReader interface {
	// ThreadCPU returns the CPU use of thread tid of the process in percent
	// of one CPU, user and system, over about the last second.
	ThreadCPU(tid uint32) (user, system float64, ok bool)
	// ThreadRunTime returns the time thread tid has spent running on a
	// CPU since it started, in ns.
	ThreadRunTime(tid uint32) (ns int64, ok bool)
}

// FDType is Falco's fd.typechar letter.
type FDType byte

const (
	FDFile      FDType = 'f'
	FDDirectory FDType = 'd'
	FDIPv4      FDType = '4'
	FDIPv6      FDType = '6'
	FDUnix      FDType = 'u'
	FDPipe      FDType = 'p'
	FDEvent     FDType = 'e'
	FDSignal    FDType = 's'
	FDEpoll     FDType = 'l'
	FDInotify   FDType = 'i'
	FDTimer     FDType = 't'
	FDNetlink   FDType = 'n'
	FDBPF       FDType = 'b'
	FDIOUring   FDType = 'r'
	FDMemfd     FDType = 'm'
	FDPidfd     FDType = 'P'
	FDUnknown   FDType = 'o'
)

// fdTypes lists every FDType.
var fdTypes = []FDType{FDFile, FDDirectory, FDIPv4, FDIPv6, FDUnix, FDPipe, FDEvent, FDSignal, FDEpoll,
	FDInotify, FDTimer, FDNetlink, FDBPF, FDIOUring, FDMemfd, FDPidfd, FDUnknown}

// FDInfo describes the fd an event operates on (or creates), from the fd
// table after the event was applied.
type FDInfo struct {
	Num     int64
	Type    FDType
	Name    string // Falco fd.name format: absolute normalised path, or "cip:cport->sip:sport"
	NameRaw string // path exactly as passed to open
	// Flags are the open flags as the kernel received them.
	Flags uint64
	// Socket state.
	L4Proto     string // tcp, udp, icmp, raw, or "" when not a socket
	Client      SockAddr
	Server      SockAddr
	Listening   bool
	Connected   bool
	NameChanged bool // this event changed the fd's name
	// Dev and Ino identify the file (fd.dev, fd.ino): the device of its
	// filesystem, new_encode_dev'd as stat's st_dev, and its inode; 0 when
	// unknown (not a file, or a table entry made without them).
	Dev uint32
	Ino uint64
}

// Container is the container context of an event. Host processes get
// ID "host". Metadata fields are valid only when MetadataKnown is true: a
// container whose runtime has not answered yet has an ID but no image.
type Container struct {
	ID            string // first 12 characters of FullID, or "host"
	FullID        string
	Type          string // docker, containerd, cri-o, podman, runc, host
	MetadataKnown bool
	Name          string
	Image         string // image reference as the runtime reports it
	Repository    string
	Tag           string
	Digest        string
	ImageID       string // the image's id (hex, without "sha256:") where the runtime reports it (Docker)
	Privileged    bool
	Mounts        []Mount
	StartTS       int64 // ns since the epoch
	Healthcheck   string
	Labels        map[string]string
	PodName       string
	PodNamespace  string
	PodUID        string
	PodLabels     map[string]string
	PodSandboxID  string // full id of the pod's sandbox (CRI), "" outside a pod
	CgroupPath    string
}

// Mount is one mount of a container.
type Mount struct {
	Source      string
	Destination string
	Mode        string
	RW          bool
	Propagation string
}
