package engine

import (
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
)

// State limits (Options.StateMaxEntries, Options.StateMaxBytes defaults).
const (
	// DefaultStateMaxEntries bounds the keys held by all stateful rules.
	DefaultStateMaxEntries = 65536
	// DefaultStateMaxBytes bounds the memory accounted to them.
	DefaultStateMaxBytes = 32 << 20
	// MaxPartials bounds the sequences in progress per rule and key; the
	// oldest is dropped (and counted as evicted) to make room.
	MaxPartials = 16
	// MaxKeptBytes bounds one string kept from a step's event.
	MaxKeptBytes = 4096
	// maxTreeDepth bounds the ancestors looked up for by: process_tree.
	maxTreeDepth = 16
	// entryBytes is the accounted size of an entry without its values.
	entryBytes = 160
)

// StateStats counts the state of stateful rules. Safe to read from any
// goroutine (StateStats).
type StateStats struct {
	Entries uint64 // keys held now
	Bytes   uint64 // memory accounted to them now
	Evicted uint64 // keys and sequences dropped to stay within the limits
	Expired uint64 // keys dropped because their window passed
	Kept    uint64 // rules whose state a reload kept (definition unchanged)
}

type stateKey struct {
	s    string
	a, b uint64
}

// entry is the state of one rule for one key. Entries of every rule are
// on one list, most recently updated first, for eviction.
type entry struct {
	rs         *ruleState
	key        stateKey
	prev, next *entry
	last       int64 // event time of the last update
	bytes      int
	partials   []partial // sequence
	seen       []seenVal // threshold: distinct values (hashes) in the window
	quiet      int64     // threshold: no alert before this event time
}

// partial is a sequence in progress: stage steps matched, the first at
// start; kept[i] are the values step i keeps for later steps and the output.
type partial struct {
	start int64
	stage int
	kept  [][]event.Value
}

type seenVal struct {
	h uint64
	t int64
}

// ruleState is the state of one stateful rule, identified by the hash
// of its definition so that a reload that keeps the rule keeps its state.
type ruleState struct {
	hash   [32]byte
	within int64
	m      map[stateKey]*entry
}

// stateStore holds the state of every stateful rule. It is owned by the
// evaluating goroutine; its counters are atomics for StateStats.
type stateStore struct {
	byHash     map[[32]byte]*ruleState
	head, tail *entry
	entries    int
	bytes      int
	maxEntries int
	maxBytes   int
	prog       *program // the program the store was last reconciled with

	nEntries, nBytes, evicted, expired, kept atomic.Uint64
}

func newStateStore(maxEntries, maxBytes int) *stateStore {
	if maxEntries <= 0 {
		maxEntries = DefaultStateMaxEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultStateMaxBytes
	}
	return &stateStore{byHash: map[[32]byte]*ruleState{}, maxEntries: maxEntries, maxBytes: maxBytes}
}

// reconcile attaches p's stateful rules to their state: kept when a rule
// of the same definition hash had state, new otherwise; the state of rules
// no longer in force is dropped.
func (s *stateStore) reconcile(p *program) {
	s.prog = p
	want := map[[32]byte]bool{}
	p.states = make([]*ruleState, len(p.stateful))
	for i, r := range p.stateful {
		h := r.State.Hash
		want[h] = true
		rs, ok := s.byHash[h]
		if ok {
			if p.reload {
				s.kept.Add(1)
			}
		} else {
			rs = &ruleState{hash: h, within: r.State.Within, m: map[stateKey]*entry{}}
			s.byHash[h] = rs
		}
		p.states[i] = rs
	}
	for h, rs := range s.byHash {
		if !want[h] {
			for _, en := range rs.m {
				s.unlink(en)
			}
			delete(s.byHash, h)
		}
	}
	s.publish()
}

func (s *stateStore) publish() {
	s.nEntries.Store(uint64(s.entries))
	s.nBytes.Store(uint64(s.bytes))
}

