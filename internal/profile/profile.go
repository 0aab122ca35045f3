package profile

import (
	"fmt"
	"math/bits"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// State is where a profile is in its life.
type State string

const (
	// Learning: behaviour is recorded into the profile.
	Learning State = "learning"
	// Monitoring: the learning window has ended; behaviour outside the
	// profile is a deviation.
	Monitoring State = "monitoring"
)

// Kind names one of a profile's behaviour sets.
type Kind string

// The behaviour sets. Deviation alerts are raised for KindProgram,
// KindEgress, KindListen, KindWrite and KindSyscall (DeviationKinds); the
// others are recorded while learning (and for least-privilege output) only.
const (
	KindProgram Kind = "program" // executables run: resolved path, and the name run by when it differs
	KindRead    Kind = "read"    // files opened for reading under the roots
	KindWrite   Kind = "write"   // files opened for writing (or created, truncated) under the roots
	KindEgress  Kind = "egress"  // peers connected to (address, port, protocol)
	KindIngress Kind = "ingress" // peers accepted from (peer address, local port, protocol)
	KindListen  Kind = "listen"  // listening ports (TCP listen, UDP bind)
	KindSyscall Kind = "syscall" // system calls made
	KindCap     Kind = "cap"     // effective capabilities held at exec
	// KindCapUsed: capabilities a successful system call needed, inferred
	// from the call (CapabilityUsed); the kernel's own checks are not seen.
	KindCapUsed Kind = "cap_used"
	KindUID     Kind = "uid" // effective user ids
)

// Kinds lists every kind, in the order profiles print them.
var Kinds = []Kind{KindProgram, KindRead, KindWrite, KindEgress, KindIngress, KindListen, KindSyscall, KindCap, KindCapUsed, KindUID}

// DeviationKinds are the kinds whose new behaviour raises an alert after
// the learning window.
var DeviationKinds = []Kind{KindProgram, KindEgress, KindListen, KindWrite, KindSyscall, KindCapUsed}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown behaviour kind %q (one of %s)", s, kindList())
}

func kindList() string {
	var b []string
	for _, k := range Kinds {
		b = append(b, string(k))
	}
	return strings.Join(b, ", ")
}

// Limits bound a profile's memory: at most this many entries per set (a
// path longer than MaxPath is cut). What does not fit is counted in
// Profile.Overflow, never silently lost. Zero fields take DefaultLimits'.
type Limits struct {
	Programs int
	Files    int // each of reads and writes
	Peers    int // each of egress and ingress
	Listen   int
	Syscalls int
	UIDs     int
	MaxPath  int
}

// DefaultLimits are the limits of a zero Limits: a full profile takes
// about 1.5 MB; a typical one a few KB (see docs/profiles.md).
var DefaultLimits = Limits{Programs: 256, Files: 2048, Peers: 1024, Listen: 64, Syscalls: 512, UIDs: 64, MaxPath: 512}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	for _, f := range []struct {
		v *int
		d int
	}{{&l.Programs, d.Programs}, {&l.Files, d.Files}, {&l.Peers, d.Peers},
		{&l.Listen, d.Listen}, {&l.Syscalls, d.Syscalls}, {&l.UIDs, d.UIDs}, {&l.MaxPath, d.MaxPath}} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	return l
}

func (l Limits) of(k Kind) int {
	switch k {
	case KindProgram:
		return l.Programs
	case KindRead, KindWrite:
		return l.Files
	case KindEgress, KindIngress:
		return l.Peers
	case KindListen:
		return l.Listen
	case KindSyscall:
		return l.Syscalls
	case KindUID:
		return l.UIDs
	}
	return 64 // capabilities: at most 64 bits
}

// Program is an executable a workload ran: its resolved path and, when
// it was run under another base name (a symlink to a multi-call binary
// such as busybox, a hard link), that name.
type Program struct {
	Path string
	Name string
}

func (p Program) String() string {
	if p.Name == "" {
		return p.Path
	}
	return p.Path + " (" + p.Name + ")"
}

