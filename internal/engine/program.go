package engine

import (
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
)

// program is a ruleset prepared for evaluation. For each event type it holds
// the rules that can match that type, each compiled for that type (see
// compileFor): the comparisons of evt.type are decided once, when the
// program is built, negations are pushed down to the comparisons, the
// operands of every and/or are put in the order expected to settle the
// result soonest, each comparison becomes a closure specialised for its
// operator and type, and the string fields several rules test are indexed
// (index.go). The result is the same as evaluating the rules' conditions as
// written (Engine.Matches does; TestCompiledMatchesReference and
// TestCompiledMatchesReferenceOnRuleConstants compare them): conditions
// have no side effects, and a comparison of a field with no value is false
// wherever it sits, as in Falco.
type program struct {
	rs     *rules.Ruleset
	byType [event.NumTypes][]*rules.Rule
	// progs[t][i] is byType[t][i] compiled for events of type t; index[t]
	// selects the ones an event can match (nil: all are tried).
	progs [event.NumTypes][]ruleProg
	index [event.NumTypes]*ruleIndex
	// slots are the per-event results of the macro expressions, by
	// rules.Cached.Slot.
	slots []slot
	// stateful are the stateful rules; states, their state in the same
	// order, is filled by the evaluating goroutine (stateStore.reconcile).
	// reload is true for a program installed by Swap.
	stateful []*rules.Rule
	states   []*ruleState
	reload   bool
}

// slot is the result of a macro for one event: valid when gen is the
// event's number.
type slot struct {
	gen uint64
	val bool
}

// cond is a compiled condition: whether it holds for ev.
type cond func(e *Engine, ev *event.Event) bool

// ruleProg is a rule compiled for one event type.
type ruleProg struct {
	rule *rules.Rule
	// cond is a stateful rule's condition: for a sequence its last step,
	// for a threshold the events it counts.
	cond cond
	// conj are the operands of a stateless rule's condition as an and
	// (the condition itself when it is not an and), which Evaluate runs
	// in order. When the first is a macro whose result the event may
	// already have, guard is its slot: Evaluate skips the rule without a
	// call when the kept result is guardNeg.
	conj     []cond
	guard    *slot
	guardNeg bool
	// steps are a sequence's earlier steps, in order.
	steps []cond
	// state indexes the stateful rule in program.stateful (-1 for a
	// stateless rule).
	state int
}

func newProgram(rs *rules.Ruleset) *program {
	p := &program{rs: rs}
	if rs == nil {
		return p
	}
	p.slots = make([]slot, rs.Slots)
	for _, r := range rs.Rules {
		if r.State != nil {
			p.stateful = append(p.stateful, r)
		}
		for t := event.Type(1); t < event.NumTypes; t++ {
			if r.Types.Has(t) {
				p.byType[t] = append(p.byType[t], r)
			}
		}
	}
	shared := &typeFree{conj: map[*rules.Rule][]rules.Expr{}, lowered: map[typeFreeKey]ruleProg{}}
	for t := event.Type(1); t < event.NumTypes; t++ {
		if len(p.byType[t]) > 0 {
			p.progs[t] = p.compileFor(t, shared)
		}
	}
	return p
}

// typeFree holds the compiled forms of the stateless rules whose condition
// does not depend on the event type (no evt.type comparison: such a rule
// runs for every type), compiled once for all types: their ordered and
// operands, and the lowered ones by the operand the type's index took out.
type typeFree struct {
	conj    map[*rules.Rule][]rules.Expr
	lowered map[typeFreeKey]ruleProg
}

type typeFreeKey struct {
	r       *rules.Rule
	removed int
}

