package profile

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/sensor"
)

// RuleDeviation is the rule name of deviation alerts.
const RuleDeviation = "Vigil profile deviation"

// TagProfile is the tag of deviation alerts.
const TagProfile = "vigil_profile"

// Output fields of a deviation alert.
const (
	FieldProfile = "vigil.profile"
	FieldVersion = "vigil.profile.version"
	FieldKind    = "vigil.deviation.kind"
	FieldValue   = "vigil.deviation.value"
)

// DefaultRoots are the directories under which file opens are recorded
// when Options.Roots is empty.
var DefaultRoots = []string{"/etc", "/bin", "/sbin", "/usr", "/lib", "/lib64", "/root", "/home", "/var", "/tmp", "/opt", "/srv", "/app"}

// Options configure a Learner. Zero fields take the defaults shown.
type Options struct {
	KeyBy  KeyBy         // what a workload is (KeyImage)
	Window time.Duration // learning window, from a workload's first event (1h)
	// Roots are the directories under which file opens are recorded
	// (DefaultRoots); "/" records every absolute path.
	Roots  []string
	Limits Limits
	// MaxProfiles bounds the profiles kept (4096); workloads beyond are
	// not profiled, and counted.
	MaxProfiles int
	// AlertsPerMinute bounds the deviation alerts of one profile (10, a
	// burst of as many); each new behaviour is alerted once until it is
	// accepted or the profile changes. Suppressed alerts are counted.
	AlertsPerMinute int
	// Priority of deviation alerts (warning).
	Priority *alert.Priority
	Hostname string
	// OnDeviation receives each deviation alert, on the event goroutine
	// (after the Learner's lock is released).
	OnDeviation func(*alert.Alert)
	// Metrics registers the Learner's counters (nil: counted only).
	Metrics *metrics.Registry
	// PendingEvents bounds the events held per container whose runtime
	// has not described it yet (1024), PendingContainers the containers
	// held at once (64), PendingTimeout how long they wait (30s). Beyond
	// these the events are dropped and counted.
	PendingEvents     int
	PendingContainers int
	PendingTimeout    time.Duration
	// PortStart returns net.ipv4.ip_unprivileged_port_start of process
	// pid's network namespace (host.UnprivilegedPortStart), for
	// CAP_NET_BIND_SERVICE; nil or an error: a bind infers nothing.
	PortStart func(pid uint32) (int, error)
}

// Types are the event types the Learner records behaviour from; the
// pipeline adds them to the sensor's interest. Any other event a workload
// makes records its syscall (event type) only.
var Types = event.TypeSetOf(event.TypeExecve, event.TypeExecveat, event.TypeOpen, event.TypeOpenat,
	event.TypeOpenat2, event.TypeCreat, event.TypeConnect, event.TypeAccept, event.TypeAccept4, event.TypeListen,
	event.TypeBind, event.TypeSendto, event.TypeSendmsg,
	// capabilities used (CapabilityUsed)
	event.TypeSocket, event.TypeMount, event.TypeUmount2, event.TypeSetns, event.TypeUnshare,
	event.TypeInitModule, event.TypeFinitModule)

// Learner is the profiling stage of the pipeline: Observe records each
// event of a container into its workload's profile while the profile
// learns, and raises a deviation alert for new behaviour once it
// monitors. Observe is called from the event goroutine; Load, Accept,
// Snapshot, Tick and Stats from any.
type Learner struct {
	opts    Options
	pri     alert.Priority
	rootAll bool

	// known maps a container to its workload for Observe's lock-free
	// path (see workload.quiet); only Observe, on the event goroutine,
	// touches it. A cache of byCont, cleared with it.
	known map[*event.Container]*workload

	mu     sync.Mutex
	byName map[string]*workload
	byCont map[*event.Container]*workload
	dirty  map[string]struct{}
	// Per-cgroup syscall sets (SetSyscallSets): the cgroups of the
	// profiled containers and the set last read of each.
	sysSets SyscallSets
	ownCg   func(cgroupID uint64) bool
	cgroups map[uint64]*cgroupSet

	// pending holds the events of containers not described yet, by full
	// id, until their workload is known (see hold).
	pending      map[string]*pendingContainer
	pendingCount int // events held, over every container
	resolve      func(cgroupID uint64, pid uint32) *event.Container

	deviations  *metrics.CounterVec
	devByKind   map[Kind]*metrics.Counter
	suppressed  *metrics.Counter
	unprofiled  *metrics.Counter
	overflowCnt *metrics.CounterVec
	pendDropped *metrics.CounterVec
	pendFull    *metrics.Counter
	pendTimeout *metrics.Counter
	pendHeld    *metrics.Counter
	runtimeEvs  *metrics.Counter
}

