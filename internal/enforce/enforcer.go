package enforce

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/queue"
	"golang.org/x/sys/unix"
)

// Fallback is the answer to a file access whose decision could not be
// computed (in time).
type Fallback uint8

const (
	FallbackAllow Fallback = iota // default: never lock the host up
	FallbackDeny
)

// Options configure an Enforcer. The zero value is usable.
type Options struct {
	// DryRun reports every decision without acting on any (global audit).
	DryRun bool
	// ReportAllowed also reports accesses allowed by an explicit allow rule.
	ReportAllowed bool
	// FileFallback answers file accesses that could not be decided.
	FileFallback Fallback
	// FileTimeout is how long a file permission event may wait in the
	// queue before it is answered with FileFallback; 0 means 1s, negative
	// means no limit.
	FileTimeout time.Duration
	// DecisionBuffer is the capacity of the Decisions channel; 0 means 4096.
	// When full, decisions are dropped and counted (Stats.DecisionsDropped).
	DecisionBuffer int
	// Overflow reports the dropped decisions ("prevention_decisions"):
	// metrics and the internal alert queue.RuleOverflow. Nil: counted only.
	Overflow *queue.Overflow
	// OnGate is told when the fanotify gate goes down and comes back up
	// (see gatewatch.go); it is called from the enforcer's goroutines and
	// must not block.
	OnGate func(GateEvent)
	// Gate, when set, holds the first exec of every cgroup not classified
	// yet (outside the host's mount namespace) before its first
	// instruction until Gate.Admit has brought its policy in force.
	Gate *GateOptions
}

// Mechanism is the kernel mechanism that made a decision.
type Mechanism string

const (
	MechCgroupBPF Mechanism = "cgroup-bpf"
	MechExecTP    Mechanism = "exec-tracepoint"
	MechExecGate  Mechanism = "exec-gate"
	MechFanotify  Mechanism = "fanotify"
)

// Kind is the operation decided on. Values 1-7 match bpf/enforce.c KIND_*.
type Kind uint8

const (
	KindConnect4 Kind = iota + 1
	KindConnect6
	KindSendmsg4
	KindSendmsg6
	KindBind4
	KindBind6
	KindExec
	KindOpen
	KindHold // a task held at exec (gate); matches bpf/enforce.c KIND_HOLD
	numKinds
)