// compileFor compiles the rules of type t for events of type t.
func (p *program) compileFor(t event.Type, shared *typeFree) []ruleProg {
	rs := p.byType[t]
	c := &typeCompiler{t: t, p: p, spec: map[*rules.Cached]rules.Expr{}, uses: map[*rules.Cached]int{},
		order: map[*rules.Cached]*rules.Cached{}, costs: map[*rules.Cached]estimate{}, norm: map[*rules.Cached]*rules.Cached{}, lowered: map[cachedKey]cond{}}
	// Specialise every condition first: the macros' costs depend on how
	// many rules of the type share them.
	xs := make([][]rules.Expr, len(rs))
	for i, r := range rs {
		conds := []rules.Expr{r.Cond}
		if r.State != nil {
			conds = nil
			for _, s := range r.State.Steps {
				conds = append(conds, s.Cond)
			}
			conds = append(conds, r.Cond)
		}
		seen := map[*rules.Cached]bool{}
		for _, x := range conds {
			x = c.specialize(x)
			c.countUses(x, seen)
			xs[i] = append(xs[i], x)
		}
	}
	out := make([]ruleProg, len(rs))
	conjs := make([][]rules.Expr, len(rs)) // the stateless rules' and operands
	free := make([]bool, len(rs))
	for i, r := range rs {
		if r.State != nil {
			continue
		}
		free[i] = xs[i][0] == r.Cond // nothing decided for the type
		if cs, ok := shared.conj[r]; ok && free[i] {
			conjs[i] = cs
			continue
		}
		x := c.reorder(c.normalize(xs[i][0], false))
		if a, ok := x.(*rules.And); ok {
			conjs[i] = a.Xs
		} else {
			conjs[i] = []rules.Expr{x}
		}
		if free[i] {
			shared.conj[r] = conjs[i]
		}
	}
	var removed []int
	p.index[t], removed = buildIndex(conjs)
	for i, r := range rs {
		rp := ruleProg{rule: r, state: -1}
		if r.State == nil {
			k := typeFreeKey{r, removed[i]}
			if l, ok := shared.lowered[k]; ok && free[i] {
				rp = l
			} else {
				rp.conj, rp.guard, rp.guardNeg = c.lowerConj(conjs[i])
				if free[i] {
					shared.lowered[k] = rp
				}
			}
		} else {
			lowered := make([]cond, len(xs[i]))
			for j, x := range xs[i] {
				lowered[j] = c.lower(c.reorder(c.normalize(x, false)))
			}
			rp.cond = lowered[len(lowered)-1]
			rp.steps = lowered[:len(lowered)-1]
			for k, x := range p.stateful {
				if x == r {
					rp.state = k
				}
			}
		}
		out[i] = rp
	}
	return out
}

// typeCompiler compiles conditions for events of one type. Macros
// (rules.Cached) are shared between rules: each is specialised, ordered and
// lowered once, and keeps its slot in the per-event result cache (an event
// has one type, so the specialised form of a macro can use the slot of the
// macro as written).
type typeCompiler struct {
	t       event.Type
	p       *program
	spec    map[*rules.Cached]rules.Expr // macro as written -> specialised (a *rules.Cached or a *rules.Const)
	uses    map[*rules.Cached]int        // specialised (and reordered) macro -> rules of the type using it
	order   map[*rules.Cached]*rules.Cached
	costs   map[*rules.Cached]estimate
	norm    map[*rules.Cached]*rules.Cached
	lowered map[cachedKey]cond
}

var (
	constTrue  = &rules.Const{V: true}
	constFalse = &rules.Const{V: false}
)

func constOf(v bool) *rules.Const {
	if v {
		return constTrue
	}
	return constFalse
}

// specialize returns x with its evt.type comparisons decided for the
// compiler's type and the constants folded. It returns x itself when
// nothing changed.
func (c *typeCompiler) specialize(x rules.Expr) rules.Expr {
	switch x := x.(type) {
	case *rules.Cmp:
		if x.IsEvtType {
			return constOf(x.EvtTypes.Has(c.t) != x.EvtTypesNeg)
		}
		if isEvtNumZero(x) {
			// Falco's never_true idiom (evt.num=0), the guard of every
			// tuning macro: the engine numbers events from 1.
			return constOf(x.Op == rules.OpNe)
		}
		return x
	case *rules.And:
		return c.specializeList(x, x.Xs, true)
	case *rules.Or:
		return c.specializeList(x, x.Xs, false)
	case *rules.Not:
		y := c.specialize(x.X)
		if k, ok := y.(*rules.Const); ok {
			return constOf(!k.V)
		}
		if y == x.X {
			return x
		}
		return &rules.Not{X: y}
	case *rules.Cached:
		if y, ok := c.spec[x]; ok {
			return y
		}
		var out rules.Expr = x
		switch y := c.specialize(x.X); {
		case isConst(y):
			out = y
		case y != x.X:
			out = &rules.Cached{X: y, Slot: x.Slot, Name: x.Name}
		}
		c.spec[x] = out
		return out
	}
	return x
}