// pendingContainer is the events of one container held until its
// runtime describes it.
type pendingContainer struct {
	first  int64         // ns: time of the first event held
	since  time.Time     // when the first was held (for the timeout)
	events []event.Event // copies (see holdCopy)
	types  event.TypeSet // types held that carry no behaviour: the first of each only
	// cg and pid are the latest event's, for the resolver: a container's
	// first events (runc's init joining its cgroups) may still be in
	// another cgroup.
	cg  uint64
	pid uint32
}

// SyscallSets gives the system calls a cgroup made (the sensor, with
// sensor.Options.SyscallSets).
type SyscallSets interface {
	Syscalls(cgroupID uint64) (sensor.SyscallSet, bool)
}

type cgroupSet struct {
	w    *workload
	c    *event.Container
	last sensor.SyscallSet
}

// SetSyscallSets makes the Learner read the syscall sets of the cgroups of
// the containers it profiles (PollSyscalls): every syscall, not only the
// event types the sensor reports. own says whether a cgroup is one
// container's alone (nil: every cgroup is); a shared cgroup's set (the
// cgroup v2 root, where runtimes on cgroup v1 leave containers) mixes
// other containers' and host tasks' syscalls and is not used.
func (l *Learner) SetSyscallSets(s SyscallSets, own func(cgroupID uint64) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sysSets, l.ownCg = s, own
}

// PollSyscalls reads the syscall sets of the profiled cgroups: while a
// profile learns their syscalls join it; once it monitors, a syscall not
// in it raises a deviation alert (with the container's context; no
// process: the set does not say which made it).
func (l *Learner) PollSyscalls(now time.Time) {
	var alerts []*alert.Alert
	l.mu.Lock()
	if l.sysSets == nil {
		l.mu.Unlock()
		return
	}
	for cg, e := range l.cgroups {
		set, ok := l.sysSets.Syscalls(cg)
		if !ok || set == e.last {
			continue
		}
		e.last = set
		p := e.w.p
		if p.State == Learning && !p.syscallSets {
			p.syscallSets = true
			l.touch(p)
		}
		if p.State == Learning && now.After(p.LearnEnd) {
			l.finish(e.w)
		}
		var ev *event.Event
		for _, name := range set.Names() {
			if p.syscalls.has(name) {
				continue
			}
			if ev == nil {
				ev = &event.Event{Time: now.UnixNano(), CgroupID: cg, Container: e.c}
			}
			if a := l.record(e.w, ev, KindSyscall, name, nil); a != nil {
				alerts = append(alerts, a)
			}
		}
	}
	l.mu.Unlock()
	if l.opts.OnDeviation != nil {
		for _, a := range alerts {
			l.opts.OnDeviation(a)
		}
	}
}

// workload is one profile and its deviation state.
type workload struct {
	p *Profile // &prof: the profile in the same allocation, so the event
	// path's reads of the workload and of its profile are near in memory
	prof Profile
	// alerted holds the deviations alerted since the profile last changed
	// (each is alerted once); bounded by maxAlerted.
	alerted map[Item]struct{}
	tokens  float64
	refill  int64 // ns of the last token refill
	// quiet holds the event types whose events need nothing of a
	// monitoring profile beyond their syscall, which it holds: every type
	// outside Types, and the open types (a read needs nothing, a write
	// needs its path in writes). Zero while learning. Observe decides
	// such events without the lock. Written under l.mu (setQuiet), read
	// without it.
	quiet [quietWords]atomic.Uint64
	// writes is the monitoring profile's set of written files (nil while
	// learning). A monitoring profile's sets do not change (Load replaces
	// them), so Observe reads it without the lock.
	writes atomic.Pointer[map[string]struct{}]
}

const maxAlerted = 1024

const quietWords = (int(event.NumTypes) + 63) / 64

// openTypes are the types of file opens.
var openTypes = event.TypeSetOf(event.TypeOpen, event.TypeOpenat, event.TypeOpenat2, event.TypeCreat)

// setQuiet recomputes w.quiet and w.writes from its profile (l.mu held).
func (w *workload) setQuiet() {
	var q [quietWords]uint64
	var writes *map[string]struct{}
	if w.p.State == Monitoring {
		for t := event.Type(1); t < event.NumTypes; t++ {
			if w.p.seenTypes.Has(t) && (!Types.Has(t) || openTypes.Has(t)) {
				q[t/64] |= 1 << (t % 64)
			}
		}
		m := w.p.writes.m
		writes = &m
	}
	for i := range q {
		w.quiet[i].Store(q[i])
	}
	w.writes.Store(writes)
}

// isWrite reports whether an open event opens for writing (write,
// read-write, O_CREAT, O_TRUNC, creat).
func isWrite(ev *event.Event) bool {
	return ev.Type == event.TypeCreat || ev.Flags&syscall.O_ACCMODE != syscall.O_RDONLY || ev.Flags&(syscall.O_CREAT|syscall.O_TRUNC) != 0
}

