package engine

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
)

// ruleIndex picks, for an event of one type, the rules that can match it
// from one read of a few string fields. A rule whose condition is an and
// with a string test of a field among its operands (=, in, startswith,
// endswith, or an or of those on one field) can only match when the field's
// value passes that test; when several rules of the type test the same
// field, the field is indexed: its value is looked up once among the
// constants of all of them (a map for the exact values, lists of prefixes
// and suffixes), which gives the set of rules whose test holds. That test
// is then left out of each rule's compiled condition: a rule is evaluated
// only when its bit is set, and the bit is set exactly when its test holds.
type ruleIndex struct {
	always []uint64 // rules without an indexed test (stateful ones too)
	fields []*fieldIndex
	cand   []uint64 // the candidates of the event being evaluated
}

// fieldIndex holds the constants of the indexed tests of one field.
type fieldIndex struct {
	field    *event.Field
	arg      event.FieldArg
	exact    map[string][]uint64
	prefixes []affix
	suffixes []affix
}

type affix struct {
	s    string
	bits []uint64
}

// minIndexed is the number of rules that must test a field for it to be
// indexed: below it, reading the field for every event of the type costs
// more than the rules' own tests.
const minIndexed = 3

// indexTest returns the indexable test that operand x of a rule's and is:
// a positive string comparison of a field (directly or as a macro) or an or
// of such comparisons, of one field or several; nil when it is none. A
// field whose values come from a small fixed vocabulary (evt.res,
// fd.typechar...) is not worth indexing.
func indexTest(x rules.Expr) []*rules.Cmp {
	if m, ok := x.(*rules.Cached); ok {
		x = m.X
	}
	xs := []rules.Expr{x}
	if or, ok := x.(*rules.Or); ok {
		xs = or.Xs
	}
	var cmps []*rules.Cmp
	for _, y := range xs {
		c := mergeable(y)
		if c == nil {
			return nil
		}
		if _, fixed := event.ValueDomain(c.L.Field.Name, c.L.Arg.Key, event.AllTypes()); fixed {
			return nil
		}
		cmps = append(cmps, c)
	}
	return cmps
}

// buildIndex chooses the indexed test of each stateless rule of a type
// (conjs[i] are rule i's top-level and operands; nil for a stateful rule),
// removes it from conjs[i] (into a new slice) and returns the index, nil
// when no field is tested by minIndexed rules, and the position of the
// operand removed from each rule (-1: none). A test of several fields (an
// or) is indexed when all of them are.
func buildIndex(conjs [][]rules.Expr) (*ruleIndex, []int) {
	type test struct {
		at   int // operand index
		cmps []*rules.Cmp
	}
	keyOf := func(c *rules.Cmp) fieldKey { return fieldKey{c.L.Field, c.L.Arg} }
	tests := make([][]test, len(conjs))
	count := map[fieldKey]int{}
	for i, xs := range conjs {
		seen := map[fieldKey]bool{}
		for j, x := range xs {
			if cmps := indexTest(x); cmps != nil {
				tests[i] = append(tests[i], test{j, cmps})
				for _, c := range cmps {
					if k := keyOf(c); !seen[k] {
						seen[k] = true
						count[k]++
					}
				}
			}
		}
	}
	// score is the rules sharing the least shared field of a test (0: a
	// field not indexed).
	score := func(t test) int {
		n := -1
		for _, c := range t.cmps {
			if m := count[keyOf(c)]; n < 0 || m < n {
				n = m
			}
		}
		if n < minIndexed {
			return 0
		}
		return n
	}
	words := (len(conjs) + 63) / 64
	ix := &ruleIndex{always: make([]uint64, words), cand: make([]uint64, words)}
	removed := make([]int, len(conjs))
	byField := map[fieldKey]*fieldIndex{}
	for i := range conjs {
		best := -1
		for j, t := range tests[i] {
			if sc := score(t); sc > 0 && (best < 0 || sc > score(tests[i][best])) {
				best = j
			}
		}
		removed[i] = -1
		if best < 0 {
			ix.always[i/64] |= 1 << (i % 64)
			continue
		}
		t := tests[i][best]
		for _, c := range t.cmps {
			k := keyOf(c)
			f := byField[k]
			if f == nil {
				f = &fieldIndex{field: k.f, arg: k.arg, exact: map[string][]uint64{}}
				byField[k] = f
				ix.fields = append(ix.fields, f)
			}
			for _, s := range c.Strs {
				switch c.Op {
				case rules.OpStartsWith:
					f.prefixes = addAffix(f.prefixes, s, i, words)
				case rules.OpEndsWith:
					f.suffixes = addAffix(f.suffixes, s, i, words)
				default:
					b := f.exact[s]
					if b == nil {
						b = make([]uint64, words)
						f.exact[s] = b
					}
					b[i/64] |= 1 << (i % 64)
				}
			}
		}
		conjs[i] = append(conjs[i][:t.at:t.at], conjs[i][t.at+1:]...)
		removed[i] = t.at
	}
	if len(ix.fields) == 0 {
		return nil, removed
	}
	return ix, removed
}

func addAffix(as []affix, s string, i, words int) []affix {
	for _, a := range as {
		if a.s == s {
			a.bits[i/64] |= 1 << (i % 64)
			return as
		}
	}
	a := affix{s: s, bits: make([]uint64, words)}
	a.bits[i/64] |= 1 << (i % 64)
	return append(as, a)
}

// candidates fills ix.cand with the rules that can match ev.
func (ix *ruleIndex) candidates(e *Engine, ev *event.Event) {
	cand := ix.cand
	copy(cand, ix.always)
	for _, f := range ix.fields {
		e.ctx.Reset()
		v, ok := f.field.Extract(&e.ctx, ev, &f.arg)
		if !ok {
			continue // every test of the field is false
		}
		if b, ok := f.exact[v.Str]; ok {
			or(cand, b)
		}
		for _, a := range f.prefixes {
			if strings.HasPrefix(v.Str, a.s) {
				or(cand, a.bits)
			}
		}
		for _, a := range f.suffixes {
			if strings.HasSuffix(v.Str, a.s) {
				or(cand, a.bits)
			}
		}
	}
}

func or(dst, src []uint64) {
	for i, w := range src {
		dst[i] |= w
	}
}
