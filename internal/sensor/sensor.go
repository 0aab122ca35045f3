package sensor

import (
	"context"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
)

// Sentinel errors.
var (
	// ErrNotRoot is returned by New when the process cannot load BPF.
	ErrNotRoot = errors.New("sensor: needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN to attach tracepoints)")
	// ErrClosed is returned by Read after Close.
	ErrClosed = errors.New("sensor: closed")
	// ErrNothingAttached is returned by New when no hook could be attached.
	ErrNothingAttached = errors.New("sensor: no tracepoint could be attached")
)

// The ring buffer sizes when Options.RingBytes and CriticalRingBytes are 0.
const (
	DefaultRingBytes         = 8 << 20
	DefaultCriticalRingBytes = 2 << 20
)

// Options configure a Sensor. The zero value (or nil) traces every event
// type of every process except the caller.
type Options struct {
	// Types to report; nil or empty means all of event.Defs.
	Types []event.Type
	// Interest, when not nil, replaces Types: the sensor attaches the
	// hooks of every type, reports Interest.Types with Interest.Open
	// filtering the opens and Interest.Connects the connects, and
	// SetInterest changes them while it runs (after a rules reload). If
	// the kernel refuses the in-kernel filters, the sensor starts without
	// them, reports every open and connect and says why in FilterError.
	Interest *Interest
	// Snap lists the I/O types (sendto, sendmsg, recvfrom, recvmsg) whose
	// first bytes moved are captured into Event.Buffer (evt.buffer), with
	// Types; Interest.Snap does the same with an Interest.
	Snap event.TypeSet
	// RingBytes is the size of the main ring buffer (the normal and low
	// tiers), rounded up to a power of two of at least one page; 0 means
	// DefaultRingBytes.
	RingBytes int
	// CriticalRingBytes is the size of the critical tier's own ring
	// (process lifecycle and security types, see Tier), rounded likewise;
	// 0 means DefaultCriticalRingBytes.
	CriticalRingBytes int
	// FilterPIDTree, when not 0, reports only this process and its
	// descendants (followed through fork in the kernel).
	FilterPIDTree uint32
	// FilterCgroup, when not 0, reports only tasks in this cgroup v2 id.
	FilterCgroup uint64
	// ExcludeSelf drops the calling process's own events in the kernel.
	ExcludeSelf bool
	// WakeupBytes: the reader is woken when this much data is pending in
	// the main ring (an eighth of the critical ring in that one); below
	// that it polls every PollInterval. 0 means RingBytes/8.
	WakeupBytes int
	// PollInterval bounds the latency of a quiet stream; 0 means 20ms.
	PollInterval time.Duration
	// RawFallback takes syscalls whose own sys_exit tracepoint is missing
	// (e.g. init_module on a kernel without modules) from
	// raw_syscalls:sys_exit. That tracepoint runs for every syscall of the
	// host, so it is off by default; without it such syscalls are only
	// listed by Missing.
	RawFallback bool
	// SyscallSets records, per cgroup, the set of system calls its tasks
	// make (Syscalls), for workload profiles. It attaches
	// raw_syscalls:sys_enter, which runs for every syscall of the host (a
	// map lookup and, the first time, a bit set), so it is off by default.
	SyscallSets bool
}