// isEvtNumZero reports whether x compares evt.num with 0 only (=, in, !=).
func isEvtNumZero(x *rules.Cmp) bool {
	if !plain(x) || x.L.Field.Name != "evt.num" || len(x.Nums) == 0 {
		return false
	}
	switch x.Op {
	case rules.OpEq, rules.OpIn, rules.OpIntersects, rules.OpNe:
	default:
		return false
	}
	for _, n := range x.Nums {
		if n != 0 {
			return false
		}
	}
	return true
}

func isConst(x rules.Expr) bool {
	_, ok := x.(*rules.Const)
	return ok
}

// specializeList specialises the operands of an and (and true) or an or:
// an operand that decides the result (false in an and, true in an or)
// becomes the result, the neutral ones are dropped.
func (c *typeCompiler) specializeList(x rules.Expr, xs []rules.Expr, and bool) rules.Expr {
	out := make([]rules.Expr, 0, len(xs))
	changed := false
	for _, y := range xs {
		z := c.specialize(y)
		if k, ok := z.(*rules.Const); ok {
			if k.V != and {
				return k
			}
			changed = true
			continue
		}
		changed = changed || z != y
		out = append(out, z)
	}
	switch {
	case !changed:
		return x
	case len(out) == 0:
		return constOf(and)
	case len(out) == 1:
		return out[0]
	case and:
		return &rules.And{Xs: out}
	}
	return &rules.Or{Xs: out}
}

// countUses counts, for each macro in x, one more rule using it.
func (c *typeCompiler) countUses(x rules.Expr, seen map[*rules.Cached]bool) {
	switch x := x.(type) {
	case *rules.And:
		for _, y := range x.Xs {
			c.countUses(y, seen)
		}
	case *rules.Or:
		for _, y := range x.Xs {
			c.countUses(y, seen)
		}
	case *rules.Not:
		c.countUses(x.X, seen)
	case *rules.Cached:
		if !seen[x] {
			seen[x] = true
			c.uses[x]++
			c.countUses(x.X, seen)
		}
	}
}

// normalize returns x (negated when neg) with the negations pushed down to
// the comparisons and macros (De Morgan: a condition is two-valued, a
// comparison of a field with no value simply false) and each and (or)
// inside an and (or) flattened into it. Macros stay shared: a negated
// macro is a negation over it.
func (c *typeCompiler) normalize(x rules.Expr, neg bool) rules.Expr {
	switch x := x.(type) {
	case *rules.Not:
		return c.normalize(x.X, !neg)
	case *rules.And, *rules.Or:
		and, xs := listOf(x)
		and = and != neg // not (a and b) is (not a) or (not b)
		out := make([]rules.Expr, 0, len(xs))
		for _, y := range xs {
			z := c.normalize(y, neg)
			if zand, zs := listOf(z); zs != nil && zand == and {
				out = append(out, zs...)
			} else {
				out = append(out, z)
			}
		}
		if and {
			return &rules.And{Xs: out}
		}
		return &rules.Or{Xs: out}
	case *rules.Cached:
		y, ok := c.norm[x]
		if !ok {
			y = &rules.Cached{X: c.normalize(x.X, false), Slot: x.Slot, Name: x.Name}
			c.norm[x] = y
			c.uses[y] = c.uses[x]
		}
		if neg {
			return &rules.Not{X: y}
		}
		return y
	case *rules.Const:
		return constOf(x.V != neg)
	}
	if neg {
		return &rules.Not{X: x}
	}
	return x
}

// listOf returns whether x is an and, and its operands; nil operands when
// x is neither an and nor an or.
func listOf(x rules.Expr) (and bool, xs []rules.Expr) {
	switch x := x.(type) {
	case *rules.And:
		return true, x.Xs
	case *rules.Or:
		return false, x.Xs
	}
	return false, nil
}

// estimate is the expected cost of evaluating an expression (in units of
// one plain comparison) and the probability that it holds, guessed from
// its operators: equalities and set memberships rarely hold, != and
// negations usually do. Only the order of operands depends on it, never
// the result.
type estimate struct{ cost, p float64 }