// openName is the path an open event recorded: the fd's resolved name,
// else the path passed.
func openName(ev *event.Event) string {
	if ev.FDInfo != nil && ev.FDInfo.Name != "" {
		return ev.FDInfo.Name
	}
	return ev.Path
}

// isQuiet reports whether ev needs nothing of w's monitoring profile: its
// type is quiet and, for an open, it is a read, or a write outside the
// roots or of a file the profile holds. It takes no lock.
func (l *Learner) isQuiet(w *workload, ev *event.Event) bool {
	t := ev.Type
	if w.quiet[t/64].Load()&(1<<(t%64)) == 0 {
		return false
	}
	if !openTypes.Has(t) || !isWrite(ev) {
		return true
	}
	// A file the profile holds is under the roots: the set first, so that
	// the common case (a known file written again) skips the roots.
	name := openName(ev)
	if writes := w.writes.Load(); writes != nil {
		if _, ok := (*writes)[name]; ok {
			return true
		}
	}
	return !l.underRoots(name)
}

// newWorkload returns a workload holding a copy of p (nil: empty).
func newWorkload(p *Profile) *workload {
	w := &workload{}
	w.p = &w.prof
	if p != nil {
		w.prof = *p
	}
	return w
}

// NewLearner returns a Learner with no profile.
func NewLearner(o Options) *Learner {
	if o.KeyBy == "" {
		o.KeyBy = KeyImage
	}
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if len(o.Roots) == 0 {
		o.Roots = DefaultRoots
	}
	o.Limits = o.Limits.withDefaults()
	if o.MaxProfiles <= 0 {
		o.MaxProfiles = 4096
	}
	if o.AlertsPerMinute <= 0 {
		o.AlertsPerMinute = 10
	}
	if o.PendingEvents <= 0 {
		o.PendingEvents = 1024
	}
	if o.PendingContainers <= 0 {
		o.PendingContainers = 64
	}
	if o.PendingTimeout <= 0 {
		o.PendingTimeout = 30 * time.Second
	}
	l := &Learner{opts: o, pri: alert.PriorityWarning, byName: map[string]*workload{},
		byCont: map[*event.Container]*workload{}, known: map[*event.Container]*workload{}, dirty: map[string]struct{}{}, devByKind: map[Kind]*metrics.Counter{},
		cgroups: map[uint64]*cgroupSet{}, pending: map[string]*pendingContainer{}}
	if o.Priority != nil {
		l.pri = *o.Priority
	}
	l.opts.Roots = nil
	for _, r := range o.Roots {
		r = strings.TrimSuffix(r, "/")
		if r == "" {
			l.rootAll = true
			continue
		}
		l.opts.Roots = append(l.opts.Roots, r)
	}
	r := o.Metrics
	if r == nil {
		r = metrics.NewRegistry()
	}
	l.deviations = r.CounterVec("vigil_profile_deviations_total", "Behaviour outside a workload's learned profile, by kind (each new behaviour counted once until accepted).", "kind")
	for _, k := range DeviationKinds {
		l.devByKind[k] = l.deviations.With(string(k))
	}
	l.suppressed = r.Counter("vigil_profile_alerts_suppressed_total", "Deviation alerts not raised because of the per-profile rate limit.")
	l.unprofiled = r.Counter("vigil_profile_unprofiled_events_total", "Container events not profiled: no workload key yet (metadata unknown) or profiles.max_profiles reached.")
	l.overflowCnt = r.CounterVec("vigil_profile_overflow_total", "Behaviours not recorded because a profile's set was full, by kind (sum over profiles).", "kind")
	l.pendHeld = r.Counter("vigil_profile_pending_events_total", "Events of containers not described yet by their runtime, held until their workload is known.")
	l.pendDropped = r.CounterVec("vigil_profile_pending_dropped_total", "Held events of containers not described yet that were dropped: the bounds were reached (full) or the runtime did not describe the container in time (timeout).", "reason")
	l.pendFull, l.pendTimeout = l.pendDropped.With("full"), l.pendDropped.With("timeout")
	l.runtimeEvs = r.Counter("vigil_profile_runtime_events_total", "Container events of the runtime (runc's init stages and re-exec, pod sandboxes) not learned as the workload's behaviour.")
	r.Func("vigil_profiles", "Workload profiles kept, by state.", metrics.TypeGauge, []string{"state"}, func(e metrics.Emit) {
		var learning, monitoring int
		l.mu.Lock()
		for _, w := range l.byName {
			if w.p.State == Learning {
				learning++
			} else {
				monitoring++
			}
		}
		l.mu.Unlock()
		e(float64(learning), string(Learning))
		e(float64(monitoring), string(Monitoring))
	})
	r.Func("vigil_profile_bytes", "Estimated memory of the profiles kept.", metrics.TypeGauge, nil, func(e metrics.Emit) {
		e(float64(l.Stats().Bytes))
	})
	return l
}

// Roots returns the directories under which file opens are recorded (nil
// with "/": every path).
func (l *Learner) Roots() []string {
	if l.rootAll {
		return []string{"/"}
	}
	return slices.Clone(l.opts.Roots)
}