// Sensor is a loaded and attached set of BPF programs and the reader of
// their ring buffer. It owns every kernel object it creates; Close releases
// them all (nothing is pinned, so a killed process leaves nothing behind).
type Sensor struct {
	objs  vigilObjects
	links []link.Link
	// ioLinks are the hooks of the onDemand types attached now: they
	// are attached only while asked for (New, SetInterest), since they
	// run on every read, write, send and receive of the machine.
	ioLinks map[event.Type]link.Link
	// The rings (main: normal and low tiers; crit: the critical tier) and
	// the wait on both. readMu is held by the reading goroutine while it
	// reads them and by Close while it unmaps them; closing tells the
	// reader to stop.
	main, crit *ring
	wait       *waiter
	readMu     sync.Mutex
	closing    atomic.Bool
	poll       time.Duration
	bootOff    int64 // wall ns minus boot ns
	missing    []string
	hooks      []string
	// filterOK: the kernel accepted the open filter (SetInterest may use
	// it); filterErr says why it refused it.
	filterOK  bool
	filterErr error
	interest  Interest // in force, when Options.Interest was set

	mu     sync.Mutex // guards closed and interest
	closed bool
	// Counters of the reading goroutine, atomic so that Stats may run
	// on any goroutine.
	received [event.NumTypes]atomic.Uint64
	decodeKO [event.NumTypes]atomic.Uint64
	final    [numBPFReasons][event.NumTypes]uint64 // kernel counters at Close
	comms    map[[16]byte]string
	lists    lists // exec argv and environment, interned
	exec     event.Exec
	snap     []byte // the I/O buffer of the last decoded event (Event.Buffer)
}

// Hooks returns the tracepoints the sensor attached.
func (s *Sensor) Hooks() []string { return s.hooks }

// Missing returns the tracepoints that could not be attached, with why.
func (s *Sensor) Missing() []string { return s.missing }

// Interest returns what the sensor reports when it was started with
// Options.Interest: the types and the open filter in force (nil when the
// kernel refused it).
func (s *Sensor) Interest() Interest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interest
}

// FilterError returns why the kernel refused the requested in-kernel
// filters (the sensor then reports every open and connect), or nil.
func (s *Sensor) FilterError() error { return s.filterErr }

// refuseFilter, set by tests, makes the kernel refuse the open filter's
// map (an LPM trie of no entries), as an old kernel without LPM tries
// would.
var refuseFilter bool