// reorder returns x with the operands of each and/or sorted so that the
// cheapest operand most likely to decide the result comes first: for an
// and, by cost/(1-p) ascending; for an or, by cost/p. This order minimises
// the expected cost of a short-circuit evaluation of independent operands;
// ties keep the written order.
func (c *typeCompiler) reorder(x rules.Expr) rules.Expr {
	switch x := x.(type) {
	case *rules.And:
		return &rules.And{Xs: c.sortOperands(x.Xs, true)}
	case *rules.Or:
		return &rules.Or{Xs: c.sortOperands(x.Xs, false)}
	case *rules.Not:
		return &rules.Not{X: c.reorder(x.X)}
	case *rules.Cached:
		if y, ok := c.order[x]; ok {
			return y
		}
		y := &rules.Cached{X: c.reorder(x.X), Slot: x.Slot, Name: x.Name}
		c.order[x] = y
		c.uses[y] = c.uses[x]
		return y
	}
	return x
}

func (c *typeCompiler) sortOperands(xs []rules.Expr, and bool) []rules.Expr {
	type item struct {
		x   rules.Expr
		key float64
	}
	items := make([]item, len(xs))
	for i, y := range xs {
		y = c.reorder(y)
		est := c.estimate(y)
		decides := 1 - est.p // probability that the operand settles an and
		if !and {
			decides = est.p
		}
		key := est.cost / max(decides, 1e-3)
		items[i] = item{y, key}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].key < items[j].key })
	out := make([]rules.Expr, len(items))
	for i, it := range items {
		out[i] = it.x
	}
	return out
}

// estimate guesses x's cost and probability of holding (x already
// reordered).
func (c *typeCompiler) estimate(x rules.Expr) estimate {
	switch x := x.(type) {
	case *rules.Cmp:
		return cmpEstimate(x)
	case *rules.And, *rules.Or:
		and := false
		var xs []rules.Expr
		if a, ok := x.(*rules.And); ok {
			and, xs = true, a.Xs
		} else {
			xs = x.(*rules.Or).Xs
		}
		cost, reach := 0.0, 1.0 // reach: probability that the operand is evaluated
		merged := map[fieldKey]bool{}
		for _, y := range xs {
			est := c.estimate(y)
			if m := mergedOperand(y, and); m != nil {
				// Merged with the first comparison of its field
				// (lowerList): one more constant to test.
				k := fieldKey{m.L.Field, m.L.Arg}
				if merged[k] {
					est.cost = 0.3
				}
				merged[k] = true
			}
			cost += reach * est.cost
			if and {
				reach *= est.p
			} else {
				reach *= 1 - est.p
			}
		}
		if and {
			return estimate{cost, reach}
		}
		return estimate{cost, 1 - reach}
	case *rules.Not:
		est := c.estimate(x.X)
		return estimate{est.cost, 1 - est.p}
	case *rules.Cached:
		if est, ok := c.costs[x]; ok {
			return est
		}
		est := c.estimate(x.X)
		// Evaluated once per event however many rules use it: each
		// pays its share, and a look-up in the result cache.
		est.cost = 0.3 + est.cost/float64(max(c.uses[x], 1))
		c.costs[x] = est
		return est
	case *rules.Const:
		if x.V {
			return estimate{0, 1}
		}
		return estimate{0, 0}
	}
	return estimate{1, 0.5}
}