func (s *stateStore) unlink(en *entry) {
	if en.prev != nil {
		en.prev.next = en.next
	} else {
		s.head = en.next
	}
	if en.next != nil {
		en.next.prev = en.prev
	} else {
		s.tail = en.prev
	}
	en.prev, en.next = nil, nil
	delete(en.rs.m, en.key)
	s.entries--
	s.bytes -= en.bytes
}

// touch moves en to the front with its new size and time.
func (s *stateStore) touch(en *entry, now int64) {
	en.last = now
	nb := en.size()
	s.bytes += nb - en.bytes
	en.bytes = nb
	if s.head != en {
		if en.prev != nil {
			en.prev.next = en.next
			if en.next != nil {
				en.next.prev = en.prev
			} else {
				s.tail = en.prev
			}
		}
		en.prev, en.next = nil, s.head
		if s.head != nil {
			s.head.prev = en
		}
		s.head = en
		if s.tail == nil {
			s.tail = en
		}
	}
	s.trim(en)
	s.publish()
}

// trim evicts the least recently updated entries (never keep) until the
// store is within its limits.
func (s *stateStore) trim(keep *entry) {
	for (s.entries > s.maxEntries || s.bytes > s.maxBytes) && s.tail != nil && s.tail != keep {
		s.unlink(s.tail)
		s.evicted.Add(1)
	}
}

// add creates the entry of rs for k.
func (s *stateStore) add(rs *ruleState, k stateKey, now int64) *entry {
	if len(k.s) > 256 {
		k.s = k.s[:256]
	}
	k.s = string(append([]byte(nil), k.s...)) // the key outlives the event
	en := &entry{rs: rs, key: k}
	rs.m[k] = en
	s.entries++
	return en
}

// expireTail drops up to two entries at the end of the list whose window
// has passed: bounded work per event that keeps idle state from lingering
// until the limits evict it.
func (s *stateStore) expireTail(now int64) {
	for i := 0; i < 2 && s.tail != nil; i++ {
		en := s.tail
		if now-en.last <= en.rs.within {
			return
		}
		s.unlink(en)
		s.expired.Add(1)
	}
	s.publish()
}

func (en *entry) size() int {
	n := entryBytes + len(en.key.s) + 16*cap(en.seen)
	for _, p := range en.partials {
		n += 48
		for _, vs := range p.kept {
			n += 24 + 48*len(vs)
			for _, v := range vs {
				n += len(v.Str)
			}
		}
	}
	return n
}

// stateful evaluates a stateful rule for ev and calls fn with its alert.
// It returns whether the rule fired.
func (e *Engine) stateful(p *program, rp *ruleProg, ev *event.Event, fn func(*Match)) bool {
	s := e.state
	rs := p.states[rp.state]
	if s.tail != nil {
		s.expireTail(ev.Time)
	}
	if rp.rule.State.Count > 0 {
		return e.threshold(rs, rp, ev, fn)
	}
	return e.sequence(rs, rp, ev, fn)
}

// key returns the state key of ev for by (process_tree: the process's pid;
// process: pid and start time).
func key(by rules.Key, ev *event.Event) stateKey {
	switch by {
	case rules.KeyProcessTree:
		// By pid alone: captures carry no start time for ancestors.
		if ev.Proc != nil {
			return stateKey{a: uint64(ev.Proc.PID)}
		}
		return stateKey{a: uint64(ev.PID)}
	case rules.KeyProcess:
		if ev.Proc != nil {
			return stateKey{a: uint64(ev.Proc.PID), b: uint64(ev.Proc.StartTime)}
		}
		return stateKey{a: uint64(ev.PID)}
	case rules.KeyPod:
		if c := ev.Container; c != nil && c.PodUID != "" {
			return stateKey{s: c.PodUID, a: 1}
		}
	}
	if c := ev.Container; c != nil && c.ID != "" {
		return stateKey{s: c.ID}
	}
	return stateKey{s: "host"}
}

