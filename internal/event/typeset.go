package event

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// typeWords is the number of 64-bit words a TypeSet needs for NumTypes types.
const typeWords = (int(NumTypes) + 63) / 64

// TypeSet is a set of event types. It is a value (comparable with ==, no
// allocation to copy or test) and holds every Type below NumTypes, however
// many the event table grows to. The zero value is the empty set.
type TypeSet struct{ w [typeWords]uint64 }

// TypeSetOf returns the set of the given types; types outside the table are
// ignored.
func TypeSetOf(ts ...Type) TypeSet {
	var s TypeSet
	for _, t := range ts {
		s.Add(t)
	}
	return s
}

// AllTypes returns the set of every event type Vigil produces (TypeUnknown
// excluded).
func AllTypes() TypeSet { return allTypes }

var allTypes = func() TypeSet {
	var s TypeSet
	for t := Type(1); t < NumTypes; t++ {
		s.Add(t)
	}
	return s
}()

// Add puts t in the set; a type outside the table is ignored.
func (s *TypeSet) Add(t Type) {
	if t < NumTypes {
		s.w[t/64] |= 1 << (t % 64)
	}
}

// Has reports whether t is in the set.
func (s TypeSet) Has(t Type) bool { return t < NumTypes && s.w[t/64]&(1<<(t%64)) != 0 }

// Union returns s ∪ o.
func (s TypeSet) Union(o TypeSet) TypeSet {
	for i := range s.w {
		s.w[i] |= o.w[i]
	}
	return s
}

// Intersect returns s ∩ o.
func (s TypeSet) Intersect(o TypeSet) TypeSet {
	for i := range s.w {
		s.w[i] &= o.w[i]
	}
	return s
}

// Minus returns s \ o.
func (s TypeSet) Minus(o TypeSet) TypeSet {
	for i := range s.w {
		s.w[i] &^= o.w[i]
	}
	return s
}

// Empty reports whether the set has no type.
func (s TypeSet) Empty() bool { return s == TypeSet{} }

// Len returns the number of types in the set.
func (s TypeSet) Len() int {
	n := 0
	for _, w := range s.w {
		n += bits.OnesCount64(w)
	}
	return n
}

// Types lists the set in table order.
func (s TypeSet) Types() []Type {
	out := make([]Type, 0, s.Len())
	for t := Type(1); t < NumTypes; t++ {
		if s.Has(t) {
			out = append(out, t)
		}
	}
	return out
}

// String returns "all" for AllTypes, else the Falco names in table order,
// comma-separated.
func (s TypeSet) String() string {
	if s == allTypes {
		return "all"
	}
	names := make([]string, 0, s.Len())
	for _, t := range s.Types() {
		names = append(names, t.String())
	}
	return strings.Join(names, ",")
}

// ParseTypes turns event type names (execve, openat, ...) and category
// names (process, file, network, security, k8s_audit, all) into a set. Each element
// may itself be a comma-separated list. No name at all means every type.
// The read/write family (IOTypes) is only had by name: a category, all
// and no name leave it out.
// An unknown name is an error naming it and listing the valid ones.
func ParseTypes(names ...string) (TypeSet, error) {
	var s TypeSet
	any := false
	for _, n := range names {
		for _, f := range strings.Split(n, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			any = true
			if t, ok := ByName(f); ok {
				s.Add(t)
				continue
			}
			if f == "all" {
				s = s.Union(allTypes.Minus(IOTypes))
				continue
			}
			matched := false
			for t := Type(1); t < NumTypes; t++ {
				if defs[t].Category.String() == f && !IOTypes.Has(t) {
					s.Add(t)
					matched = true
				}
			}
			if !matched {
				return TypeSet{}, fmt.Errorf("unknown event type or category %q (categories: process, file, network, security, all; types: %s)",
					f, strings.Join(typeNames(), ", "))
			}
		}
	}
	if !any {
		return allTypes.Minus(IOTypes), nil
	}
	return s, nil
}

func typeNames() []string {
	n := make([]string, 0, NumTypes)
	for t := Type(1); t < NumTypes; t++ {
		n = append(n, t.String())
	}
	sort.Strings(n)
	return n
}