// cmpEstimate guesses the cost and probability of one comparison.
func cmpEstimate(x *rules.Cmp) estimate {
	l := &x.L
	cost := 1.0
	if l.Multi != event.MultiNone {
		cost += 4 // one value per ancestor, endpoint or list element
	}
	if l.Field != nil && l.Field.Arg == event.ArgEvtArg {
		cost += 2 // arguments are formatted (flags, modes)
	}
	cost += 2 * float64(len(l.Trans))
	if x.R != nil {
		cost++
	}
	if x.HostAddr != nil {
		cost += 2
	}
	p := 0.5
	switch x.Op {
	case rules.OpEq:
		p = 0.1
		if l.Type == event.FieldBool {
			p = 0.5
		}
	case rules.OpNe:
		p = 0.9
		if l.Type == event.FieldBool {
			p = 0.5
		}
	case rules.OpIn, rules.OpIntersects:
		p = 0.2
		if x.Set == nil {
			cost += float64(len(x.Strs)+len(x.Nums)) / 8
		} else {
			cost++
		}
	case rules.OpStartsWith, rules.OpBStartsWith, rules.OpEndsWith:
		p = 0.15
	case rules.OpContains, rules.OpBContains, rules.OpIContains:
		p, cost = 0.1, cost+2
	case rules.OpPMatch:
		p, cost = 0.15, cost+1+float64(len(x.Paths))/4
	case rules.OpGlob, rules.OpIGlob:
		p, cost = 0.1, cost+3*float64(len(x.Globs))
	case rules.OpRegex:
		p, cost = 0.1, cost+15*float64(len(x.Regexes))
	case rules.OpExists:
		p = 0.9
	}
	if x.Mod != rules.ModNone {
		cost += float64(len(x.Strs) + len(x.Globs) + len(x.Regexes))
	}
	switch {
	case len(x.Strs) == 1 && len(x.Strs[0]) <= 1 && x.Op != rules.OpNe:
		// One character (fd.typechar = f, evt.res startswith E,
		// fd.filename startswith .): a small vocabulary, often true.
		p = 0.5
	case len(x.Nums) == 1 && x.Nums[0] == 0 && l.Type == event.FieldInt:
		switch x.Op { // a sign test (fd.num >= 0): usually non-negative
		case rules.OpGe, rules.OpGt:
			p = 0.9
		case rules.OpLt, rules.OpLe:
			p = 0.1
		}
	}
	return estimate{cost, p}
}

// lower turns a specialised, normalised, reordered expression into a
// closure. A negation sits on a comparison or a macro (normalize) and is
// compiled into it.
func (c *typeCompiler) lower(x rules.Expr) cond {
	switch x := x.(type) {
	case *rules.Const:
		if x.V {
			return func(*Engine, *event.Event) bool { return true }
		}
		return func(*Engine, *event.Event) bool { return false }
	case *rules.Not:
		switch y := x.X.(type) {
		case *rules.Cmp:
			return lowerCmp(y, true)
		case *rules.Cached:
			return c.lowerCached(y, true)
		}
		y := c.lower(x.X)
		return func(e *Engine, ev *event.Event) bool { return !y(e, ev) }
	case *rules.And:
		ys := c.lowerList(x.Xs, true)
		if len(ys) == 1 {
			return ys[0]
		}
		if len(ys) == 2 {
			a, b := ys[0], ys[1]
			return func(e *Engine, ev *event.Event) bool { return a(e, ev) && b(e, ev) }
		}
		return func(e *Engine, ev *event.Event) bool {
			for _, y := range ys {
				if !y(e, ev) {
					return false
				}
			}
			return true
		}
	case *rules.Or:
		ys := c.lowerList(x.Xs, false)
		if len(ys) == 1 {
			return ys[0]
		}
		if len(ys) == 2 {
			a, b := ys[0], ys[1]
			return func(e *Engine, ev *event.Event) bool { return a(e, ev) || b(e, ev) }
		}
		return func(e *Engine, ev *event.Event) bool {
			for _, y := range ys {
				if y(e, ev) {
					return true
				}
			}
			return false
		}
	case *rules.Cached:
		return c.lowerCached(x, false)
	case *rules.Cmp:
		return lowerCmp(x, false)
	}
	return func(*Engine, *event.Event) bool { return false }
}

// lowerConj lowers the operands of a rule's and, and returns the guard of
// the first (see ruleProg).
func (c *typeCompiler) lowerConj(xs []rules.Expr) (conj []cond, guard *slot, guardNeg bool) {
	conj = c.lowerList(xs, true)
	if len(xs) == 0 {
		return conj, nil, false
	}
	first := xs[0]
	if n, ok := first.(*rules.Not); ok {
		first, guardNeg = n.X, true
	}
	if m, ok := first.(*rules.Cached); ok && m.Slot < len(c.p.slots) && mergeable(m) == nil {
		guard = &c.p.slots[m.Slot]
	}
	return conj, guard, guardNeg
}