// lookup finds the entry of ev's key; for process_tree the process's or
// the nearest ancestor's.
func lookup(rs *ruleState, by rules.Key, ev *event.Event) *entry {
	if len(rs.m) == 0 {
		return nil
	}
	if by == rules.KeyProcessTree && ev.Proc != nil {
		d := 0
		for p := ev.Proc; p != nil && d < maxTreeDepth; p, d = p.Parent, d+1 {
			if en := rs.m[stateKey{a: uint64(p.PID)}]; en != nil {
				return en
			}
		}
		return nil
	}
	return rs.m[key(by, ev)]
}

func (e *Engine) sequence(rs *ruleState, rp *ruleProg, ev *event.Event, fn func(*Match)) bool {
	r := rp.rule
	st := r.State
	fired := false
	last := len(st.Steps)
	// Later steps first, so that one event never makes two steps.
	if st.Types.Has(ev.Type) {
		if en := lookup(rs, st.By, ev); en != nil {
			fired = e.advance(en, rp, last, ev, fn)
		}
	}
	for i := last - 1; i >= 1; i-- {
		if !st.Steps[i].Types.Has(ev.Type) {
			continue
		}
		if en := lookup(rs, st.By, ev); en != nil {
			e.advance(en, rp, i, ev, nil)
		}
	}
	if first := st.Steps[0]; first.Types.Has(ev.Type) {
		e.ctx.Reset()
		e.bound = nil
		if rp.steps[0](e, ev) {
			e.start(rs, r, ev)
		}
	}
	return fired
}

// advance tries step i (len(Steps): the rule's condition) on the
// partials of en waiting for it; fn is called once when the rule fires.
func (e *Engine) advance(en *entry, rp *ruleProg, i int, ev *event.Event, fn func(*Match)) bool {
	r := rp.rule
	st := r.State
	fired := false
	changed := false
	for j := 0; j < len(en.partials); j++ {
		pt := &en.partials[j]
		if ev.Time-pt.start > st.Within {
			en.partials = append(en.partials[:j], en.partials[j+1:]...)
			j--
			changed = true
			continue
		}
		if pt.stage != i {
			continue
		}
		e.ctx.Reset()
		e.bound = pt
		cond := rp.cond
		if i < len(st.Steps) {
			cond = rp.steps[i]
		}
		ok := cond(e, ev)
		if !ok {
			continue
		}
		changed = true
		if i == len(st.Steps) {
			if !fired {
				fired = true
				e.stats.Matches++
				if fn != nil {
					fn(e.format(r, ev))
				}
			}
			en.partials = append(en.partials[:j], en.partials[j+1:]...)
			j--
			continue
		}
		pt.kept[i] = e.keep(st.Steps[i], ev, nil)
		pt.stage++
	}
	e.bound = nil
	if changed {
		if len(en.partials) == 0 {
			e.state.unlink(en)
			e.state.publish()
		} else {
			e.state.touch(en, ev.Time)
		}
	}
	return fired
}

// start records a new sequence whose first step ev matched. A sequence
// already waiting with the same values of the fields later conditions read
// is refreshed instead (its output-only values stay those of its first
// event).
func (e *Engine) start(rs *ruleState, r *rules.Rule, ev *event.Event) {
	s, st := e.state, r.State
	k := key(st.By, ev)
	en := rs.m[k]
	first := st.Steps[0]
	if en != nil {
		for j := range en.partials {
			pt := &en.partials[j]
			if pt.stage == 1 && e.sameKept(first, pt.kept[0], ev) {
				pt.start = ev.Time
				s.touch(en, ev.Time)
				return
			}
		}
	} else {
		en = s.add(rs, k, ev.Time)
	}
	if len(en.partials) >= MaxPartials {
		en.partials = append(en.partials[:0], en.partials[1:]...)
		s.evicted.Add(1)
	}
	pt := partial{start: ev.Time, stage: 1, kept: make([][]event.Value, len(st.Steps))}
	pt.kept[0] = e.keep(first, ev, nil)
	en.partials = append(en.partials, pt)
	s.touch(en, ev.Time)
}