var kindNames = [...]string{"", "connect4", "connect6", "sendmsg4", "sendmsg6", "bind4", "bind6", "exec", "open", "hold"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Decision is one enforcement decision, for the agent to raise an alert.
// In audit mode or dry-run, Action is what the rule says (block, kill) and
// Enforced is false: the decisions are those of enforce mode.
type Decision struct {
	Time       time.Time
	Mechanism  Mechanism
	Kind       Kind
	Action     policy.Action // the matching rule's (or default's) action
	Enforced   bool          // the kernel denied the operation or killed the process
	Mode       policy.Mode   // mode of the policy the rule belongs to
	DryRun     bool
	Policy     string
	Rule       string
	PID        uint32
	Comm       string
	CgroupID   uint64
	CgroupPath string         // fanotify decisions: the cgroup v2 path of PID
	Path       string         // exec filename as passed, or the opened file
	Access     policy.Access  // open: the access asked for
	Addr       netip.AddrPort // network: destination or bind address
	Proto      policy.Proto
	KillErr    error  `json:"-"`          // Action kill: the result of killing PID from user space (network, file)
	Reason     string `json:",omitempty"` // gate defaults: why the cgroup was not classified
}

// Stats counts decisions.
type Stats struct {
	// Kernel[kind] counts in-kernel decisions by outcome.
	Kernel           [numKinds]KernelCounts
	File             FileStats
	Gate             GateStats
	DecisionsDropped uint64 // Decisions channel full
}

// KernelCounts are the per-kind counters kept by the BPF programs.
type KernelCounts struct{ Allowed, Denied, Audited, RingbufDropped uint64 }

// Enforcer applies policies to the kernel. Create with New, then Apply;
// Close detaches everything (the kernel allows again).
type Enforcer struct {
	opts      Options
	decisions *queue.Queue[Decision]
	fileBase  FileStats // counters of the gates closed so far

	mu       sync.Mutex // serializes Apply and Close
	closed   bool
	objs     *enforceObjects
	rb       *ringbuf.Reader
	rbDone   chan struct{}
	netLinks map[string][]link.Link // cgroup path → its 6 links
	execLink link.Link              // sched_process_exec
	holds    *holder
	gate     *fileGate
	gen      uint32
	cur      *Plan
	// rules by generation, read by the ring buffer reader.
	rules [2]atomic.Pointer[[]RuleRef]

	gmu sync.Mutex // guards gst
	gst GateStatus
}

const idsPerGen = 2048

// New returns an Enforcer. It loads nothing until Apply needs it.
func New(opts Options) (*Enforcer, error) {
	if opts.FileTimeout == 0 {
		opts.FileTimeout = time.Second
	}
	if opts.DecisionBuffer <= 0 {
		opts.DecisionBuffer = 4096
	}
	return &Enforcer{
		opts: opts,
		decisions: queue.New[Decision](queue.Options{Name: "prevention_decisions", Item: "prevention decisions",
			Size: opts.DecisionBuffer, Overflow: opts.Overflow}),
		netLinks: map[string][]link.Link{},
	}, nil
}

// Decisions delivers every decision. It is closed by Close.
func (e *Enforcer) Decisions() <-chan Decision { return e.decisions.C() }

func (e *Enforcer) emit(d Decision) { e.decisions.Push(d) }

// Plan returns the plan in force (nil before the first Apply).
func (e *Enforcer) Plan() *Plan {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}

// HostTarget is the host: the cgroup v2 root.
func HostTarget() Target { return Target{CgroupPath: CgroupV2Root} }

// Apply enforces policies on targets, replacing what was in force. The
// host target is added when missing. On error, the previous policy stays in
// force.
func (e *Enforcer) Apply(policies []*policy.Policy, targets []Target) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("apply: enforcer closed")
	}
	ts := make([]Target, 0, len(targets)+1)
	host := false
	var gone []string
	for _, t := range targets {
		if t.Container == nil || t.Container.ID == "host" {
			host = true
		}
		if t.CgroupID == 0 {
			id, err := CgroupID(t.CgroupPath)
			if err != nil {
				// The container is gone (or not there yet): skip it
				// rather than fail the whole update.
				gone = append(gone, fmt.Sprintf("target %s skipped: %v", cleanCgroup(t.CgroupPath), err))
				continue
			}
			t.CgroupID = id
		}
		if t.Container != nil && t.Container.ID != "host" && (t.RootPID == 0 || (t.RootPID > 0 && !alive(t.RootPID))) {
			// Unknown, or exited since (its root is gone with it).
			t.RootPID = firstPID(t.CgroupPath)
		}
		ts = append(ts, t)
	}
	if !host {
		t := HostTarget()
		id, err := CgroupID(t.CgroupPath)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		t.CgroupID = id
		ts = append(ts, t)
	}
	gen := e.gen ^ 1
	pl, err := BuildPlan(policies, ts, 1+gen*idsPerGen)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	pl.Warnings = append(pl.Warnings, gone...)
	if len(pl.Sections) >= idsPerGen {
		return fmt.Errorf("apply: %d section sets, at most %d", len(pl.Sections), idsPerGen-1)
	}

	var gate *fileGate
	if pl.NeedFile {
		if gate, err = newFileGate(e, pl.files, pl.Rules); err != nil {
			return fmt.Errorf("apply: file policy: %w", err)
		}
		pl.Unmarked = gate.unmarked
		for _, p := range gate.unmarked {
			pl.Warnings = append(pl.Warnings, fmt.Sprintf("file mark %s: does not exist, not marked", p))
		}
	}
	pl.resolveExec()
	e.rules[gen].Store(&pl.Rules)
	if err := e.applyBPF(pl); err != nil {
		if gate != nil {
			gate.close()
		}
		return fmt.Errorf("apply: %w", err)
	}
	old := e.gate
	e.gate = gate
	e.setGateStatus(gate)
	if old != nil {
		e.closeGate(old)
	}
	e.gen = gen
	e.cur = pl
	return nil
}

