package engine

import (
	"encoding/base64"
	"math"
	"net/netip"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
	"github.com/vigilsec/vigil/internal/rules"
)

// MatchMode says which rules are reported for an event.
type MatchMode uint8

const (
	// MatchAll reports every matching rule (the default).
	MatchAll MatchMode = iota
	// MatchFirst stops at the first matching rule, in definition order.
	MatchFirst
)

// Options tune an Engine. nil means defaults.
type Options struct {
	Mode MatchMode
	// Hostname is evt.hostname and the alerts' hostname.
	Hostname string
	// Users resolves user.name and group.name. nil reads the host's
	// /etc/passwd and /etc/group (cached, see event.PasswdDB).
	Users event.UserDB
	// StateMaxEntries and StateMaxBytes bound the state of stateful
	// rules (keys, accounted memory); 0 means DefaultStateMaxEntries and
	// DefaultStateMaxBytes. The least recently updated keys are evicted.
	StateMaxEntries int
	StateMaxBytes   int
}

// FieldValue is one output field of an alert: its name as written in the
// output (proc.aname[2], evt.arg.flags) and its typed value: string,
// int64, uint64, bool, or nil when the field has no value.
type FieldValue struct {
	Name  string
	Value any
}

// Match is an alert: the rule that matched and its formatted output.
// The callback owns it (it is not reused).
type Match struct {
	Rule     *rules.Rule
	Time     int64 // event time, ns since the epoch
	Hostname string
	Output   string
	Fields   []FieldValue
}

// Engine evaluates rules. Evaluate must be called from one goroutine at a
// time; Swap may be called from any goroutine.
type Engine struct {
	prog  atomic.Pointer[program]
	ctx   event.FieldCtx
	mode  MatchMode
	buf   []byte
	stats Stats
	cur   *program // the program of the event being evaluated
	// state holds the stateful rules' state; bound is the sequence in
	// progress whose kept values the condition being evaluated reads.
	state *stateStore
	bound *partial
}

// Stats counts the engine's work.
type Stats struct {
	Events  uint64 // events evaluated
	Matches uint64 // alerts produced
}

// New returns an engine evaluating rs (which may be nil: no rules).
func New(rs *rules.Ruleset, opts *Options) *Engine {
	if opts == nil {
		opts = &Options{}
	}
	e := &Engine{mode: opts.Mode, state: newStateStore(opts.StateMaxEntries, opts.StateMaxBytes)}
	e.ctx.Hostname = opts.Hostname
	e.ctx.Users = opts.Users
	if e.ctx.Users == nil {
		e.ctx.Users = event.NewPasswdDB("")
	}
	e.ctx.HostName = func(ip netip.Addr) string {
		if p := e.prog.Load(); p.rs != nil {
			return p.rs.HostName(ip)
		}
		return ""
	}
	e.prog.Store(newProgram(rs))
	return e
}

// Swap replaces the ruleset atomically and returns the previous one.
// Events being evaluated finish with the old rules.
func (e *Engine) Swap(rs *rules.Ruleset) *rules.Ruleset {
	p := newProgram(rs)
	p.reload = true
	old := e.prog.Swap(p)
	return old.rs
}

// Ruleset returns the current ruleset.
func (e *Engine) Ruleset() *rules.Ruleset { return e.prog.Load().rs }

// RulesFor returns the rules that run for events of type t.
func (e *Engine) RulesFor(t event.Type) []*rules.Rule {
	if t >= event.NumTypes {
		return nil
	}
	return e.prog.Load().byType[t]
}

// Stats returns counters (call from the evaluating goroutine).
func (e *Engine) Stats() Stats { return e.stats }

// StateStats returns the counters of the stateful rules' state; safe to
// call from any goroutine.
func (e *Engine) StateStats() StateStats {
	s := e.state
	return StateStats{Entries: s.nEntries.Load(), Bytes: s.nBytes.Load(), Evicted: s.evicted.Load(),
		Expired: s.expired.Load(), Kept: s.kept.Load()}
}