// NewProgram returns the program run as runAs (the path or name passed
// to execve) that resolved to exePath.
func NewProgram(exePath, runAs string) Program {
	p := Program{Path: exePath}
	if n := path.Base(runAs); runAs != "" && n != path.Base(exePath) {
		p.Name = n
	}
	return p
}

// Peer is a network peer: for egress the remote address and port, for
// ingress the remote address and the local port.
type Peer struct {
	Addr  netip.Addr
	Port  uint16
	Proto string // tcp, udp
}

func (p Peer) String() string {
	return netip.AddrPortFrom(p.Addr, p.Port).String() + "/" + p.Proto
}

// Port is a listening port.
type Port struct {
	Port  uint16
	Proto string
}

func (p Port) String() string { return strconv.Itoa(int(p.Port)) + "/" + p.Proto }

// set is a bounded set; over counts the entries refused because it was
// full.
type set[K comparable] struct {
	m    map[K]struct{}
	over uint64
}

func (s *set[K]) has(k K) bool {
	_, ok := s.m[k]
	return ok
}

// add adds k unless the set holds max entries; it reports whether k is in
// the set afterwards.
func (s *set[K]) add(k K, max int) bool {
	if _, ok := s.m[k]; ok {
		return true
	}
	if len(s.m) >= max {
		s.over++
		return false
	}
	if s.m == nil {
		s.m = map[K]struct{}{}
	}
	s.m[k] = struct{}{}
	return true
}