// New loads the sensor's BPF programs, configures their filters and
// attaches the tracepoints the requested types need. A tracepoint that is
// missing does not stop the others (see Missing); New fails only when none
// can be attached.
func New(opts *Options) (*Sensor, error) {
	if opts == nil {
		opts = &Options{}
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if err := EnsureTracefs(); err != nil {
		return nil, fmt.Errorf("sensor: %w", err)
	}
	types := opts.Types
	if opts.Interest != nil {
		types = nil
	}
	if len(types) == 0 {
		// Every type, but the I/O calls only when asked for: with an
		// Interest SetInterest attaches them and the send/recv family
		// (the onDemand types) while it names them, and switches the
		// others.
		skip := event.IOTypes
		if opts.Interest != nil {
			skip = onDemand
		}
		for t := event.Type(1); t < event.NumTypes; t++ {
			if !skip.Has(t) {
				types = append(types, t)
			}
		}
	}
	ring := roundRing(opts.RingBytes, DefaultRingBytes)
	critRing := roundRing(opts.CriticalRingBytes, DefaultCriticalRingBytes)
	wake := opts.WakeupBytes
	if wake <= 0 {
		wake = ring / 8
	}
	s := &Sensor{poll: opts.PollInterval, comms: make(map[[16]byte]string), ioLinks: map[event.Type]link.Link{}}
	if s.poll <= 0 {
		s.poll = 20 * time.Millisecond
	}
	wantFilter := opts.Interest != nil && (opts.Interest.Open != nil || opts.Interest.Connects.kernel() != 0)
	err := s.load(opts, ring, critRing, wake, wantFilter)
	if err != nil && wantFilter && !errors.Is(err, ErrNotRoot) {
		// The kernel refused the filter: start without it, every open
		// reported.
		s.filterErr = err
		err = s.load(opts, ring, critRing, wake, false)
	}
	if err != nil {
		return nil, err
	}
	s.filterOK = wantFilter && s.filterErr == nil
	if err := s.configure(types, opts.Snap, opts.FilterPIDTree); err != nil {
		s.Close()
		return nil, err
	}
	if opts.Interest != nil {
		if err := s.SetInterest(*opts.Interest); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.bootOff = host.BootTime()
	if err := s.attach(types, opts.FilterPIDTree != 0, opts.RawFallback); err != nil {
		s.Close()
		return nil, err
	}
	if opts.SyscallSets {
		if err := s.attachSyscallSets(); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.openRings(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Sensor) openRings() error {
	var err error
	if s.main, err = newRing(s.objs.Events); err != nil {
		return err
	}
	if s.crit, err = newRing(s.objs.Crit); err != nil {
		return err
	}
	s.wait, err = newWaiter(s.objs.Events.FD(), s.objs.Crit.FD())
	return err
}

// load loads the programs and maps into s.objs, with the in-kernel filters
// (the open filter's trie, the connect filter's code) when filter is set.
func (s *Sensor) load(opts *Options, ring, critRing, wake int, filter bool) error {
	spec, err := loadVigil()
	if err != nil {
		return fmt.Errorf("sensor: load spec: %w", err)
	}
	spec.Maps[vigilMapEvents].MaxEntries = uint32(ring)
	spec.Maps[vigilMapCrit].MaxEntries = uint32(critRing)
	if !filter {
		// Never consulted: a hash map, which every kernel with BPF has.
		m := spec.Maps[vigilMapOpenPrefix]
		m.Type, m.Flags, m.MaxEntries = ebpf.Hash, 0, 1
	} else if refuseFilter {
		spec.Maps[vigilMapOpenPrefix].MaxEntries = 0
	}
	set := func(name string, v any) error {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("sensor: set %s: %w", name, err)
		}
		return nil
	}
	var self uint32
	if opts.ExcludeSelf {
		self = uint32(os.Getpid())
	}
	var pidtree uint8
	if opts.FilterPIDTree != 0 {
		pidtree = 1
	}
	var families uint8
	if filter {
		families = 1
	}
	for _, err := range []error{
		set(vigilVarSelfTgid, self), set(vigilVarFilterPidtree, pidtree),
		set(vigilVarFilterCgroup, opts.FilterCgroup), set(vigilVarWakeupBytes, uint64(wake)),
		set(vigilVarCritWakeupBytes, uint64(critRing/8)),
		set(vigilVarShedNormal, uint64(ring)/4*3), set(vigilVarShedLow, uint64(ring)/2),
		set(vigilVarFilterFamilies, families),
	} {
		if err != nil {
			return err
		}
	}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("sensor: load programs: %+v", ve)
		}
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("%w: %v", ErrNotRoot, err)
		}
		return fmt.Errorf("sensor: load programs: %w", err)
	}
	return nil
}

func roundRing(n, def int) int {
	if n <= 0 {
		return def
	}
	r := os.Getpagesize()
	for r < n {
		r <<= 1
	}
	return r
}

func (s *Sensor) configure(types []event.Type, snap event.TypeSet, root uint32) error {
	for t := event.Type(1); t < event.NumTypes; t++ {
		l := &layouts[t]
		if l.nr < 0 {
			continue
		}
		if err := s.objs.SysDesc.Put(uint32(l.nr), l.desc); err != nil {
			return fmt.Errorf("sensor: descriptor of %v: %w", t, err)
		}
	}
	for _, t := range types {
		if t == 0 || t >= event.NumTypes {
			return fmt.Errorf("sensor: unknown event type %d", t)
		}
		c := vigilVigilTypeConf{Tier: uint8(TierOf(t))}
		if snap.Has(t) {
			c.Snap = 1
		}
		if err := s.objs.TypeConf.Put(uint32(t), c); err != nil {
			return fmt.Errorf("sensor: enable %v: %w", t, err)
		}
	}
	if root != 0 {
		if err := s.TracePID(root); err != nil {
			return err
		}
	}
	return nil
}