// Evaluate runs the rules for ev's type and calls fn for each match (only
// the first in MatchFirst mode). It returns the number of matches. An
// event that matches nothing costs no allocation.
func (e *Engine) Evaluate(ev *event.Event, fn func(*Match)) int {
	e.stats.Events++
	e.ctx.Num = e.stats.Events
	e.ctx.Tick(ev.Time)
	if ev.Type >= event.NumTypes {
		return 0
	}
	p := e.prog.Load()
	e.cur = p
	if e.state.prog != p {
		e.state.reconcile(p) // a new ruleset: keep the state of unchanged stateful rules, drop the rest
	}
	n := 0
	progs := p.progs[ev.Type]
	ix := p.index[ev.Type]
	if ix != nil {
		ix.candidates(e, ev)
	}
	for i := range progs {
		if ix != nil && ix.cand[i/64]&(1<<(i%64)) == 0 {
			continue // an indexed test of the rule is false
		}
		rp := &progs[i]
		r := rp.rule
		if rp.state >= 0 {
			if !e.stateful(p, rp, ev, fn) {
				continue
			}
			n++
			if e.mode == MatchFirst {
				break
			}
			continue
		}
		if g := rp.guard; g != nil && g.gen == e.stats.Events && g.val == rp.guardNeg {
			continue // the first operand, a macro, is already known to be false
		}
		e.ctx.Reset()
		if !all(rp.conj, e, ev) {
			continue
		}
		n++
		e.stats.Matches++
		if fn != nil {
			fn(e.format(r, ev))
		}
		if e.mode == MatchFirst {
			break
		}
	}
	return n
}

// all reports whether every cond holds, in order.
func all(conds []cond, e *Engine, ev *event.Event) bool {
	for _, c := range conds {
		if !c(e, ev) {
			return false
		}
	}
	return true
}

// Matches reports whether the rule's condition holds for ev (for tests and
// tools; it does not format). It evaluates the condition as written, not
// the program Evaluate runs: the reference the compiled form is tested
// against.
func (e *Engine) Matches(r *rules.Rule, ev *event.Event) bool {
	e.stats.Events++
	e.ctx.Num = e.stats.Events
	e.ctx.Tick(ev.Time)
	e.cur = e.prog.Load()
	e.ctx.Reset()
	return e.eval(r.Cond, ev)
}

func (e *Engine) eval(x rules.Expr, ev *event.Event) bool {
	switch x := x.(type) {
	case *rules.Cmp:
		return e.cmp(x, ev)
	case *rules.And:
		for _, y := range x.Xs {
			if !e.eval(y, ev) {
				return false
			}
		}
		return true
	case *rules.Or:
		for _, y := range x.Xs {
			if e.eval(y, ev) {
				return true
			}
		}
		return false
	case *rules.Not:
		return !e.eval(x.X, ev)
	case *rules.Cached:
		p := e.cur
		if x.Slot < len(p.slots) {
			s := &p.slots[x.Slot]
			if s.gen == e.stats.Events {
				return s.val
			}
			v := e.eval(x.X, ev)
			s.gen, s.val = e.stats.Events, v
			return v
		}
		return e.eval(x.X, ev)
	case *rules.Const:
		return x.V
	}
	return false
}

// extract extracts an operand and applies its transformers.
func (e *Engine) extract(o *rules.Operand, ev *event.Event) (event.Value, bool) {
	if o.Step > 0 {
		return e.boundValue(o)
	}
	v, ok := o.Field.Extract(&e.ctx, ev, &o.Arg)
	if !ok {
		return v, false
	}
	return e.transform(o, v)
}

func (e *Engine) transform(o *rules.Operand, v event.Value) (event.Value, bool) {
	for _, t := range o.Trans {
		switch t {
		case rules.TrToLower, rules.TrToUpper:
			b := e.ctx.Bytes()
			start := len(b)
			for i := 0; i < len(v.Str); i++ {
				c := v.Str[i]
				if t == rules.TrToLower && c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				} else if t == rules.TrToUpper && c >= 'a' && c <= 'z' {
					c -= 'a' - 'A'
				}
				b = append(b, c)
			}
			v.Str = e.ctx.Commit(b, start)
		case rules.TrB64:
			b := e.ctx.Bytes()
			start := len(b)
			n := base64.StdEncoding.DecodedLen(len(v.Str))
			for i := 0; i < n; i++ {
				b = append(b, 0)
			}
			m, err := base64.StdEncoding.Decode(b[start:], []byte(v.Str))
			if err != nil {
				return v, false
			}
			v.Str = e.ctx.Commit(b[:start+m], start)
		case rules.TrBasename:
			i := strings.LastIndexByte(v.Str, '/')
			v.Str = v.Str[i+1:]
		case rules.TrLen:
			v = event.Value{Num: uint64(len(v.Str))}
		}
	}
	return v, true
}