func (s *set[K]) keys() []K {
	out := make([]K, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	return out
}

func (s *set[K]) clone() set[K] {
	c := set[K]{over: s.over}
	if len(s.m) > 0 {
		c.m = make(map[K]struct{}, len(s.m))
		for k := range s.m {
			c.m[k] = struct{}{}
		}
	}
	return c
}

// Profile is the learned behaviour of one workload. It is not safe for
// concurrent use: the Learner owns the profiles it keeps and hands out
// clones.
type Profile struct {
	// Name is the workload key (see Key): "image:docker.io/library/nginx",
	// "label:app=web".
	Name string
	// Version counts the profile's published states: 0 while it is
	// first learned, 1 when its learning window ended, +1 for each accept,
	// import, merge or edit.
	Version uint64
	State   State
	// seenTypes caches which event types' syscalls are in syscalls (the
	// event path checks it before the set; beside State, which it reads
	// too, for one cache line).
	seenTypes event.TypeSet
	// LearnStart and LearnEnd bound the learning window.
	LearnStart, LearnEnd time.Time
	// Updated is when the profile last changed.
	Updated time.Time
	// Hosts are the hosts whose observations the profile holds (merges
	// across replicas add theirs).
	Hosts []string

	programs       set[Program]
	reads, writes  set[string]
	egress, ingres set[Peer]
	listen         set[Port]
	syscalls       set[string]
	caps           uint64
	capsOver       uint64
	capsUsed       uint64
	uids           set[uint32]
	// syscallSets: the syscalls include the kernel's per-cgroup sets
	// (every syscall), not only the event types the sensor reports.
	syscallSets bool

	limits Limits
}

// New returns an empty profile in the learning state.
func New(name string, limits Limits, now time.Time, window time.Duration) *Profile {
	return &Profile{Name: name, State: Learning, LearnStart: now, LearnEnd: now.Add(window), Updated: now,
		limits: limits.withDefaults()}
}

// SyscallsComplete reports whether the profile's syscalls come from the
// kernel's per-cgroup syscall sets (every syscall the workload made), not
// only from the event types the sensor reports.
func (p *Profile) SyscallsComplete() bool { return p.syscallSets }

// SetLimits changes the profile's limits (entries already held stay).
func (p *Profile) SetLimits(l Limits) { p.limits = l.withDefaults() }

// Item is one behaviour of a kind, in its text form (Program.String,
// Peer.String, Port.String, a path, a syscall or capability name, a uid).
type Item struct {
	Kind  Kind
	Value string
}

func (it Item) String() string { return string(it.Kind) + " " + it.Value }

// Has reports whether the profile holds it.
func (p *Profile) Has(it Item) (bool, error) {
	q := New(p.Name, p.limits, p.LearnStart, 0)
	if err := q.Add(it); err != nil {
		return false, err
	}
	return p.Contains(q), nil
}

// Add adds a behaviour given in its text form; an error says why the
// value is not one of its kind (a full set is counted, not an error).
func (p *Profile) Add(it Item) error {
	v := it.Value
	switch it.Kind {
	case KindProgram:
		pr := Program{Path: v}
		if i := strings.LastIndex(v, " ("); i > 0 && strings.HasSuffix(v, ")") {
			pr = Program{Path: v[:i], Name: v[i+2 : len(v)-1]}
		}
		if !strings.HasPrefix(pr.Path, "/") {
			return fmt.Errorf("program %q: not an absolute path", v)
		}
		p.addProgram(pr)
	case KindRead, KindWrite:
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%s %q: not an absolute path", it.Kind, v)
		}
		p.addFile(it.Kind == KindWrite, v)
	case KindEgress, KindIngress:
		pe, err := ParsePeer(v)
		if err != nil {
			return err
		}
		if it.Kind == KindEgress {
			p.egress.add(pe, p.limits.Peers)
		} else {
			p.ingres.add(pe, p.limits.Peers)
		}
	case KindListen:
		po, err := ParsePort(v)
		if err != nil {
			return err
		}
		p.listen.add(po, p.limits.Listen)
	case KindSyscall:
		if v == "" || strings.ContainsAny(v, " /\t") {
			return fmt.Errorf("syscall %q: not a name", v)
		}
		p.syscalls.add(v, p.limits.Syscalls)
	case KindCap:
		bit, ok := capBit(v)
		if !ok {
			return fmt.Errorf("capability %q: unknown (CAP_SYS_ADMIN, ...)", v)
		}
		p.caps |= 1 << bit
	case KindCapUsed:
		bit, ok := capBit(v)
		if !ok {
			return fmt.Errorf("capability %q: unknown (CAP_SYS_ADMIN, ...)", v)
		}
		p.capsUsed |= 1 << bit
	case KindUID:
		u, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("uid %q: not a number", v)
		}
		p.uids.add(uint32(u), p.limits.UIDs)
	default:
		_, err := ParseKind(string(it.Kind))
		return err
	}
	return nil
}

// ParsePeer parses "ADDR:PORT/PROTO" ("[v6]:PORT/PROTO").
func ParsePeer(s string) (Peer, error) {
	ap, proto, ok := strings.Cut(s, "/")
	if !ok || (proto != "tcp" && proto != "udp") {
		return Peer{}, fmt.Errorf("peer %q: want ADDRESS:PORT/tcp or /udp", s)
	}
	a, err := netip.ParseAddrPort(ap)
	if err != nil {
		return Peer{}, fmt.Errorf("peer %q: %w", s, err)
	}
	return Peer{Addr: a.Addr().Unmap(), Port: a.Port(), Proto: proto}, nil
}

// ParsePort parses "PORT/PROTO".
func ParsePort(s string) (Port, error) {
	n, proto, ok := strings.Cut(s, "/")
	port, err := strconv.ParseUint(n, 10, 16)
	if !ok || err != nil || (proto != "tcp" && proto != "udp") {
		return Port{}, fmt.Errorf("port %q: want PORT/tcp or PORT/udp", s)
	}
	return Port{Port: uint16(port), Proto: proto}, nil
}

func (p *Profile) cutPath(s string) string {
	if len(s) > p.limits.MaxPath {
		return s[:p.limits.MaxPath]
	}
	return s
}

func (p *Profile) addProgram(pr Program) bool {
	pr.Path = p.cutPath(pr.Path)
	return p.programs.add(pr, p.limits.Programs)
}