// lowerCached compiles a macro: its expression is evaluated once per event,
// the result kept in the macro's slot (negated when neg).
func (c *typeCompiler) lowerCached(x *rules.Cached, neg bool) cond {
	key := cachedKey{x, neg}
	if y, ok := c.lowered[key]; ok {
		return y
	}
	inner := c.lower(x.X)
	var y cond
	if x.Slot < len(c.p.slots) {
		s := &c.p.slots[x.Slot]
		y = func(e *Engine, ev *event.Event) bool {
			if s.gen == e.stats.Events {
				return s.val != neg
			}
			v := inner(e, ev)
			s.gen, s.val = e.stats.Events, v
			return v != neg
		}
	} else {
		y = func(e *Engine, ev *event.Event) bool { return inner(e, ev) != neg }
	}
	c.lowered[key] = y
	return y
}

type cachedKey struct {
	x   *rules.Cached
	neg bool
}

// lowerList lowers the operands of an and (and true) or an or. The string
// comparisons of one field (=, in, startswith, endswith on the same field
// and argument, without transformers) are merged into one that extracts
// the field once and tests the value against all their constants, in the
// place of the first of them: in an or the comparisons themselves, in an
// and their negations (not a and not b is not (a or b)).
func (c *typeCompiler) lowerList(xs []rules.Expr, and bool) []cond {
	type group struct {
		at int // index in ys
		m  *strMatcher
	}
	groups := map[fieldKey]*group{}
	var ys []cond
	for _, x := range xs {
		cmp := mergedOperand(x, and)
		if cmp == nil {
			ys = append(ys, c.lower(x))
			continue
		}
		k := fieldKey{cmp.L.Field, cmp.L.Arg}
		g := groups[k]
		if g == nil {
			g = &group{at: len(ys), m: &strMatcher{field: cmp.L.Field, arg: cmp.L.Arg, first: x, neg: and}}
			groups[k] = g
			ys = append(ys, nil)
		}
		g.m.add(cmp)
	}
	for _, g := range groups {
		if g.m.n == 1 {
			ys[g.at] = c.lower(g.m.first)
			continue
		}
		ys[g.at] = g.m.lower()
	}
	return ys
}

// fieldKey is a field with its argument.
type fieldKey struct {
	f   *event.Field
	arg event.FieldArg
}

// mergedOperand returns the comparison lowerList merges operand x of an
// and (and true) or an or into others of its field, nil when it does not.
func mergedOperand(x rules.Expr, and bool) *rules.Cmp {
	if and {
		n, ok := x.(*rules.Not)
		if !ok {
			return nil
		}
		x = n.X
	}
	return mergeable(x)
}

// mergeable returns the comparison x is (directly or as a macro) when it
// can be merged with others of its field, nil otherwise.
func mergeable(x rules.Expr) *rules.Cmp {
	if m, ok := x.(*rules.Cached); ok {
		x = m.X
	}
	cmp, ok := x.(*rules.Cmp)
	if !ok || !plain(cmp) || cmp.L.Type != event.FieldString {
		return nil
	}
	switch cmp.Op {
	case rules.OpEq, rules.OpIn, rules.OpIntersects, rules.OpStartsWith, rules.OpEndsWith:
		return cmp
	}
	return nil
}

// plain reports whether a comparison is of a single-valued field of the
// event, without transformers or modifier, with constants.
func plain(x *rules.Cmp) bool {
	l := &x.L
	return x.R == nil && x.HostAddr == nil && !x.IsEvtType && l.Step == 0 && l.Multi == event.MultiNone &&
		len(l.Trans) == 0 && x.Mod == rules.ModNone && l.Field != nil && l.Field.Extract != nil
}

// strMatcher tests one string field against the constants of several
// comparisons joined by or (or, with neg, the negations of several joined
// by and).
type strMatcher struct {
	field *event.Field
	arg   event.FieldArg
	first rules.Expr // the first comparison merged
	n     int        // comparisons merged
	neg   bool

	exact              []string
	prefixes, suffixes []string
}

func (m *strMatcher) add(cmp *rules.Cmp) {
	m.n++
	switch cmp.Op {
	case rules.OpStartsWith:
		m.prefixes = append(m.prefixes, cmp.Strs...)
	case rules.OpEndsWith:
		m.suffixes = append(m.suffixes, cmp.Strs...)
	default:
		m.exact = append(m.exact, cmp.Strs...)
	}
}