// SetInterest changes what a sensor started with Options.Interest reports:
// the types (their hooks are all attached) and the open filter (ignored
// when the kernel refused it: every open is then reported). Safe to call
// while events are read. Prefixes go in before types are switched on and
// come out after they are switched off, so no wanted open is filtered
// during the change.
func (s *Sensor) SetInterest(in Interest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.filterOK {
		in.Open = nil
		in.Connects = 0
	}
	var old map[string]Access
	if s.interest.Open != nil {
		old = s.interest.Open.prefixEntries()
	}
	var cur map[string]Access
	if in.Open != nil {
		cur = in.Open.prefixEntries()
		for p, a := range cur {
			if err := s.objs.OpenPrefix.Put(prefixKey(p), uint8(a)); err != nil {
				return fmt.Errorf("sensor: open filter prefix %q: %w", p, err)
			}
		}
	}
	for t := event.Type(1); t < event.NumTypes; t++ {
		var c vigilVigilTypeConf
		if in.Types.Has(t) {
			c.Tier = uint8(TierOf(t))
			if in.Open != nil && isOpen(t) {
				c.OpenFilter, c.AnyAccess = 1, uint8(in.Open.AnyPath|accessInvalid)
				c.FlagsArg = uint8(layouts[t].flags)
				if t == event.TypeCreat {
					c.FlagsArg = vigilOpenCreat
				}
			}
			c.FdTrack = in.Open.fdTrack(t)
			if t == event.TypeConnect {
				c.Families = in.Connects.kernel()
			}
			if in.Snap.Has(t) {
				c.Snap = 1
			}
		}
		if err := s.objs.TypeConf.Put(uint32(t), c); err != nil {
			return fmt.Errorf("sensor: configure %v: %w", t, err)
		}
	}
	for p := range old {
		if _, ok := cur[p]; !ok {
			if err := s.objs.OpenPrefix.Delete(prefixKey(p)); err != nil {
				return fmt.Errorf("sensor: open filter prefix %q: %w", p, err)
			}
		}
	}
	if err := s.attachIO(in.Types); err != nil {
		return err
	}
	s.interest = in
	return nil
}

func prefixKey(p string) vigilVigilPrefixKey {
	k := vigilVigilPrefixKey{Prefixlen: uint32(len(p) * 8)}
	for i := 0; i < len(p); i++ {
		k.Path[i] = int8(p[i])
	}
	return k
}

// TracePID adds a tgid to the traced process tree (FilterPIDTree).
func (s *Sensor) TracePID(pid uint32) error {
	if err := s.objs.Traced.Put(pid, uint8(1)); err != nil {
		return fmt.Errorf("sensor: trace pid %d: %w", pid, err)
	}
	return nil
}

// hook is one attach point.
type hook struct {
	raw   bool   // raw tracepoint
	group string // tracepoint group
	name  string
	prog  *ebpf.Program
	types []event.Type // syscall event types fed by a sys_exit tracepoint
}

func (h hook) String() string {
	if h.raw {
		return "raw_tracepoint/" + h.name
	}
	return h.group + ":" + h.name
}

// hooksFor returns the attach points that types need.
func hooksFor(types []event.Type, follow bool, p *vigilPrograms) []hook {
	var hs []hook
	seen := map[string]int{}
	add := func(h hook) {
		if i, ok := seen[h.String()]; ok {
			hs[i].types = append(hs[i].types, h.types...)
			return
		}
		seen[h.String()] = len(hs)
		hs = append(hs, h)
	}
	for _, t := range types {
		d := event.Lookup(t)
		switch t {
		case event.TypeClone, event.TypeFork, event.TypeVfork, event.TypeClone3:
			add(hook{raw: true, name: "sched_process_fork", prog: p.OnFork})
			continue
		case event.TypeProcExit:
			add(hook{raw: true, name: "sched_process_exit", prog: p.OnExit})
			continue
		case event.TypeExecve:
			add(hook{group: "sched", name: "sched_process_exec", prog: p.OnExec})
		}
		if d.Syscall != "" {
			add(hook{group: "syscalls", name: "sys_exit_" + tracepointName(d.Syscall), prog: p.OnSysExit, types: []event.Type{t}})
		}
	}
	if follow {
		add(hook{raw: true, name: "sched_process_fork", prog: p.OnFork})
		add(hook{raw: true, name: "sched_process_exit", prog: p.OnExit})
	}
	return hs
}