func (l *Learner) underRoots(name string) bool {
	if l.rootAll {
		return strings.HasPrefix(name, "/")
	}
	for _, r := range l.opts.Roots {
		if strings.HasPrefix(name, r) && (len(name) == len(r) || name[len(r)] == '/') {
			return true
		}
	}
	return false
}

// syscallName is the syscall of each event type ("" for types that are
// not a syscall: process exit, the audit source).
var syscallName = func() (t [event.NumTypes]string) {
	for i := event.Type(1); i < event.NumTypes; i++ {
		if i == event.TypeProcExit || i == event.TypeK8sAudit {
			continue
		}
		t[i] = event.Lookup(i).Name
	}
	return t
}()

// isRuntimeInit reports whether comm is one of runc's first init stages
// (runc:[0:PARENT], runc:[1:CHILD]), which make or join a container's
// namespaces before its program runs: what they do is not the workload's
// behaviour, nor its syscalls (the same rule as the sensor's syscall
// sets).
func isRuntimeInit(comm string) bool {
	return strings.HasPrefix(comm, "runc:[0:") || strings.HasPrefix(comm, "runc:[1:")
}

// isRuntime reports whether ev is the container runtime's, not the
// workload's behaviour: runc's last init stage (runc:[2:INIT], which
// reads the container's /etc/passwd and /etc/group for the user, opens
// /proc and /dev files, then loads the seccomp profile and execs the
// program: its syscalls count, since a seccomp profile must allow what it
// does after loading, its files and programs do not), runc's re-exec of
// itself as "runc init" (/proc/self/exe, then a sealed memfd) and a
// containerd shim.
func isRuntime(ev *event.Event) bool {
	if strings.HasPrefix(ev.Comm, "runc:[") || ev.Comm == "runc" || strings.HasPrefix(ev.Comm, "containerd-shim") {
		return true
	}
	if x := ev.Exec; x != nil && len(x.Argv) >= 2 && x.Argv[1] == "init" && path.Base(x.Argv[0]) == "runc" {
		return true
	}
	if p := ev.Proc; ev.Comm == "exe" && p != nil && p.Exe == "runc" && len(p.Args) > 0 && p.Args[0] == "init" {
		return true
	}
	return false
}

// isSandbox reports whether c is a pod's sandbox (the pause container):
// the runtime's, not a workload, though it carries the pod's labels.
func isSandbox(c *event.Container) bool {
	return c.Labels["io.cri-containerd.kind"] == "sandbox" || c.Labels["io.kubernetes.docker.type"] == "podsandbox" ||
		c.Labels["io.kubernetes.container.name"] == "POD"
}

// Observe records ev (enriched: process, fd and container context) into
// its workload's profile, or raises a deviation alert for it. It
// allocates nothing for behaviour the profile already holds.
//
// A container's events before its runtime describes it (its workload
// key is unknown: Docker describes a container once its start returns)
// are held, bounded (Options.PendingEvents, PendingContainers), and
// recorded in order once an event of the container comes with its
// metadata, or Tick finds it described (SetResolver); after
// Options.PendingTimeout they are dropped. Drops are counted.
func (l *Learner) Observe(ev *event.Event) {
	c := ev.Container
	if c == nil || c.ID == "host" || c.ID == "" || ev.Type >= event.NumTypes {
		return
	}
	if isRuntimeInit(ev.Comm) {
		l.runtimeEvs.Inc()
		return
	}
	if w := l.known[c]; w != nil && l.isQuiet(w, ev) && !(Types.Has(ev.Type) && isRuntime(ev)) {
		return // known behaviour of a monitoring profile: no lock
	}
	var alerts [2]*alert.Alert
	var replayed []*alert.Alert
	l.mu.Lock()
	w := l.byCont[c]
	if w == nil {
		if !c.MetadataKnown {
			l.hold(ev)
			l.mu.Unlock()
			return
		}
		if isSandbox(c) {
			if pc := l.pending[c.FullID]; pc != nil {
				l.runtimeEvs.Add(uint64(len(pc.events)))
				l.dropPending(c.FullID, nil)
			}
			l.mu.Unlock()
			l.runtimeEvs.Inc()
			return
		}
		pc := l.pending[c.FullID]
		start := ev.Time
		if pc != nil {
			start = pc.first
		}
		if w = l.attach(c, ev.CgroupID, start); w == nil {
			if pc != nil {
				l.unprofiled.Add(uint64(len(pc.events)))
				l.dropPending(c.FullID, nil)
			}
			l.mu.Unlock()
			l.unprofiled.Inc()
			return
		}
		if pc != nil {
			replayed = l.replay(w, c, pc)
		}
	}
	alerts[0], alerts[1] = l.observe(w, ev)
	l.mu.Unlock()
	if l.known[c] != w {
		if len(l.known) >= 4*l.opts.MaxProfiles {
			clear(l.known)
		}
		l.known[c] = w
	}
	l.deliver(replayed)
	l.deliver(alerts[:])
}