func (e *Engine) cmp(c *rules.Cmp, ev *event.Event) bool {
	if c.IsEvtType {
		return c.EvtTypes.Has(ev.Type) != c.EvtTypesNeg
	}
	l := &c.L
	if c.HostAddr != nil {
		v, ok := c.HostAddr.Extract(&e.ctx, ev, &l.Arg)
		if !ok {
			return false
		}
		switch c.Op {
		case rules.OpExists:
			return e.ctx.HostName(v.IP) != ""
		case rules.OpNe:
			return !matchHost(c.Hosts, v.IP)
		}
		return matchHost(c.Hosts, v.IP)
	}
	switch l.Multi {
	case event.MultiAny:
		if c.Op == rules.OpNe && l.Field.NotEqualAll {
			seen := false
			for i := 0; ; i++ {
				v, ok := l.Field.Elem(&e.ctx, ev, &l.Arg, i)
				if !ok {
					break
				}
				if v, ok = e.transform(l, v); !ok {
					continue
				}
				seen = true
				if e.match(c, v, ev, rules.OpEq) {
					return false
				}
			}
			return seen
		}
		for i := 0; ; i++ {
			v, ok := l.Field.Elem(&e.ctx, ev, &l.Arg, i)
			if !ok {
				return false
			}
			if v, ok = e.transform(l, v); !ok {
				continue
			}
			if c.Op == rules.OpExists || e.match(c, v, ev, c.Op) {
				return true
			}
		}
	case event.MultiList:
		if c.Op == rules.OpExists {
			_, ok := l.Field.Extract(&e.ctx, ev, &l.Arg)
			return ok
		}
		if _, ok := l.Field.Extract(&e.ctx, ev, &l.Arg); !ok {
			return false
		}
		if len(l.Trans) > 0 && l.Trans[len(l.Trans)-1] == rules.TrLen {
			n := 0
			for ; ; n++ {
				if _, ok := l.Field.Elem(&e.ctx, ev, &l.Arg, n); !ok {
					break
				}
			}
			return e.match(c, event.Value{Num: uint64(n)}, ev, c.Op)
		}
		for i := 0; ; i++ {
			v, ok := l.Field.Elem(&e.ctx, ev, &l.Arg, i)
			if !ok {
				break
			}
			v, _ = e.transform(l, v)
			in := e.match(c, v, ev, rules.OpIn)
			if c.Op == rules.OpIntersects && in {
				return true
			}
			if c.Op == rules.OpIn && !in {
				return false
			}
		}
		return c.Op == rules.OpIn // in: every element (possibly none) is in the set
	}
	v, ok := e.extract(l, ev)
	if !ok {
		return false
	}
	if c.Op == rules.OpExists {
		return true
	}
	return e.match(c, v, ev, c.Op)
}

// matchHost reports whether ip is an address of one of the host names.
func matchHost(hosts []*hostnames.Entry, ip netip.Addr) bool {
	for _, h := range hosts {
		if h.Match(ip) {
			return true
		}
	}
	return false
}

// matchCount counts the values of a modified string comparison (glob,
// regex or a string operator) that v matches, for oneof.
func (e *Engine) matchCount(c *rules.Cmp, v event.Value, op rules.Op) int {
	n := 0
	s := v.Str
	switch op {
	case rules.OpGlob, rules.OpIGlob:
		if op == rules.OpIGlob {
			s = e.lower(s)
		}
		for _, g := range c.Globs {
			if globMatch(g, s) {
				n++
			}
		}
	case rules.OpRegex:
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		for _, re := range c.Regexes {
			if re.MatchString(s) {
				n++
			}
		}
	default:
		for _, x := range c.Strs {
			if matchStr(op, s, x) {
				n++
			}
		}
	}
	return n
}