// tracepointName maps a syscall name to its tracepoint's (the kernel
// defines umount2 as SYSCALL_DEFINE2(umount, ...)).
func tracepointName(syscall string) string {
	if syscall == "umount2" {
		return "umount"
	}
	return syscall
}

func (s *Sensor) attach(types []event.Type, follow, rawFallback bool) error {
	var fallback []event.Type
	for _, h := range hooksFor(types, follow, &s.objs.vigilPrograms) {
		var l link.Link
		var err error
		if h.raw {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.name, Program: h.prog})
		} else {
			l, err = link.Tracepoint(h.group, h.name, h.prog, nil)
		}
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = errors.New("no such tracepoint")
			}
			s.missing = append(s.missing, fmt.Sprintf("%s: %v", h, err))
			fallback = append(fallback, h.types...)
			continue
		}
		if len(h.types) == 1 && onDemand.Has(h.types[0]) {
			s.ioLinks[h.types[0]] = l
		} else {
			s.links = append(s.links, l)
		}
		s.hooks = append(s.hooks, h.String())
	}
	if len(fallback) > 0 && rawFallback {
		// Syscalls without their own tracepoint are taken from
		// raw_syscalls:sys_exit, which runs for every syscall: costlier,
		// but such syscalls (e.g. init_module on a kernel without
		// modules) are still seen failing.
		for _, t := range fallback {
			l := layouts[t]
			l.desc.Flags |= vigilDescRaw
			if err := s.objs.SysDesc.Put(uint32(l.nr), l.desc); err != nil {
				return fmt.Errorf("sensor: descriptor of %v: %w", t, err)
			}
		}
		l, err := link.Tracepoint("raw_syscalls", "sys_exit", s.objs.OnRawSysExit, nil)
		if err != nil {
			s.missing = append(s.missing, fmt.Sprintf("raw_syscalls:sys_exit: %v", err))
		} else {
			s.links = append(s.links, l)
			s.hooks = append(s.hooks, "raw_syscalls:sys_exit")
			s.missing = append(s.missing, fmt.Sprintf("%v: taken from raw_syscalls:sys_exit instead", fallback))
		}
	}
	if len(s.links) == 0 && len(s.ioLinks) == 0 {
		return fmt.Errorf("%w: %s", ErrNothingAttached, strings.Join(s.missing, "; "))
	}
	return nil
}

// onDemand are the types whose hooks a sensor started with an Interest
// attaches only while the interest names them: the read/write family and
// the send/recv family (sendto, recvfrom, sendmsg, recvmsg), the calls a
// network server or client makes per request (redis-benchmark's client
// sends and receives each request with send and recv). Attached and unwanted,
// their program ran for each of those calls only to find its type off:
// about 170 ns per call.
var onDemand = event.IOTypes.Union(event.TypeSetOf(event.TypeSendto, event.TypeRecvfrom, event.TypeSendmsg, event.TypeRecvmsg))