func (l *Learner) deliver(alerts []*alert.Alert) {
	if l.opts.OnDeviation == nil {
		return
	}
	for _, a := range alerts {
		if a != nil {
			l.opts.OnDeviation(a)
		}
	}
}

// observe records ev into w (l.mu held): its syscall, and its behaviour
// unless it is the runtime's. It returns the deviation alerts raised.
func (l *Learner) observe(w *workload, ev *event.Event) (sysOut, out *alert.Alert) {
	p := w.p
	if p.State == Learning && ev.Time >= p.LearnEnd.UnixNano() {
		l.finish(w)
	}
	if !p.seenTypes.Has(ev.Type) && syscallName[ev.Type] != "" {
		sysOut = l.record(w, ev, KindSyscall, syscallName[ev.Type], nil)
		if p.syscalls.has(syscallName[ev.Type]) {
			p.seenTypes.Add(ev.Type)
			if p.State == Monitoring {
				w.setQuiet()
			}
		}
	}
	if Types.Has(ev.Type) {
		if isRuntime(ev) {
			l.runtimeEvs.Inc()
		} else {
			out = l.observeBehaviour(w, ev)
		}
	}
	return sysOut, out
}

// maxHeldContainers bounds the events held in all: as many as this many
// containers' full buffers (a burst of new containers each gets some).
const maxHeldContainers = 8

// hold keeps a copy of ev, of a container not described yet (l.mu held).
func (l *Learner) hold(ev *event.Event) {
	id := ev.Container.FullID
	if id == "" {
		id = ev.Container.ID
	}
	pc := l.pending[id]
	if pc == nil {
		if len(l.pending) >= l.opts.PendingContainers {
			l.pendFull.Inc()
			return
		}
		pc = &pendingContainer{first: ev.Time, since: time.Now()}
		l.pending[id] = pc
	}
	pc.cg, pc.pid = ev.CgroupID, ev.PID
	if !Types.Has(ev.Type) {
		// Only its syscall matters: the first of its type is enough.
		if pc.types.Has(ev.Type) {
			return
		}
		pc.types.Add(ev.Type)
	}
	if len(pc.events) >= l.opts.PendingEvents || l.pendingCount >= maxHeldContainers*l.opts.PendingEvents {
		l.pendFull.Inc()
		return
	}
	pc.events = append(pc.events, holdCopy(ev))
	l.pendingCount++
	l.pendHeld.Inc()
}

// holdCopy copies what the Learner reads of ev (and a deviation alert
// shows): the sensor reuses the event, its exec record and buffers.
func holdCopy(ev *event.Event) event.Event {
	e := *ev
	e.Buffer, e.Audit = nil, nil
	if ev.Exec != nil {
		x := *ev.Exec
		x.Argv = slices.Clone(x.Argv)
		x.Env = nil
		e.Exec = &x
	}
	if ev.FDInfo != nil {
		fi := *ev.FDInfo
		e.FDInfo = &fi
	}
	return e
}

// replay records the held events of a container now described as c into
// w, in order (l.mu held), and returns the alerts they raised.
func (l *Learner) replay(w *workload, c *event.Container, pc *pendingContainer) []*alert.Alert {
	var alerts []*alert.Alert
	for i := range pc.events {
		e := &pc.events[i]
		e.Container = c
		a, b := l.observe(w, e)
		alerts = append(alerts, a, b)
	}
	l.dropPending(c.FullID, nil)
	return alerts
}

// dropPending forgets a container's held events; counted as dropped on
// counter (nil: they were recorded).
func (l *Learner) dropPending(id string, counter *metrics.Counter) {
	pc := l.pending[id]
	if pc == nil {
		return
	}
	if counter != nil {
		counter.Add(uint64(len(pc.events)))
	}
	l.pendingCount -= len(pc.events)
	delete(l.pending, id)
}

// SetResolver lets Tick find the containers whose events are held
// described by their runtime (the agent's container.Manager.Resolve):
// their events are then recorded without waiting for another event.
func (l *Learner) SetResolver(resolve func(cgroupID uint64, pid uint32) *event.Container) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resolve = resolve
}