func (e *Enforcer) load() error {
	if e.objs != nil {
		return nil
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("remove memlock: %w", err)
	}
	spec, err := loadEnforce()
	if err != nil {
		return fmt.Errorf("load spec: %w", err)
	}
	set := func(name string, v any) error {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
		return nil
	}
	mntns, err := hostMntns()
	if err != nil {
		return err
	}
	g := e.opts.Gate
	if err := errors.Join(set("agent_tgid", uint32(os.Getpid())), set("dry_run", b2u8(e.opts.DryRun)),
		set("report_allowed", b2u8(e.opts.ReportAllowed)), set("gate_on", b2u8(g != nil)),
		set("gate_deny", b2u8(g != nil && g.Default == FallbackDeny)), set("host_mntns", mntns)); err != nil {
		return err
	}
	var objs enforceObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return fmt.Errorf("load objects: %w", err)
	}
	rb, err := ringbuf.NewReader(objs.Decisions)
	if err != nil {
		objs.Close()
		return fmt.Errorf("ringbuf: %w", err)
	}
	e.objs, e.rb, e.rbDone = &objs, rb, make(chan struct{})
	go e.readDecisions()
	return nil
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// applyBPF writes the new ids' entries, flips cg_policy, adjusts links,
// then deletes the previous ids' entries.
func (e *Enforcer) applyBPF(pl *Plan) error {
	needExec := pl.NeedExec || e.opts.Gate != nil
	if !pl.NeedNet && !needExec && e.objs == nil {
		return nil
	}
	if err := e.load(); err != nil {
		return err
	}
	m := e.objs
	undo := func() {
		for id := range pl.policyCfg {
			m.Policies.Delete(id)
			m.BindRules.Delete(id)
		}
		for _, ent := range pl.egress {
			m.EgressRules.Delete(ent.Key)
		}
		for k := range pl.exec {
			m.ExecRules.Delete(k)
		}
	}
	var err error
	for _, ent := range pl.egress {
		if err = m.EgressRules.Put(ent.Key, ent.Val); err != nil {
			break
		}
	}
	for k, v := range pl.exec {
		if err != nil {
			break
		}
		err = m.ExecRules.Put(k, v)
	}
	for id, v := range pl.bind {
		if err != nil {
			break
		}
		err = m.BindRules.Put(id, v)
	}
	for id, v := range pl.policyCfg {
		if err != nil {
			break
		}
		err = m.Policies.Put(id, v)
	}
	if err != nil {
		undo()
		return fmt.Errorf("write policy maps: %w", err)
	}
	added, err := e.attachNet(pl.NetAttach)
	if err != nil {
		undo()
		return err
	}
	if needExec && e.execLink == nil {
		if err := e.attachExec(); err != nil {
			for _, p := range added {
				closeAll(e.netLinks[p])
				delete(e.netLinks, p)
			}
			undo()
			return err
		}
	}
	// Flip: cgroups now point at the new ids.
	bound := map[uint64]bool{}
	for _, b := range pl.Bindings {
		var id uint32
		if b.Sections != nil {
			id = b.Sections.ID
		}
		bound[b.Target.CgroupID] = true
		if err := m.CgPolicy.Put(b.Target.CgroupID, id); err != nil {
			return fmt.Errorf("write cg_policy: %w", err) // partially flipped; the next Apply repairs it
		}
	}
	// Remove what the new plan no longer uses.
	if old := e.cur; old != nil {
		for _, b := range old.Bindings {
			if !bound[b.Target.CgroupID] {
				m.CgPolicy.Delete(b.Target.CgroupID)
			}
		}
		for id := range old.policyCfg {
			m.Policies.Delete(id)
			m.BindRules.Delete(id)
		}
		for _, ent := range old.egress {
			m.EgressRules.Delete(ent.Key)
		}
		for k := range old.exec {
			m.ExecRules.Delete(k)
		}
	}
	want := map[string]bool{}
	for _, p := range pl.NetAttach {
		want[p] = true
	}
	for p, ls := range e.netLinks {
		if !want[p] {
			closeAll(ls)
			delete(e.netLinks, p)
		}
	}
	if !needExec && e.execLink != nil {
		e.execLink.Close()
		e.execLink = nil
	}
	return nil
}

func closeAll(ls []link.Link) {
	for _, l := range ls {
		l.Close()
	}
}