// keep extracts the values a step keeps, copied (they outlive the event).
func (e *Engine) keep(step *rules.Step, ev *event.Event, dst []event.Value) []event.Value {
	if len(step.Keep) == 0 {
		return nil
	}
	dst = make([]event.Value, len(step.Keep))
	for i, o := range step.Keep {
		e.ctx.Reset()
		v, ok := o.Field.Extract(&e.ctx, ev, &o.Arg)
		if !ok {
			dst[i] = event.Value{Num: noValue}
			continue
		}
		if len(v.Str) > MaxKeptBytes {
			v.Str = v.Str[:MaxKeptBytes]
		}
		v.Str = string(append([]byte(nil), v.Str...))
		dst[i] = v
	}
	return dst
}

// noValue marks a kept field that had no value (with an empty Str).
const noValue = ^uint64(0) - 0x5eed

func isNoValue(v event.Value) bool { return v.Num == noValue && v.Str == "" && !v.IP.IsValid() }

// sameKept reports whether ev's values of the step's kept fields equal
// kept (without allocating).
func (e *Engine) sameKept(step *rules.Step, kept []event.Value, ev *event.Event) bool {
	for i, o := range step.Keep[:step.CondKeep] {
		e.ctx.Reset()
		v, ok := o.Field.Extract(&e.ctx, ev, &o.Arg)
		if !ok {
			if !isNoValue(kept[i]) {
				return false
			}
			continue
		}
		k := kept[i]
		if len(v.Str) > MaxKeptBytes {
			v.Str = v.Str[:MaxKeptBytes]
		}
		if v.Str != k.Str || v.Num != k.Num || v.IP != k.IP {
			return false
		}
	}
	return true
}

// boundValue is the value of a field of an earlier step of the sequence
// being evaluated.
func (e *Engine) boundValue(o *rules.Operand) (event.Value, bool) {
	pt := e.bound
	if pt == nil || o.Step-1 >= len(pt.kept) || o.Slot >= len(pt.kept[o.Step-1]) {
		return event.Value{}, false
	}
	v := pt.kept[o.Step-1][o.Slot]
	if isNoValue(v) {
		return v, false
	}
	return e.transform(o, v)
}

func (e *Engine) threshold(rs *ruleState, rp *ruleProg, ev *event.Event, fn func(*Match)) bool {
	r := rp.rule
	s, st := e.state, r.State
	e.ctx.Reset()
	e.bound = nil
	if !rp.cond(e, ev) {
		return false
	}
	h := uint64(e.stats.Events) // counting events: every one is distinct
	if st.Distinct != nil {
		e.ctx.Reset()
		v, ok := e.extract(st.Distinct, ev)
		if !ok {
			return false
		}
		h = hashValue(v)
	}
	k := key(st.By, ev)
	en := rs.m[k]
	if en == nil {
		en = s.add(rs, k, ev.Time)
		en.seen = make([]seenVal, 0, st.Count)
	}
	if ev.Time < en.quiet {
		s.touch(en, ev.Time)
		return false
	}
	cut := ev.Time - st.Within
	n := 0
	found := false
	for _, sv := range en.seen {
		if sv.t < cut {
			continue
		}
		if sv.h == h {
			sv.t, found = ev.Time, true
		}
		en.seen[n] = sv
		n++
	}
	en.seen = en.seen[:n]
	if !found {
		en.seen = append(en.seen, seenVal{h: h, t: ev.Time})
	}
	fired := false
	if len(en.seen) >= st.Count {
		fired = true
		en.seen = en.seen[:0]
		en.quiet = ev.Time + st.Within
		e.stats.Matches++
		if fn != nil {
			fn(e.format(r, ev))
		}
	}
	s.touch(en, ev.Time)
	return fired
}

// hashValue is FNV-1a over a value.
func hashValue(v event.Value) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(v.Str); i++ {
		h = (h ^ uint64(v.Str[i])) * prime
	}
	for i := 0; i < 8; i++ {
		h = (h ^ (v.Num >> (8 * i) & 0xff)) * prime
	}
	if v.IP.IsValid() {
		for _, b := range v.IP.As16() {
			h = (h ^ uint64(b)) * prime
		}
	}
	return h
}
