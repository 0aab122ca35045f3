package state

import (
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Defaults for Config fields left at zero.
const (
	DefaultMaxProcs      = 32768
	DefaultMaxFDsPerProc = 4096
	DefaultMaxFDs        = 1 << 20
)

// maxAncestry bounds the /proc walk up the parent chain (it also breaks
// cycles that pid reuse could create).
const maxAncestry = 64

// ErrInvalidConfig is matched (errors.Is) by every Config validation error.
var ErrInvalidConfig = errors.New("invalid state config")

// Config bounds the tables and says where /proc is.
type Config struct {
	// MaxProcs is the maximum number of process entries; 0 means
	// DefaultMaxProcs. The least recently used process is evicted first.
	MaxProcs int
	// MaxFDsPerProc is the maximum number of fds kept per process (per fd
	// table); 0 means DefaultMaxFDsPerProc. An arbitrary fd of the table is
	// evicted to make room; it is looked up again in /proc if used.
	MaxFDsPerProc int
	// MaxFDs is the maximum number of fd entries over all tables; 0 means
	// DefaultMaxFDs. Whole fd tables of the least recently used processes
	// are dropped first.
	MaxFDs int
	// ProcRoot is the procfs mount; "" means "/proc".
	ProcRoot string
	// CgroupRoot is the cgroup v2 mount point; "" means find it in
	// ProcRoot/self/mountinfo. Cgroup ids are 0 when there is none.
	CgroupRoot string
	// FDLookupBudget bounds the time spent per second resolving unknown
	// fds from /proc (a socket's lookup scans /proc/PID/net/*, whose cost
	// grows with the host's sockets); past it an event on an unknown fd
	// gets no FDInfo and is counted in Stats.FDLookupsSkipped. 0 means
	// DefaultFDLookupBudget.
	FDLookupBudget time.Duration
}

// DefaultFDLookupBudget is Config.FDLookupBudget's default: 2% of a core.
const DefaultFDLookupBudget = 20 * time.Millisecond

// Stats are the table's sizes and counters since New.
type Stats struct {
	Procs         int    // process entries
	FDs           int    // fd entries over all fd tables
	Events        uint64 // events applied
	ProcEvictions uint64 // processes evicted by MaxProcs
	FDEvictions   uint64 // fd entries evicted by MaxFDsPerProc or MaxFDs
	ProcLookups   uint64 // processes read from /proc (seed and lazy)
	ProcMisses    uint64 // /proc reads that found nothing
	Placeholders  uint64 // "<NA>" placeholder processes created
	FDLookups     uint64 // fds resolved lazily from /proc/PID/fd
	FDMisses      uint64 // lazy fd lookups that found nothing
	// FDLookupsSkipped counts unknown fds left unresolved because the
	// second's FDLookupBudget was spent.
	FDLookupsSkipped uint64
	Reaped           uint64 // exited processes removed
	Swept            uint64 // processes removed by Sweep (their exit was never seen)
}

// Table is the process table with its fd tables. The zero value is not
// usable; call New.
type Table struct {
	mu    sync.RWMutex
	cfg   Config
	procs map[uint32]*procEntry
	tids  map[uint32]uint32 // non-leader thread id → tgid
	lru   procEntry         // sentinel: lru.next is the most recently used
	nfds  int
	reap  []*procEntry // exited leaders, removed at the next Apply
	stats Stats
	buf   []byte // scratch for building names

	orphans []*procEntry // scratch for remove

	cgroupRoot string
	// cgroupVersion is the host's cgroup layout (host.CgroupVersion);
	// cgroupSets the parsed /proc/PID/cgroup contents (Process.Cgroups).
	cgroupVersion int
	cgroupSets    map[string][]event.Cgroup
	bootNS        int64 // boot time, ns since the epoch

	// The FDLookupBudget window: when it started and what it spent.
	lookupWindow time.Time
	lookupSpent  time.Duration
}

// procEntry is one process. p is what events point to.
type procEntry struct {
	p           event.Process
	fds         *fdTable
	prev, next  *procEntry // LRU list
	tids        []uint32   // live non-leader threads
	exited      bool
	placeholder bool
	inTable     bool

	// The tree: parent is the entry p.Parent points to while both are in
	// the table; children are linked through sibPrev/sibNext.
	parent           *procEntry
	child            *procEntry
	sibPrev, sibNext *procEntry

	tbl *Table                // the table the entry was inserted in (thread.cpu reads its ProcRoot)
	cpu map[uint32]*threadCPU // thread.cpu samples per thread, made on first use
}

// New returns an empty table; call Seed to load the processes already
// running.
func New(cfg Config) (*Table, error) {
	if cfg.MaxProcs < 0 || cfg.MaxFDsPerProc < 0 || cfg.MaxFDs < 0 {
		return nil, fmt.Errorf("state: negative bound in %+v: %w", cfg, ErrInvalidConfig)
	}
	if cfg.MaxProcs == 0 {
		cfg.MaxProcs = DefaultMaxProcs
	}
	if cfg.MaxFDsPerProc == 0 {
		cfg.MaxFDsPerProc = DefaultMaxFDsPerProc
	}
	if cfg.MaxFDs == 0 {
		cfg.MaxFDs = DefaultMaxFDs
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.FDLookupBudget <= 0 {
		cfg.FDLookupBudget = DefaultFDLookupBudget
	}
	t := &Table{
		cfg:   cfg,
		procs: make(map[uint32]*procEntry),
		tids:  make(map[uint32]uint32),
		buf:   make([]byte, 0, 256),
	}
	t.lru.next, t.lru.prev = &t.lru, &t.lru
	t.cgroupRoot = cfg.CgroupRoot
	t.cgroupVersion = host.CgroupVersion()
	t.cgroupSets = map[string][]event.Cgroup{}
	if t.cgroupRoot == "" {
		root, err := findCgroup2(cfg.ProcRoot)
		if err != nil {
			return nil, fmt.Errorf("state: find cgroup2 mount: %w", err)
		}
		t.cgroupRoot = root
	}
	t.bootNS = host.BootTime()
	return t, nil
}

// Apply updates the table from ev and sets ev.Proc and ev.FDInfo to the
// state after the event. It must be called from one goroutine.
func (t *Table) Apply(ev *event.Event) {
	t.mu.Lock()
	t.apply(ev)
	t.mu.Unlock()
}

func (t *Table) apply(ev *event.Event) {
	if len(t.reap) > 0 {
		t.reapPending()
	}
	t.stats.Events++
	ev.Proc, ev.FDInfo = nil, nil
	if ev.Type == event.TypeProcExit {
		t.applyExit(ev)
		return
	}
	e := t.procFor(ev)
	ev.Proc = &e.p
	switch ev.Type {
	case event.TypeClone, event.TypeFork, event.TypeVfork, event.TypeClone3:
		t.applyFork(e, ev)
	case event.TypeExecve, event.TypeExecveat:
		t.applyExec(e, ev)
	case event.TypeChdir:
		if ev.Ret == 0 {
			if d := resolvePath(e.p.Cwd, ev.Path); d != "" {
				e.p.Cwd = dirSlash(d)
			}
		}
	case event.TypeUnshare, event.TypeSetns:
		if ev.Type == event.TypeSetns {
			ev.FDInfo = t.fdInfo(e, ev.FD)
		}
		if ev.Ret == 0 && ev.Flags&cloneNewUser != 0 {
			e.p.CapEff = allCaps
		}
	default:
		t.applyFD(e, ev)
	}
}

const (
	cloneNewUser = 0x10000000
	allCaps      = 1<<41 - 1 // CAP_CHOWN … CAP_CHECKPOINT_RESTORE
)

// procFor returns the entry of the event's process, creating it from /proc
// or from the event when unknown, and brings it up to date with what every
// event carries (parent, credentials, cgroup).
func (t *Table) procFor(ev *event.Event) *procEntry {
	e := t.procs[ev.PID]
	if e == nil {
		e = t.loadProc(ev.PID, 0)
		if e == nil {
			e = t.fromEvent(ev)
		}
	} else {
		t.touch(e)
	}
	if ev.PPID != 0 && ev.PPID != e.p.PID {
		if ev.PPID != e.p.PPID {
			t.reparent(e, ev.PPID)
		} else if e.parent == nil {
			// The parent's entry was replaced or evicted: link the current one.
			if pe := t.procs[ev.PPID]; pe != nil {
				t.link(e, pe)
			}
		}
	}
	if e.p.UID != ev.UID {
		e.p.UID = ev.UID
	}
	if e.p.GID != ev.GID {
		e.p.GID = ev.GID
	}
	if e.p.LoginUID != ev.LoginUID {
		e.p.LoginUID = ev.LoginUID
	}
	if ev.CgroupID != 0 && e.p.CgroupID != ev.CgroupID {
		e.p.CgroupID = ev.CgroupID
	}
	return e
}

// reparent points e at the entry of ppid (looked up in /proc, or a
// placeholder, when unknown).
func (t *Table) reparent(e *procEntry, ppid uint32) {
	e.p.PPID = ppid
	t.link(e, t.procOrPlaceholder(ppid, 1, e))
}

// link makes pe the parent of e. A link that would close a cycle (pid
// reuse with lost events can suggest one) leaves e without a parent, so
// that Parent chains always end.
func (t *Table) link(e, pe *procEntry) {
	t.unlink(e)
	n := 0
	for a := &pe.p; a != nil; a = a.Parent {
		if n++; a == &e.p || n > 1<<16 {
			e.p.Parent = nil
			return
		}
	}
	e.p.Parent = &pe.p
	if !pe.inTable {
		return
	}
	e.parent = pe
	e.sibNext = pe.child
	if pe.child != nil {
		pe.child.sibPrev = e
	}
	pe.child = e
}

// unlink removes e from its parent's children (p.Parent is kept).
func (t *Table) unlink(e *procEntry) {
	pe := e.parent
	if pe == nil {
		return
	}
	if e.sibPrev != nil {
		e.sibPrev.sibNext = e.sibNext
	} else {
		pe.child = e.sibNext
	}
	if e.sibNext != nil {
		e.sibNext.sibPrev = e.sibPrev
	}
	e.parent, e.sibPrev, e.sibNext = nil, nil, nil
}

// adopt re-parents the children of an exited process as the kernel did
// (their parent is now a subreaper or the pid namespace's init): the new
// parent pid is read from /proc/PID/stat. A child /proc no longer knows,
// or not yet re-parented, keeps pointing at the exited parent until its
// next event carries the new PPID.
func (t *Table) adopt(orphans []*procEntry, dead uint32) {
	for _, c := range orphans {
		if !c.inTable || c.placeholder {
			continue
		}
		ppid, err := readPPID(t.cfg.ProcRoot, c.p.PID)
		if err != nil || ppid == dead || ppid == 0 || ppid == c.p.PID {
			continue
		}
		c.p.PPID = ppid
		t.link(c, t.procOrPlaceholder(ppid, 1, c))
	}
}

// procOrPlaceholder returns the entry of pid, from the table, /proc or a
// placeholder. keep is not evicted to make room.
func (t *Table) procOrPlaceholder(pid uint32, depth int, keep *procEntry) *procEntry {
	if p := t.procs[pid]; p != nil {
		return p
	}
	if depth < maxAncestry {
		if p := t.loadProcKeep(pid, depth, keep); p != nil {
			return p
		}
	}
	ph := &procEntry{placeholder: true, p: event.Process{
		PID: pid, Comm: "<NA>", Exe: "<NA>",
		UID: ^uint32(0), GID: ^uint32(0), LoginUID: ^uint32(0),
	}}
	t.stats.Placeholders++
	t.insert(ph, keep)
	return ph
}

// fromEvent creates the entry of an event's process that /proc does not
// know (it exited, or lives in another pid namespace) from what the event
// carries.
func (t *Table) fromEvent(ev *event.Event) *procEntry {
	comm := ev.Comm
	if comm == "" {
		comm = "<NA>"
	}
	e := &procEntry{placeholder: true, p: event.Process{
		PID: ev.PID, PPID: ev.PPID, Comm: comm, Exe: "<NA>",
		UID: ev.UID, GID: ev.GID, LoginUID: ev.LoginUID, CgroupID: ev.CgroupID,
	}}
	t.stats.Placeholders++
	t.insert(e, nil)
	if ev.PPID != 0 && ev.PPID != ev.PID {
		t.link(e, t.procOrPlaceholder(ev.PPID, 1, e))
	}
	return e
}

// applyFork creates the child of a fork (or records a new thread).
func (t *Table) applyFork(parent *procEntry, ev *event.Event) {
	if ev.Ret <= 0 {
		return
	}
	tid := uint32(ev.Ret)
	tgid := uint32(ev.Arg[0])
	if tgid == 0 {
		tgid = tid
	}
	if tgid == parent.p.PID {
		if tid != tgid {
			t.addThread(parent, tid)
		}
		return
	}
	if old := t.procs[tgid]; old != nil {
		t.remove(old, true) // pid reused: we missed the old one's exit
	}
	c := &procEntry{p: parent.p}
	c.p.PID = tgid
	c.p.PPID = parent.p.PID
	c.p.Parent = nil
	c.p.StartTime = ev.Time
	c.p.IDs.VPID, c.p.IDs.VTID = 0, 0 // known at its exec (process group and session are inherited)
	c.fds = parent.fds
	if c.fds != nil {
		c.fds.refs++
	}
	t.insert(c, parent)
	t.link(c, parent)
	if tid != tgid {
		t.addThread(c, tid)
	}
}

// addThread records tid as a thread of e. A tid still recorded for another
// process (its exit was lost and the tid reused) moves to e.
func (t *Table) addThread(e *procEntry, tid uint32) {
	if old, ok := t.tids[tid]; ok {
		if old == e.p.PID {
			return
		}
		if o := t.procs[old]; o != nil {
			o.tids = dropTid(o.tids, tid)
		}
	}
	t.tids[tid] = e.p.PID
	e.tids = append(e.tids, tid)
}

func dropTid(tids []uint32, tid uint32) []uint32 {
	for i, v := range tids {
		if v == tid {
			tids[i] = tids[len(tids)-1]
			return tids[:len(tids)-1]
		}
	}
	return tids
}

// applyExec makes e describe the new image. A failed exec changes nothing.
func (t *Table) applyExec(e *procEntry, ev *event.Event) {
	x := ev.Exec
	if ev.Ret < 0 || x == nil {
		return
	}
	if ev.Comm != "" {
		e.p.Comm = ev.Comm
	}
	if len(x.Argv) > 0 && isSelfExec(x.Filename) {
		if c := argv0Comm(x.Argv[0]); c != "" {
			e.p.Comm = c // busybox applets: the applet, not "exe"
		}
	}
	if len(x.Argv) > 0 {
		e.p.Exe = x.Argv[0]
		if len(x.Argv) > 1 {
			e.p.Args = x.Argv[1:len(x.Argv):len(x.Argv)] // kept as is: Exec's lists are never modified
		} else {
			e.p.Args = nil
		}
	} else {
		e.p.Exe, e.p.Args = "", nil
	}
	e.p.ExePath = trimDeleted(x.ExePath)
	if x.Cwd != "" {
		e.p.Cwd = dirSlash(resolvePath(e.p.Cwd, x.Cwd))
	}
	e.p.Tty = x.Tty
	e.p.CapEff, e.p.CapPrm, e.p.CapInh = x.CapEff, x.CapPrm, x.CapInh
	e.p.ExeUpperLayer, e.p.ExeFromMemfd, e.p.ExeWritable = x.UpperLayer, x.FromMemfd, x.Writable
	e.p.Env = x.Env
	e.p.IDs = x.IDs
	e.p.ExeIno, e.p.ExeCtime, e.p.ExeMtime = x.ExeIno, x.ExeCtime, x.ExeMtime
	e.p.Usage, e.p.PidnsStart = x.Usage, x.PidnsStart
	e.p.ExecTime = ev.Time
	// The cgroups at exec (a container runtime moves its child into the
	// container's cgroups before the exec); the fork's, inherited from the
	// parent, when the process is already gone.
	if b, err := os.ReadFile(t.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(e.p.PID), 10) + "/cgroup"); err == nil {
		e.p.Cgroups = t.cgroups(b)
	}
	e.placeholder = false
	// exec kills the other threads; the thread that exec'd becomes the
	// leader, so an earlier exit event of the old leader no longer counts.
	e.exited = false
	for _, tid := range e.tids {
		delete(t.tids, tid)
	}
	e.tids = e.tids[:0]
	t.dropCloexec(e)
}

// applyExit handles a thread's exit: a non-leader only leaves the thread
// map; the leader's exit reaps the process at the next Apply, or when its
// last known thread exits if the leader went first (pthread_exit in main).
func (t *Table) applyExit(ev *event.Event) {
	e := t.procs[ev.PID]
	if e == nil {
		// Unknown or already reaped: describe it from the event, without
		// adding a process that is going away to the table.
		comm := ev.Comm
		if comm == "" {
			comm = "<NA>"
		}
		ev.Proc = &event.Process{PID: ev.PID, PPID: ev.PPID, Comm: comm, Exe: "<NA>",
			UID: ev.UID, GID: ev.GID, LoginUID: ev.LoginUID, CgroupID: ev.CgroupID}
		if pe := t.procs[ev.PPID]; pe != nil {
			ev.Proc.Parent = &pe.p
		}
		return
	}
	t.touch(e)
	ev.Proc = &e.p
	if ev.TID != 0 && ev.TID != ev.PID {
		if t.tids[ev.TID] == e.p.PID {
			delete(t.tids, ev.TID)
			e.tids = dropTid(e.tids, ev.TID)
		}
		if e.exited && len(e.tids) == 0 {
			t.reap = append(t.reap, e) // the last thread of an exited leader
		}
		return
	}
	if !e.exited {
		e.exited = true
		if len(e.tids) == 0 {
			t.reap = append(t.reap, e)
		}
	}
}

func (t *Table) reapPending() {
	for i, e := range t.reap {
		if e.inTable && e.exited && t.procs[e.p.PID] == e {
			t.remove(e, true)
			t.stats.Reaped++
		}
		t.reap[i] = nil
	}
	t.reap = t.reap[:0]
}

// insert adds e to the table as the most recently used entry, evicting the
// least recently used ones beyond MaxProcs (never e or keep).
func (t *Table) insert(e, keep *procEntry) {
	e.p.State = e
	e.tbl = t
	t.procs[e.p.PID] = e
	e.inTable = true
	e.prev, e.next = &t.lru, t.lru.next
	t.lru.next.prev = e
	t.lru.next = e
	for len(t.procs) > t.cfg.MaxProcs {
		v := t.lru.prev
		for v != &t.lru && (v == e || v == keep) {
			v = v.prev
		}
		if v == &t.lru {
			break
		}
		t.remove(v, false)
		t.stats.ProcEvictions++
	}
}

// touch makes e the most recently used entry.
func (t *Table) touch(e *procEntry) {
	if t.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = &t.lru, t.lru.next
	t.lru.next.prev = e
	t.lru.next = e
}

// remove deletes e from the table and releases its fd table. Events that
// point at e.p keep a valid (frozen) Process. When the process exited its
// children are adopted by their new parent.
func (t *Table) remove(e *procEntry, exited bool) {
	if !e.inTable {
		return
	}
	t.unlink(e)
	orphans := t.orphans[:0]
	t.orphans = nil // adopt may insert and evict: nested removes use their own
	for c := e.child; c != nil; {
		next := c.sibNext
		c.parent, c.sibPrev, c.sibNext = nil, nil, nil
		orphans = append(orphans, c)
		c = next
	}
	e.child = nil
	if t.procs[e.p.PID] == e {
		delete(t.procs, e.p.PID)
	}
	for _, tid := range e.tids {
		if t.tids[tid] == e.p.PID {
			delete(t.tids, tid)
		}
	}
	e.tids = nil
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	e.inTable = false
	t.releaseFDs(e)
	if exited && len(orphans) > 0 {
		t.adopt(orphans, e.p.PID)
	}
	clear(orphans)
	t.orphans = orphans[:0]
}

// entry returns the entry of pid or of the process owning thread pid.
func (t *Table) entry(pid uint32) *procEntry {
	if e := t.procs[pid]; e != nil {
		return e
	}
	if tg, ok := t.tids[pid]; ok {
		return t.procs[tg]
	}
	return nil
}

// Lookup returns a copy of the process pid (a tgid or any thread id of a
// known process). Its Parent chain is copied too. It does not read /proc.
// Safe from any goroutine.
func (t *Table) Lookup(pid uint32) (event.Process, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.entry(pid)
	if e == nil {
		return event.Process{}, false
	}
	p := e.p
	p.State = nil // the live state is the applying goroutine's only
	cur := &p
	for i := 0; cur.Parent != nil && i < maxAncestry; i++ {
		par := *cur.Parent
		par.State = nil
		cur.Parent = &par
		cur = &par
	}
	cur.Parent = nil
	return p, true
}

// Processes returns a copy of every process entry, with Parent cleared
// (PPID links them). Safe from any goroutine.
func (t *Table) Processes() []event.Process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]event.Process, 0, len(t.procs))
	for e := t.lru.next; e != &t.lru; e = e.next {
		p := e.p
		p.Parent, p.State = nil, nil
		out = append(out, p)
	}
	return out
}

// Stats returns the current sizes and counters. Safe from any goroutine.
func (t *Table) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := t.stats
	s.Procs = len(t.procs)
	s.FDs = t.nfds
	return s
}

// Sweep checks up to max processes (a random sample; max <= 0 means all)
// against /proc and removes those that no longer exist: processes whose
// exit event was lost (the sensor drops events under pressure) would
// otherwise stay until evicted. It returns the number removed. Call it
// periodically from any goroutine; it holds the table lock while it runs
// (one stat per process checked).
func (t *Table) Sweep(max int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var dead []*procEntry
	n := 0
	for pid, e := range t.procs {
		if max > 0 && n >= max {
			break
		}
		n++
		var st syscall.Stat_t
		if err := syscall.Stat(t.cfg.ProcRoot+"/"+strconv.FormatUint(uint64(pid), 10), &st); errors.Is(err, syscall.ENOENT) {
			dead = append(dead, e)
		}
	}
	for _, e := range dead {
		t.remove(e, true)
	}
	t.stats.Swept += uint64(len(dead))
	return len(dead)
}