func (p *Profile) addFile(write bool, name string) bool {
	name = p.cutPath(name)
	if write {
		return p.writes.add(name, p.limits.Files)
	}
	return p.reads.add(name, p.limits.Files)
}

// Items returns the profile's behaviours of kind k in text form, sorted.
func (p *Profile) Items(k Kind) []string {
	var out []string
	switch k {
	case KindProgram:
		for _, x := range p.programs.keys() {
			out = append(out, x.String())
		}
	case KindRead:
		out = p.reads.keys()
	case KindWrite:
		out = p.writes.keys()
	case KindEgress, KindIngress:
		s := &p.egress
		if k == KindIngress {
			s = &p.ingres
		}
		ps := s.keys()
		slices.SortFunc(ps, comparePeer)
		for _, x := range ps {
			out = append(out, x.String())
		}
		return out
	case KindListen:
		ps := p.listen.keys()
		slices.SortFunc(ps, func(a, b Port) int {
			if a.Proto != b.Proto {
				return strings.Compare(a.Proto, b.Proto)
			}
			return int(a.Port) - int(b.Port)
		})
		for _, x := range ps {
			out = append(out, x.String())
		}
		return out
	case KindSyscall:
		out = p.syscalls.keys()
	case KindCap, KindCapUsed:
		bits := p.caps
		if k == KindCapUsed {
			bits = p.capsUsed
		}
		for i := range 64 {
			if bits&(1<<i) != 0 {
				out = append(out, capName(i))
			}
		}
		return out
	case KindUID:
		us := p.uids.keys()
		slices.Sort(us)
		for _, u := range us {
			out = append(out, strconv.FormatUint(uint64(u), 10))
		}
		return out
	}
	slices.Sort(out)
	return out
}

func comparePeer(a, b Peer) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if a.Port != b.Port {
		return int(a.Port) - int(b.Port)
	}
	return strings.Compare(a.Proto, b.Proto)
}

// Len returns the number of behaviours of kind k.
func (p *Profile) Len(k Kind) int {
	switch k {
	case KindProgram:
		return len(p.programs.m)
	case KindRead:
		return len(p.reads.m)
	case KindWrite:
		return len(p.writes.m)
	case KindEgress:
		return len(p.egress.m)
	case KindIngress:
		return len(p.ingres.m)
	case KindListen:
		return len(p.listen.m)
	case KindSyscall:
		return len(p.syscalls.m)
	case KindCap:
		return bits.OnesCount64(p.caps)
	case KindCapUsed:
		return bits.OnesCount64(p.capsUsed)
	case KindUID:
		return len(p.uids.m)
	}
	return 0
}

// Overflow returns how many behaviours of kind k were not recorded
// because the set was full.
func (p *Profile) Overflow(k Kind) uint64 {
	switch k {
	case KindProgram:
		return p.programs.over
	case KindRead:
		return p.reads.over
	case KindWrite:
		return p.writes.over
	case KindEgress:
		return p.egress.over
	case KindIngress:
		return p.ingres.over
	case KindListen:
		return p.listen.over
	case KindSyscall:
		return p.syscalls.over
	case KindCap:
		return p.capsOver
	case KindUID:
		return p.uids.over
	}
	return 0
}

func (p *Profile) setOverflow(k Kind, n uint64) {
	switch k {
	case KindProgram:
		p.programs.over = n
	case KindRead:
		p.reads.over = n
	case KindWrite:
		p.writes.over = n
	case KindEgress:
		p.egress.over = n
	case KindIngress:
		p.ingres.over = n
	case KindListen:
		p.listen.over = n
	case KindSyscall:
		p.syscalls.over = n
	case KindCap:
		p.capsOver = n
	case KindUID:
		p.uids.over = n
	}
}

// Clone returns a deep copy.
func (p *Profile) Clone() *Profile {
	c := *p
	c.Hosts = slices.Clone(p.Hosts)
	c.programs = p.programs.clone()
	c.reads, c.writes = p.reads.clone(), p.writes.clone()
	c.egress, c.ingres = p.egress.clone(), p.ingres.clone()
	c.listen = p.listen.clone()
	c.syscalls = p.syscalls.clone()
	c.uids = p.uids.clone()
	return &c
}