func (m *strMatcher) lower() cond {
	ext, arg, neg := m.field.Extract, &m.arg, m.neg
	var set map[string]struct{}
	exact := m.exact
	if len(exact) > 8 {
		set = make(map[string]struct{}, len(exact))
		for _, s := range exact {
			set[s] = struct{}{}
		}
		exact = nil
	}
	prefixes, suffixes := m.prefixes, m.suffixes
	return func(e *Engine, ev *event.Event) bool {
		v, ok := ext(&e.ctx, ev, arg)
		if !ok {
			return neg
		}
		for _, p := range prefixes {
			if strings.HasPrefix(v.Str, p) {
				return !neg
			}
		}
		for _, x := range exact {
			if x == v.Str {
				return !neg
			}
		}
		if set != nil {
			if _, in := set[v.Str]; in {
				return !neg
			}
		}
		for _, x := range suffixes {
			if strings.HasSuffix(v.Str, x) {
				return !neg
			}
		}
		return neg
	}
}

// lowerCmp compiles one comparison (negated when neg). The common shapes
// (a plain comparison of a string, number or bool) get a closure that
// extracts and compares directly; every other comparison goes through
// Engine.cmp.
func lowerCmp(x *rules.Cmp, neg bool) cond {
	generic := func(e *Engine, ev *event.Event) bool { return e.cmp(x, ev) != neg }
	if !plain(x) {
		return generic
	}
	l := &x.L
	ext, arg := l.Field.Extract, &l.Arg
	if x.Op == rules.OpExists {
		return func(e *Engine, ev *event.Event) bool {
			_, ok := ext(&e.ctx, ev, arg)
			return ok != neg
		}
	}
	switch t := l.Type; {
	case t == event.FieldString:
		if y := lowerStrCmp(x, neg); y != nil {
			return y
		}
	case t.Numeric() || t == event.FieldBool:
		k := kindOf(t)
		nums, op := x.Nums, x.Op
		if len(nums) == 1 && k != numFloat && (op == rules.OpEq || op == rules.OpIn || op == rules.OpIntersects) {
			n := nums[0]
			return func(e *Engine, ev *event.Event) bool {
				v, ok := ext(&e.ctx, ev, arg)
				return (ok && v.Num == n) != neg
			}
		}
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			if !ok {
				return neg
			}
			for _, n := range nums {
				if cmpNum(op, v.Num, n, k) {
					return !neg
				}
			}
			return neg
		}
	}
	return generic
}

// lowerStrCmp compiles a plain string comparison, nil for the operators
// left to Engine.cmp. (Each operator has its own closure: the comparison
// is inlined in it.)
func lowerStrCmp(x *rules.Cmp, neg bool) cond {
	ext, arg := x.L.Field.Extract, &x.L.Arg
	switch x.Op {
	case rules.OpIn, rules.OpIntersects:
		if set := x.Set; set != nil {
			return func(e *Engine, ev *event.Event) bool {
				v, ok := ext(&e.ctx, ev, arg)
				if !ok {
					return neg
				}
				_, in := set[v.Str]
				return in != neg
			}
		}
		strs := x.Strs
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			if !ok {
				return neg
			}
			for _, s := range strs {
				if s == v.Str {
					return !neg
				}
			}
			return neg
		}
	case rules.OpPMatch:
		paths := x.Paths
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			if !ok {
				return neg
			}
			for _, p := range paths {
				if pmatch(p, v.Str) {
					return !neg
				}
			}
			return neg
		}
	case rules.OpGlob:
		globs := x.Globs
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			if !ok {
				return neg
			}
			for _, g := range globs {
				if globMatch(g, v.Str) {
					return !neg
				}
			}
			return neg
		}
	}
	if len(x.Strs) != 1 {
		return nil
	}
	s := x.Strs[0]
	switch x.Op {
	case rules.OpEq:
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			return (ok && v.Str == s) != neg
		}
	case rules.OpNe:
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			return (ok && v.Str != s) != neg
		}
	case rules.OpStartsWith, rules.OpBStartsWith:
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			return (ok && strings.HasPrefix(v.Str, s)) != neg
		}
	case rules.OpEndsWith:
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			return (ok && strings.HasSuffix(v.Str, s)) != neg
		}
	case rules.OpContains, rules.OpBContains:
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			return (ok && strings.Contains(v.Str, s)) != neg
		}
	case rules.OpIContains:
		return func(e *Engine, ev *event.Event) bool {
			v, ok := ext(&e.ctx, ev, arg)
			return (ok && containsFold(v.Str, s)) != neg
		}
	}
	return nil
}