// attachNet attaches the cgroup programs to the paths not attached yet and
// returns those paths.
func (e *Enforcer) attachNet(paths []string) ([]string, error) {
	p := &e.objs.enforcePrograms
	progs := []struct {
		prog *ebpf.Program
		at   ebpf.AttachType
	}{
		{p.VigilConnect4, ebpf.AttachCGroupInet4Connect},
		{p.VigilConnect6, ebpf.AttachCGroupInet6Connect},
		{p.VigilSendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{p.VigilSendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
		{p.VigilBind4, ebpf.AttachCGroupInet4Bind},
		{p.VigilBind6, ebpf.AttachCGroupInet6Bind},
	}
	var added []string
	for _, cg := range paths {
		if _, ok := e.netLinks[cg]; ok {
			continue
		}
		var ls []link.Link
		for _, pr := range progs {
			l, err := link.AttachCgroup(link.CgroupOptions{Path: CgroupV2Root + cg, Attach: pr.at, Program: pr.prog})
			if err != nil {
				closeAll(ls)
				for _, a := range added {
					closeAll(e.netLinks[a])
					delete(e.netLinks, a)
				}
				return nil, fmt.Errorf("attach %s to cgroup %s: %w", pr.at, cg, err)
			}
			ls = append(ls, l)
		}
		e.netLinks[cg] = ls
		added = append(added, cg)
	}
	return added, nil
}

// attachExec starts the hold handling (and its releaser process), then
// attaches the exec program: a task may be held as soon as it runs.
func (e *Enforcer) attachExec() error {
	if e.holds == nil {
		h, err := newHolder(e)
		if err != nil {
			return err
		}
		e.holds = h
	}
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_process_exec", Program: e.objs.VigilExec})
	if err != nil {
		return fmt.Errorf("attach raw tracepoint sched_process_exec: %w", err)
	}
	e.execLink = l
	return nil
}

func (e *Enforcer) readDecisions() {
	defer close(e.rbDone)
	var rec ringbuf.Record
	var raw enforceDecision
	for {
		if err := e.rb.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			continue
		}
		if len(rec.RawSample) < int(sizeofDecision) {
			continue
		}
		decodeDecision(rec.RawSample, &raw)
		e.emit(e.decision(&raw))
	}
}

func (e *Enforcer) decision(r *enforceDecision) Decision {
	d := Decision{
		Time: time.Now(), Kind: Kind(r.Kind), Action: policy.Action(r.Action), Enforced: r.Enforced != 0,
		DryRun: e.opts.DryRun, PID: r.Pid, CgroupID: r.CgroupId, Proto: policy.Proto(r.Proto),
		Comm: cstr(r.Comm[:]),
	}
	gen := (r.PolicyId - 1) / idsPerGen
	if gen < 2 {
		if rs := e.rules[gen].Load(); rs != nil && int(r.RuleId) < len(*rs) {
			ref := (*rs)[r.RuleId]
			d.Policy, d.Rule, d.Mode = ref.Policy, ref.Rule, ref.Mode
		}
	}
	if d.Kind == KindExec {
		d.Mechanism = MechExecTP
		d.Path = cstr(r.Path[:])
		return d
	}
	d.Mechanism = MechCgroupBPF
	a := netip.AddrFrom16(r.Addr)
	if r.Family == unix.AF_INET {
		a = a.Unmap()
	}
	d.Addr = netip.AddrPortFrom(a, r.Port)
	if d.Enforced && d.Action == policy.ActionKill {
		d.KillErr = KillPID(int(r.Pid))
	}
	return d
}

func cstr(b []int8) string {
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(b[i])
	}
	return string(out)
}

// RingbufDropped returns the decisions the kernel could not queue (its
// ring buffer was full), over every kind; 0 before the first Apply.
func (e *Enforcer) RingbufDropped() (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.objs == nil {
		return 0, nil
	}
	var vals []uint64
	var n uint64
	for k := uint32(1); k <= uint32(KindExec); k++ {
		if err := e.objs.Counters.Lookup(k*4+3, &vals); err != nil {
			return n, fmt.Errorf("read counters: %w", err)
		}
		for _, v := range vals {
			n += v
		}
	}
	return n, nil
}