// Contains reports whether every behaviour of q is in p.
func (p *Profile) Contains(q *Profile) bool {
	for _, k := range Kinds {
		qs := q.Items(k)
		if len(qs) == 0 {
			continue
		}
		have := map[string]bool{}
		for _, v := range p.Items(k) {
			have[v] = true
		}
		for _, v := range qs {
			if !have[v] {
				return false
			}
		}
	}
	return true
}

// Merge folds q into p: the union of every set (bounded by p's limits,
// what does not fit counted), the union of hosts, the earliest learning
// start and latest end, monitoring if either is. The version becomes one
// more than the greater of the two: a merge is a new published state.
func (p *Profile) Merge(q *Profile) {
	for _, k := range Kinds {
		for _, v := range q.Items(k) {
			_ = p.Add(Item{Kind: k, Value: v}) // q's items are valid
		}
		p.setOverflow(k, p.Overflow(k)+q.Overflow(k))
	}
	for _, h := range q.Hosts {
		p.addHost(h)
	}
	if q.LearnStart.Before(p.LearnStart) {
		p.LearnStart = q.LearnStart
	}
	if q.LearnEnd.After(p.LearnEnd) {
		p.LearnEnd = q.LearnEnd
	}
	if q.State == Monitoring {
		p.State = Monitoring
	}
	p.syscallSets = p.syscallSets || q.syscallSets
	p.Version = max(p.Version, q.Version) + 1
	if q.Updated.After(p.Updated) {
		p.Updated = q.Updated
	}
}

func (p *Profile) addHost(h string) {
	if h != "" && !slices.Contains(p.Hosts, h) {
		p.Hosts = append(p.Hosts, h)
		slices.Sort(p.Hosts)
	}
}

// Change is one difference between two profiles.
type Change struct {
	Item
	Added bool // in the second profile only; false: in the first only
}

func (c Change) String() string {
	if c.Added {
		return "+ " + c.Item.String()
	}
	return "- " + c.Item.String()
}

// Diff returns what b has that a has not (Added) and what a has that b
// has not, by kind, sorted.
func Diff(a, b *Profile) []Change {
	var out []Change
	for _, k := range Kinds {
		ai, bi := a.Items(k), b.Items(k)
		for _, v := range ai {
			if !slices.Contains(bi, v) {
				out = append(out, Change{Item: Item{k, v}})
			}
		}
		for _, v := range bi {
			if !slices.Contains(ai, v) {
				out = append(out, Change{Item: Item{k, v}, Added: true})
			}
		}
	}
	return out
}

// Size estimates the bytes the profile holds in memory: map entries,
// their keys and the strings they point to.
func (p *Profile) Size() int {
	const mapEntry = 16 // bucket overhead per entry, roughly
	n := 256            // the struct, its header fields
	for x := range p.programs.m {
		n += mapEntry + 32 + len(x.Path) + len(x.Name)
	}
	for x := range p.reads.m {
		n += mapEntry + 16 + len(x)
	}
	for x := range p.writes.m {
		n += mapEntry + 16 + len(x)
	}
	n += (len(p.egress.m) + len(p.ingres.m)) * (mapEntry + 48)
	n += len(p.listen.m) * (mapEntry + 24)
	for x := range p.syscalls.m {
		n += mapEntry + 16 + len(x)
	}
	n += len(p.uids.m) * (mapEntry + 4)
	return n
}

func capName(bit int) string {
	s := string(event.AppendCaps(nil, 1<<uint(bit)))
	if s == "" {
		return "CAP_" + strconv.Itoa(bit)
	}
	return s
}

func capBit(name string) (int, bool) {
	for i := range 64 {
		if capName(i) == name {
			return i, true
		}
	}
	return 0, false
}