// flushPending records the held events of the containers now described
// (by the resolver), and drops those held longer than the timeout.
func (l *Learner) flushPending(now time.Time) {
	type held struct {
		id      string
		cg      uint64
		pid     uint32
		expired bool
	}
	var todo []held
	l.mu.Lock()
	resolve := l.resolve
	for id, pc := range l.pending {
		todo = append(todo, held{id: id, cg: pc.cg, pid: pc.pid, expired: now.Sub(pc.since) >= l.opts.PendingTimeout})
	}
	l.mu.Unlock()
	var alerts []*alert.Alert
	for _, h := range todo {
		var c *event.Container
		if resolve != nil && (h.cg != 0 || h.pid != 0) {
			c = resolve(h.cg, h.pid) // outside the lock: it may ask the runtime
		}
		l.mu.Lock()
		pc := l.pending[h.id]
		switch {
		case pc == nil:
		case c != nil && c.MetadataKnown && c.FullID == h.id:
			if isSandbox(c) {
				l.runtimeEvs.Add(uint64(len(pc.events)))
				l.dropPending(h.id, nil)
				break
			}
			w := l.byCont[c]
			if w == nil {
				w = l.attach(c, pc.cg, pc.first)
			}
			if w == nil {
				l.dropPending(h.id, nil)
				l.unprofiled.Add(uint64(len(pc.events)))
				break
			}
			alerts = append(alerts, l.replay(w, c, pc)...)
		case h.expired:
			l.dropPending(h.id, l.pendTimeout)
		}
		l.mu.Unlock()
	}
	l.deliver(alerts)
}

func (l *Learner) observeBehaviour(w *workload, ev *event.Event) *alert.Alert {
	switch ev.Type {
	case event.TypeExecve, event.TypeExecveat:
		if ev.Ret != 0 || ev.Exec == nil {
			return nil
		}
		exe := ev.Exec.ExePath
		if exe == "" && ev.Proc != nil {
			exe = ev.Proc.ExePath
		}
		if exe == "" {
			return nil
		}
		p := w.p
		if p.State == Learning {
			if !p.uids.has(ev.UID) {
				added := p.uids.add(ev.UID, p.limits.UIDs)
				l.countOver(p, KindUID, added)
				l.touch(p)
			}
			if p.caps|ev.Exec.CapEff != p.caps {
				p.caps |= ev.Exec.CapEff
				l.touch(p)
			}
		}
		pr := NewProgram(exe, ev.Exec.Filename)
		return l.record(w, ev, KindProgram, "", &pr)
	case event.TypeOpen, event.TypeOpenat, event.TypeOpenat2, event.TypeCreat:
		name := openName(ev)
		if !l.underRoots(name) {
			return nil
		}
		kind := KindRead
		if isWrite(ev) {
			kind = KindWrite
		}
		return l.record(w, ev, kind, name, nil)
	case event.TypeConnect, event.TypeSendto, event.TypeSendmsg:
		// A connect is recorded whatever its result: an attempt to a new
		// peer is new behaviour even when refused.
		if !ev.Addr.IP.IsValid() || ev.Addr.Port == 0 {
			return nil
		}
		pe := Peer{Addr: ev.Addr.IP.Unmap(), Port: ev.Addr.Port, Proto: protoOf(ev, "tcp")}
		if ev.Type != event.TypeConnect {
			pe.Proto = "udp"
		}
		return l.record(w, ev, KindEgress, "", &pe)
	case event.TypeAccept, event.TypeAccept4:
		if ev.Ret < 0 || ev.FDInfo == nil || !ev.Addr.IP.IsValid() {
			return nil
		}
		pe := Peer{Addr: ev.Addr.IP.Unmap(), Port: ev.FDInfo.Server.Port, Proto: "tcp"}
		return l.record(w, ev, KindIngress, "", &pe)
	case event.TypeSocket, event.TypeMount, event.TypeUmount2, event.TypeSetns, event.TypeUnshare,
		event.TypeInitModule, event.TypeFinitModule:
		if c := CapabilityUsed(ev, nil); c != "" {
			return l.record(w, ev, KindCapUsed, c, nil)
		}
		return nil
	case event.TypeListen, event.TypeBind:
		if ev.Ret != 0 {
			return nil
		}
		if ev.Type == event.TypeBind && l.opts.PortStart != nil {
			if c := CapabilityUsed(ev, l.opts.PortStart); c != "" {
				if a := l.record(w, ev, KindCapUsed, c, nil); a != nil {
					return a // a new port of the same bind alerts at its next bind or listen
				}
			}
		}
		var po Port
		switch {
		case ev.Type == event.TypeListen && ev.FDInfo != nil && ev.FDInfo.Server.Port != 0:
			po = Port{Port: ev.FDInfo.Server.Port, Proto: "tcp"}
		case ev.Type == event.TypeBind && ev.Addr.Port != 0 && protoOf(ev, "") == "udp":
			po = Port{Port: ev.Addr.Port, Proto: "udp"}
		default:
			return nil
		}
		return l.record(w, ev, KindListen, "", &po)
	}
	return nil
}

func protoOf(ev *event.Event, def string) string {
	if ev.FDInfo != nil && (ev.FDInfo.L4Proto == "tcp" || ev.FDInfo.L4Proto == "udp") {
		return ev.FDInfo.L4Proto
	}
	return def
}