// attachIO attaches the hooks of the onDemand types in want that are not
// attached and detaches those of the others (a no-op before New attached
// anything).
func (s *Sensor) attachIO(want event.TypeSet) error {
	if s.ioLinks == nil || s.objs.OnSysExit == nil {
		return nil
	}
	for _, t := range onDemand.Types() {
		l, on := s.ioLinks[t]
		name := "sys_exit_" + tracepointName(event.Lookup(t).Syscall)
		switch {
		case want.Has(t) && !on:
			l, err := link.Tracepoint("syscalls", name, s.objs.OnSysExit, nil)
			if err != nil {
				return fmt.Errorf("sensor: attach syscalls:%s: %w", name, err)
			}
			s.ioLinks[t] = l
			s.hooks = append(s.hooks, "syscalls:"+name)
		case !want.Has(t) && on:
			if err := l.Close(); err != nil {
				return fmt.Errorf("sensor: detach syscalls:%s: %w", name, err)
			}
			delete(s.ioLinks, t)
			s.hooks = slices.DeleteFunc(s.hooks, func(h string) bool { return h == "syscalls:"+name })
		}
	}
	return nil
}

// Close detaches every link, then closes the reader, programs and maps.
// It is idempotent.
func (s *Sensor) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.objs.Stats != nil {
		s.final = s.kernelDrops()
	}
	var errs []error
	for _, l := range s.links {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.links = nil
	for t, l := range s.ioLinks {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(s.ioLinks, t)
	}
	// The reader stops (a wait in progress returns), then the rings are
	// unmapped.
	s.closing.Store(true)
	if s.wait != nil {
		s.wait.wake()
	}
	s.readMu.Lock()
	for _, r := range []*ring{s.main, s.crit} {
		if r != nil {
			if err := r.close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.wait != nil {
		if err := s.wait.close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.readMu.Unlock()
	if err := s.objs.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sensor: close: %w", err)
	}
	return nil
}

// Read decodes the next event into ev, blocking until one arrives. The
// Event is overwritten (strings are newly allocated; ev.Exec points to a
// buffer the sensor reuses). It returns ErrClosed after Close.
func (s *Sensor) Read(ev *event.Event) error {
	for {
		ok, err := s.read(ev, true)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
}

// read reads one record. It returns false, nil after a wait (the rings
// were empty) or on a record that failed to decode. With wait false it
// returns errEmpty instead of waiting.
func (s *Sensor) read(ev *event.Event, wait bool) (bool, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.closing.Load() {
		return false, ErrClosed
	}
	rec, r := s.next()
	if rec == nil {
		if !wait {
			return false, errEmpty
		}
		return false, s.wait.wait(s.poll)
	}
	t, derr := s.decode(rec, ev)
	r.next()
	if derr != nil {
		if t < event.NumTypes {
			s.decodeKO[t].Add(1)
		}
		return false, nil
	}
	s.received[t].Add(1)
	return true, nil
}

// Run calls fn for each event until ctx is done, then drains what the ring
// holds and returns nil (or the read error that stopped it). fn must not
// keep ev.
func (s *Sensor) Run(ctx context.Context, fn func(*event.Event)) error {
	var ev event.Event
	for {
		if ctx.Err() != nil {
			return s.Drain(fn)
		}
		ok, err := s.read(&ev, true)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		if ok {
			fn(&ev)
		}
	}
}

// next returns the oldest record of the two rings and its ring (nil when
// both are empty): the one with the earlier timestamp when both have one.
// The critical ring is looked at after the main ring's record is read, so
// a lifecycle record committed before that record was written (an exec
// before the opens of the new program) is seen and goes first.
func (s *Sensor) next() ([]byte, *ring) {
	m := s.main.peek()
	c := s.crit.peek()
	switch {
	case c == nil && m == nil:
		return nil, nil
	case c == nil:
		return m, s.main
	case m == nil || recordTime(c) <= recordTime(m):
		return c, s.crit
	}
	return m, s.main
}

// recordTime returns a record's boot-time stamp (vigil_hdr.ts, first), 0
// for a record too short to hold one (decode then rejects it).
func recordTime(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return *(*uint64)(unsafe.Pointer(&b[0]))
}

// Drain calls fn for every event already in the rings and returns when
// they are empty.
func (s *Sensor) Drain(fn func(*event.Event)) error {
	var ev event.Event
	for {
		ok, err := s.read(&ev, false)
		if err != nil {
			if errors.Is(err, ErrClosed) || err == errEmpty {
				return nil
			}
			return err
		}
		if ok {
			fn(&ev)
		}
	}
}

// kernelDrops sums the per-CPU drop counters (s.mu held, maps open).
func (s *Sensor) kernelDrops() (d [numBPFReasons][event.NumTypes]uint64) {
	ncpu, _ := ebpf.PossibleCPU()
	vals := make([]uint64, max(ncpu, 1))
	for r := Reason(0); r < numBPFReasons; r++ {
		for t := event.Type(0); t < event.NumTypes; t++ {
			key := uint32(r)*vigilMaxTypes + uint32(t)
			if err := s.objs.Stats.Lookup(key, &vals); err != nil {
				continue
			}
			for _, v := range vals {
				d[r][t] += v
			}
		}
	}
	return d
}

// Reason says why an event was lost or degraded. The BPF reasons come from
// enum vigil_drop_reason in bpf/vigil.h (generated); the others are counted
// in Go.
type Reason uint32

const (
	ReasonRingbufFull   = Reason(vigilVigilDropReasonVIGIL_DROP_RINGBUF_FULL)
	ReasonReadFailed    = Reason(vigilVigilDropReasonVIGIL_DROP_READ_FAILED)
	ReasonStrTruncated  = Reason(vigilVigilDropReasonVIGIL_DROP_STR_TRUNCATED)
	ReasonArgvTruncated = Reason(vigilVigilDropReasonVIGIL_DROP_ARGV_TRUNCATED)
	ReasonPathTruncated = Reason(vigilVigilDropReasonVIGIL_DROP_PATH_TRUNCATED)
	// ReasonShed: dropped in the kernel because the ring was past the
	// share of the event's Tier.
	ReasonShed         = Reason(vigilVigilDropReasonVIGIL_DROP_SHED)
	numBPFReasons      = Reason(vigilVigilDropReasonVIGIL_DROP_NUM_BPF)
	ReasonDecodeFailed = numBPFReasons // a record the reader could not decode
	NumReasons         = numBPFReasons + 1
)

var reasonNames = [NumReasons]string{"ringbuf_full", "read_failed", "str_truncated", "argv_truncated", "path_truncated", "shed", "decode_failed"}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Lost reports whether events counted under r were not delivered (as
// opposed to delivered with a degraded field).
func (r Reason) Lost() bool {
	return r == ReasonRingbufFull || r == ReasonShed || r == ReasonDecodeFailed
}

// Stats are the sensor's counters since New.
type Stats struct {
	Received       uint64
	ReceivedByType [event.NumTypes]uint64
	// Lost is the number of events not delivered (ring full, decode failure).
	Lost uint64
	// Drops counts lost and degraded events by reason and type.
	Drops [NumReasons][event.NumTypes]uint64
}

// ByReason sums Drops over types.
func (st *Stats) ByReason(r Reason) uint64 {
	var n uint64
	for _, v := range st.Drops[r] {
		n += v
	}
	return n
}

// Stats sums the per-CPU kernel counters and the reader's counters. It is
// safe from any goroutine, while events are read (for a periodic loss
// check), and after Close it returns zero kernel counters.
func (s *Sensor) Stats() Stats {
	var st Stats
	for t := range s.received {
		st.ReceivedByType[t] = s.received[t].Load()
		st.Received += st.ReceivedByType[t]
		st.Drops[ReasonDecodeFailed][t] = s.decodeKO[t].Load()
	}
	s.mu.Lock()
	if s.closed {
		k := s.final
		s.mu.Unlock()
		copy(st.Drops[:numBPFReasons], k[:])
	} else {
		k := s.kernelDrops()
		s.mu.Unlock()
		copy(st.Drops[:numBPFReasons], k[:])
	}
	for r := Reason(0); r < NumReasons; r++ {
		if r.Lost() {
			st.Lost += st.ByReason(r)
		}
	}
	return st
}