// match compares one extracted value with the comparison's right-hand
// side using op.
func (e *Engine) match(c *rules.Cmp, v event.Value, ev *event.Event, op rules.Op) bool {
	if c.R != nil {
		return e.matchOperand(c, v, ev, op)
	}
	t := c.L.Type
	all := c.Mod == rules.ModAllOf
	switch {
	case t == event.FieldString && c.Mod == rules.ModOneOf:
		return e.matchCount(c, v, op) == 1
	case t == event.FieldString:
		switch op {
		case rules.OpIn, rules.OpIntersects:
			if c.Set != nil {
				_, ok := c.Set[v.Str]
				return ok
			}
			for _, s := range c.Strs {
				if s == v.Str {
					return true
				}
			}
			return false
		case rules.OpPMatch:
			for _, p := range c.Paths {
				if pmatch(p, v.Str) {
					return true
				}
			}
			return false
		case rules.OpGlob, rules.OpIGlob:
			s := v.Str
			if op == rules.OpIGlob {
				s = e.lower(s)
			}
			for _, g := range c.Globs {
				if globMatch(g, s) != all {
					return !all
				}
			}
			return all
		case rules.OpRegex:
			s := v.Str
			if !utf8.ValidString(s) {
				s = strings.ToValidUTF8(s, "\uFFFD")
			}
			for _, re := range c.Regexes {
				if re.MatchString(s) != all {
					return !all
				}
			}
			return all
		}
		for _, s := range c.Strs {
			if matchStr(op, v.Str, s) != all {
				return !all
			}
		}
		return all
	case t == event.FieldIPAddr:
		if op == rules.OpNe {
			for _, ip := range c.IPs {
				if v.IP == ip {
					return false
				}
			}
			return true
		}
		for _, ip := range c.IPs {
			if v.IP == ip {
				return true
			}
		}
		return false
	case t == event.FieldIPNet:
		in := false
		for _, n := range c.Nets {
			if v.IP.IsValid() && n.Contains(v.IP.Unmap()) {
				in = true
				break
			}
		}
		if op == rules.OpNe {
			return !in
		}
		return in
	default: // numbers and bools
		k := kindOf(t)
		for _, n := range c.Nums {
			if cmpNum(op, v.Num, n, k) {
				return true
			}
		}
		return false
	}
}

// numKind says how the bits of Value.Num compare.
type numKind uint8

const (
	numUnsigned numKind = iota // uint64 (and bools, times)
	numSigned                  // int64
	numFloat                   // float64 (FieldFloat)
)

func kindOf(t event.FieldType) numKind {
	switch t {
	case event.FieldInt:
		return numSigned
	case event.FieldFloat:
		return numFloat
	}
	return numUnsigned
}

func cmpNum(op rules.Op, a, b uint64, k numKind) bool {
	if k == numFloat {
		return cmpFloat(op, math.Float64frombits(a), math.Float64frombits(b))
	}
	var lt bool
	if k == numSigned {
		lt = int64(a) < int64(b)
	} else {
		lt = a < b
	}
	switch op {
	case rules.OpEq, rules.OpIn, rules.OpIntersects:
		return a == b
	case rules.OpNe:
		return a != b
	case rules.OpLt:
		return lt
	case rules.OpLe:
		return lt || a == b
	case rules.OpGt:
		return !lt && a != b
	case rules.OpGe:
		return !lt
	}
	return false
}

// cmpFloat compares as Falco's flt_compare_double does (IEEE: NaN is
// equal to nothing).
func cmpFloat(op rules.Op, a, b float64) bool {
	switch op {
	case rules.OpEq, rules.OpIn, rules.OpIntersects:
		return a == b
	case rules.OpNe:
		return a != b
	case rules.OpLt:
		return a < b
	case rules.OpLe:
		return a <= b
	case rules.OpGt:
		return a > b
	case rules.OpGe:
		return a >= b
	}
	return false
}

func matchStr(op rules.Op, v, s string) bool {
	switch op {
	case rules.OpEq:
		return v == s
	case rules.OpNe:
		return v != s
	case rules.OpContains, rules.OpBContains:
		return strings.Contains(v, s)
	case rules.OpIContains:
		return containsFold(v, s)
	case rules.OpStartsWith, rules.OpBStartsWith:
		return strings.HasPrefix(v, s)
	case rules.OpEndsWith:
		return strings.HasSuffix(v, s)
	}
	return false
}

// containsFold reports whether s contains sub (already lower case),
// ignoring ASCII case, without allocating.
func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

func (e *Engine) lower(s string) string {
	b := e.ctx.Bytes()
	start := len(b)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return e.ctx.Commit(b, start)
}

// matchOperand compares with a val(field) right-hand side.
func (e *Engine) matchOperand(c *rules.Cmp, v event.Value, ev *event.Event, op rules.Op) bool {
	r, ok := e.extract(c.R, ev)
	if !ok {
		return false
	}
	switch c.L.Type {
	case event.FieldString:
		switch op {
		case rules.OpIn, rules.OpIntersects:
			return v.Str == r.Str
		case rules.OpIContains:
			return containsFold(v.Str, e.lower(r.Str))
		case rules.OpGlob:
			return globMatch(r.Str, v.Str)
		case rules.OpIGlob:
			return globMatch(e.lower(r.Str), e.lower(v.Str))
		case rules.OpPMatch:
			return pmatch(r.Str, v.Str)
		}
		return matchStr(op, v.Str, r.Str)
	case event.FieldIPAddr, event.FieldIPNet:
		if op == rules.OpNe {
			return v.IP != r.IP
		}
		return v.IP == r.IP
	}
	return cmpNum(op, v.Num, r.Num, kindOf(c.L.Type))
}