// record adds one behaviour (s for string kinds, key for the others) while
// learning; once monitoring, new behaviour of a DeviationKind becomes an
// alert (returned).
func (l *Learner) record(w *workload, ev *event.Event, k Kind, s string, key any) *alert.Alert {
	p := w.p
	if p.State == Learning {
		added := false
		switch k {
		case KindProgram:
			pr := key.(*Program)
			if !p.programs.has(*pr) {
				added = p.addProgram(*pr)
				l.countOver(p, k, added)
			}
		case KindRead, KindWrite:
			set := &p.reads
			if k == KindWrite {
				set = &p.writes
			}
			if !set.has(s) {
				added = p.addFile(k == KindWrite, s)
				l.countOver(p, k, added)
			}
		case KindEgress, KindIngress:
			set := &p.egress
			if k == KindIngress {
				set = &p.ingres
			}
			if pe := *key.(*Peer); !set.has(pe) {
				added = set.add(pe, p.limits.Peers)
				l.countOver(p, k, added)
			}
		case KindListen:
			if po := *key.(*Port); !p.listen.has(po) {
				added = p.listen.add(po, p.limits.Listen)
				l.countOver(p, k, added)
			}
		case KindSyscall:
			if !p.syscalls.has(s) {
				added = p.syscalls.add(s, p.limits.Syscalls)
				l.countOver(p, k, added)
			}
		case KindCapUsed:
			if bit, _ := capBit(s); p.capsUsed&(1<<bit) == 0 {
				p.capsUsed |= 1 << bit
				added = true
			}
		}
		if added {
			l.touch(p)
		}
		return nil
	}
	var have bool
	switch k {
	case KindProgram:
		pr := key.(*Program)
		have = p.programs.has(*pr)
		if !have {
			s = pr.String()
		}
	case KindWrite:
		have = p.writes.has(s)
	case KindEgress:
		pe := key.(*Peer)
		have = p.egress.has(*pe)
		if !have {
			s = pe.String()
		}
	case KindListen:
		po := key.(*Port)
		have = p.listen.has(*po)
		if !have {
			s = po.String()
		}
	case KindSyscall:
		have = p.syscalls.has(s)
	case KindCapUsed:
		bit, _ := capBit(s)
		have = p.capsUsed&(1<<bit) != 0
	default:
		return nil // recorded while learning only
	}
	if have {
		return nil
	}
	return l.deviate(w, ev, Item{Kind: k, Value: s})
}

func (l *Learner) countOver(p *Profile, k Kind, added bool) {
	if !added {
		l.overflowCnt.With(string(k)).Inc()
	}
}

func (l *Learner) touch(p *Profile) {
	l.dirty[p.Name] = struct{}{}
}

// deviate raises the alert of a new behaviour, once per behaviour and
// within the profile's rate.
func (l *Learner) deviate(w *workload, ev *event.Event, it Item) *alert.Alert {
	if _, ok := w.alerted[it]; ok {
		return nil
	}
	if len(w.alerted) >= maxAlerted {
		l.suppressed.Inc()
		return nil
	}
	l.devByKind[it.Kind].Inc()
	per := float64(l.opts.AlertsPerMinute)
	if w.refill == 0 {
		w.tokens, w.refill = per, ev.Time
	} else if dt := ev.Time - w.refill; dt > 0 {
		w.tokens = min(per, w.tokens+per*float64(dt)/float64(time.Minute))
		w.refill = ev.Time
	}
	if w.alerted == nil {
		w.alerted = map[Item]struct{}{}
	}
	w.alerted[it] = struct{}{}
	if w.tokens < 1 {
		l.suppressed.Inc()
		return nil
	}
	w.tokens--
	return l.deviationAlert(w.p, ev, it)
}

func (l *Learner) deviationAlert(p *Profile, ev *event.Event, it Item) *alert.Alert {
	out := fmt.Sprintf("Workload deviates from its learned profile: new %s %s (profile=%s version=%d container=%s image=%s proc=%s)",
		it.Kind, it.Value, p.Name, p.Version, containerID(ev), containerImage(ev), procName(ev))
	return engine.EventAlert(ev, engine.EventAlertSpec{Rule: RuleDeviation, Priority: l.pri, Hostname: l.opts.Hostname,
		Time: ev.Time, Output: out, Tags: []string{TagProfile},
		Fields: []alert.Field{{Name: FieldProfile, Value: p.Name}, {Name: FieldVersion, Value: p.Version},
			{Name: FieldKind, Value: string(it.Kind)}, {Name: FieldValue, Value: it.Value}}})
}

func containerID(ev *event.Event) string {
	if ev.Container == nil {
		return "<NA>"
	}
	return ev.Container.ID
}

func containerImage(ev *event.Event) string {
	if ev.Container == nil || ev.Container.Image == "" {
		return "<NA>"
	}
	return ev.Container.Image
}

func procName(ev *event.Event) string {
	if ev.Proc != nil && ev.Proc.Comm != "" {
		return ev.Proc.Comm
	}
	if ev.Comm != "" {
		return ev.Comm
	}
	return "<NA>"
}