// Stats returns the decision counters.
func (e *Enforcer) Stats() (Stats, error) {
	var s Stats
	s.DecisionsDropped = e.decisions.Dropped()
	e.mu.Lock()
	defer e.mu.Unlock()
	s.File = e.fileBase
	if e.gate != nil {
		// A gate that is down or frozen does not answer: its counters
		// are left out (GateStatus tells why).
		if fs, err := e.gate.fileStats(); err == nil {
			s.File.add(fs)
		}
	}
	if e.objs == nil {
		return s, nil
	}
	var vals []uint64
	for _, k := range []uint32{uint32(KindConnect4), uint32(KindConnect6), uint32(KindSendmsg4), uint32(KindSendmsg6),
		uint32(KindBind4), uint32(KindBind6), uint32(KindExec), uint32(KindHold)} {
		var c [4]uint64
		for slot := uint32(0); slot < 4; slot++ {
			if err := e.objs.Counters.Lookup(k*4+slot, &vals); err != nil {
				return s, fmt.Errorf("read counters: %w", err)
			}
			for _, v := range vals {
				c[slot] += v
			}
		}
		s.Kernel[k] = KernelCounts{Allowed: c[0], Denied: c[1], Audited: c[2], RingbufDropped: c[3]}
	}
	if e.holds != nil {
		s.Gate = e.holds.stats()
	}
	return s, nil
}

// Close detaches every program and closes the fanotify group: the kernel
// allows everything again. Decisions is closed. Close is idempotent.
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.gate != nil {
		e.closeGate(e.gate)
		e.gate = nil
		e.setGateStatus(nil)
	}
	for p, ls := range e.netLinks {
		closeAll(ls)
		delete(e.netLinks, p)
	}
	if e.execLink != nil {
		e.execLink.Close()
		e.execLink = nil
	}
	if e.holds != nil {
		e.holds.close() // resumes the tasks still held
	}
	var err error
	if e.objs != nil {
		e.rb.Close()
		<-e.rbDone
		err = e.objs.Close()
		e.objs = nil
	}
	e.decisions.Close()
	return err
}

// MarksMissing reports whether a mark the plan in force could not place
// (Plan.Unmarked) now has its path: applying the policies again would
// protect it.
func (e *Enforcer) MarksMissing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return false
	}
	for _, p := range e.cur.Unmarked {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// CgroupID returns the cgroup v2 id of a cgroup directory (its inode),
// given absolute or relative to the v2 mount.
func CgroupID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(CgroupV2Root+cleanCgroup(path), &st); err != nil {
		return 0, fmt.Errorf("cgroup id of %s: %w", path, err)
	}
	return st.Ino, nil
}

// closeGate closes a gate, keeping its counters.
func (e *Enforcer) closeGate(g *fileGate) {
	if fs, err := g.fileStats(); err == nil {
		e.fileBase.add(fs)
	}
	g.close()
}

func (s *FileStats) add(o FileStats) {
	s.Events += o.Events
	s.Fast += o.Fast
	s.Denied += o.Denied
	s.Audited += o.Audited
	s.Defaults += o.Defaults
}

// alive reports whether process pid exists with a root filesystem (a
// zombie has none).
func alive(pid int) bool {
	var st unix.Stat_t
	return unix.Stat("/proc/"+strconv.Itoa(pid)+"/root/", &st) == nil
}

// firstPID returns a process of the cgroup (0 when it has none).
func firstPID(cgroup string) int {
	data, err := os.ReadFile(CgroupV2Root + cleanCgroup(cgroup) + "/cgroup.procs")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(line)
	return pid
}

// ProgramCost is the accumulated in-kernel run time of one program; it is
// counted only while BPF run-time stats are enabled (ebpf.EnableStats or
// the kernel.bpf_stats_enabled sysctl).
type ProgramCost struct {
	Runs    uint64
	Runtime time.Duration
}

// ProgramCosts returns the run-time stats of each loaded program by name.
func (e *Enforcer) ProgramCosts() (map[string]ProgramCost, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]ProgramCost{}
	if e.objs == nil {
		return out, nil
	}
	p := &e.objs.enforcePrograms
	for name, prog := range map[string]*ebpf.Program{
		"connect4": p.VigilConnect4, "connect6": p.VigilConnect6, "sendmsg4": p.VigilSendmsg4,
		"sendmsg6": p.VigilSendmsg6, "bind4": p.VigilBind4, "bind6": p.VigilBind6,
		"exec": p.VigilExec,
	} {
		st, err := prog.Stats()
		if err != nil {
			return nil, fmt.Errorf("stats of %s: %w", name, err)
		}
		out[name] = ProgramCost{Runs: st.RunCount, Runtime: st.Runtime}
	}
	return out, nil
}

func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if i > 0 && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown kind %q", b)
}