// attach finds (or starts) the profile of c's workload; nil when c has no
// key yet or the profile cap is reached.
func (l *Learner) attach(c *event.Container, cgroupID uint64, now int64) *workload {
	key, ok := l.opts.KeyBy.Of(c)
	if !ok {
		return nil
	}
	w := l.byName[key]
	if w == nil {
		if len(l.byName) >= l.opts.MaxProfiles {
			return nil
		}
		p := New(key, l.opts.Limits, time.Unix(0, now), l.opts.Window)
		p.addHost(l.opts.Hostname)
		w = newWorkload(p)
		l.byName[key] = w
		l.touch(w.p)
	}
	if len(l.byCont) >= 4*l.opts.MaxProfiles {
		clear(l.byCont) // containers come and go; the map is a cache
	}
	l.byCont[c] = w
	if cgroupID != 0 && l.cgroups[cgroupID] == nil && (l.ownCg == nil || l.ownCg(cgroupID)) {
		if len(l.cgroups) >= sensor.MaxSyscallCgroups {
			clear(l.cgroups) // the sensor forgets the least recently used too
		}
		l.cgroups[cgroupID] = &cgroupSet{w: w, c: c}
	}
	return w
}

// finish ends a profile's learning window: it becomes version 1 (or the
// next), monitoring.
func (l *Learner) finish(w *workload) {
	p := w.p
	p.State = Monitoring
	p.Version++
	p.Updated = time.Now()
	l.touch(p)
	w.setQuiet()
}

// Tick records the held events of containers now described and drops
// those held too long, and ends the learning windows that closed by now
// (for workloads with no event since).
func (l *Learner) Tick(now time.Time) {
	l.flushPending(now)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.byName {
		if w.p.State == Learning && !now.Before(w.p.LearnEnd) {
			l.finish(w)
		}
	}
}

// Snapshot returns copies of the profiles changed since the last
// Snapshot (to be stored), and forgets the changes.
func (l *Learner) Snapshot() []*Profile {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Profile
	for name := range l.dirty {
		if w := l.byName[name]; w != nil {
			w.p.Updated = time.Now()
			out = append(out, w.p.Clone())
		}
	}
	clear(l.dirty)
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Profiles returns copies of every profile, by name.
func (l *Learner) Profiles() []*Profile {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Profile, 0, len(l.byName))
	for _, w := range l.byName {
		out = append(out, w.p.Clone())
	}
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Load puts a stored or edited profile in force when it is newer than the
// one kept (a higher version, or none kept): an accepted deviation stops
// alerting, an imported or merged profile replaces the learned one. It
// reports whether p was taken.
func (l *Learner) Load(p *Profile) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.byName[p.Name]
	if w != nil && p.Version <= w.p.Version {
		return false
	}
	if w == nil {
		if len(l.byName) >= l.opts.MaxProfiles {
			return false
		}
		w = newWorkload(nil)
		l.byName[p.Name] = w
	}
	p = p.Clone()
	p.SetLimits(l.opts.Limits)
	w.prof = *p
	clear(w.alerted)
	w.setQuiet()
	return true
}

// Adopt folds the fleet's profile of a workload (the hub's merge of every
// node's) into the one kept, so that behaviour learned on another node
// is not a deviation here. Nothing changes when the profile kept holds
// every behaviour of p already. A workload not kept yet takes p as it is
// (monitoring at once if p does). A learning profile stays learning in
// its own window; a monitoring one becomes the merge's next version
// (Profile.Merge). The changed profile is stored and sent at the next
// sync like a learned change. It reports whether the profile changed.
func (l *Learner) Adopt(p *Profile) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.byName[p.Name]
	if w == nil {
		if len(l.byName) >= l.opts.MaxProfiles {
			return false
		}
		w = newWorkload(nil)
		l.byName[p.Name] = w
		np := p.Clone()
		np.SetLimits(l.opts.Limits)
		w.prof = *np
	} else {
		if w.p.Contains(p) {
			return false
		}
		// A new Profile, not w.p changed in place: Observe reads a
		// monitoring profile's sets without the lock (setQuiet).
		np := w.p.Clone()
		learning, start, end := np.State == Learning, np.LearnStart, np.LearnEnd
		np.Merge(p)
		if learning {
			np.State, np.Version, np.LearnStart, np.LearnEnd = Learning, 0, start, end
		}
		np.seenTypes = event.TypeSet{}
		w.prof = *np
	}
	clear(w.alerted)
	w.setQuiet()
	l.touch(w.p)
	return true
}

// Stats are the Learner's figures.
type Stats struct {
	Profiles int
	Bytes    int // estimated memory of the profiles (Profile.Size)
}

// Stats returns the Learner's figures.
func (l *Learner) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Profiles: len(l.byName)}
	for _, w := range l.byName {
		st.Bytes += w.p.Size()
	}
	return st
}
