package rules

import (
	"net/netip"
	"regexp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
)

// Expr is a compiled, type-checked condition. The engine evaluates it;
// the concrete types are And, Or, Not, Cmp and Const.
type Expr interface{ isExpr() }

// And holds when every Xs holds (evaluated left to right, short-circuit).
type And struct{ Xs []Expr }

// Or holds when one of Xs holds.
type Or struct{ Xs []Expr }

// Not negates X.
type Not struct{ X Expr }

// Const is a constant (an empty exception list, for instance).
type Const struct{ V bool }

// Cached is a macro's expression, shared by every rule that uses the
// macro. The engine evaluates it once per event and reuses the result
// (Slot indexes its per-event cache; Ruleset.Slots counts them).
type Cached struct {
	X    Expr
	Slot int
	Name string // the macro
}

func (*Cached) isExpr() {}
func (*And) isExpr()    {}
func (*Or) isExpr()     {}
func (*Not) isExpr()    {}
func (*Const) isExpr()  {}
func (*Cmp) isExpr()    {}

// Op is a comparison operator.
type Op uint8

const (
	OpEq Op = iota + 1
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpContains
	OpIContains
	OpBContains
	OpStartsWith
	OpBStartsWith
	OpEndsWith
	OpGlob
	OpIGlob
	OpRegex
	OpIn
	OpIntersects
	OpPMatch
	OpExists
)

var opNames = map[string]Op{
	"=": OpEq, "!=": OpNe, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe, "contains": OpContains,
	"icontains": OpIContains, "bcontains": OpBContains, "startswith": OpStartsWith,
	"bstartswith": OpBStartsWith, "endswith": OpEndsWith, "glob": OpGlob, "iglob": OpIGlob,
	"regex": OpRegex, "in": OpIn, "intersects": OpIntersects, "pmatch": OpPMatch, "exists": OpExists,
}

func (o Op) String() string {
	for n, v := range opNames {
		if v == o {
			return n
		}
	}
	return "?"
}

// Mod is a list modifier of a string operator.
type Mod uint8

const (
	ModNone  Mod = iota
	ModAnyOf     // anyof: the comparison holds for at least one value
	ModAllOf     // allof: the comparison holds for every value
	ModOneOf     // oneof: the comparison holds for exactly one value
)

// Transformer transforms an extracted value before comparison.
type Transformer uint8

const (
	TrToLower Transformer = iota + 1
	TrToUpper
	TrB64
	TrBasename
	TrLen
)

var trNames = map[string]Transformer{"tolower": TrToLower, "toupper": TrToUpper, "b64": TrB64, "basename": TrBasename, "len": TrLen}

// Operand is a field with its argument and transformers.
type Operand struct {
	Text  string // as written, for messages and output keys
	Field *event.Field
	Arg   event.FieldArg
	Trans []Transformer
	Type  event.FieldType // after transformers
	// Multi is the effective multi-value mode: MultiAny only when a
	// MultiAny field is used without an index.
	Multi event.Multi
	// Step is 0 for a field of the event being evaluated; k > 0 for a
	// field of the event that matched step k (1-based) of a sequence
	// (written download.fd.name), kept in that step's Keep[Slot].
	Step, Slot int
}

// Cmp is one comparison. The right-hand side is a set of constants
// prepared for the operator, or another operand (val()).
type Cmp struct {
	L   Operand
	Op  Op
	Mod Mod
	R   *Operand

	Strs    []string            // string constants (lowercased for icontains/iglob)
	Set     map[string]struct{} // string set for in/intersects (large lists)
	Nums    []uint64            // numeric and bool constants
	IPs     []netip.Addr        // ipaddr constants
	Nets    []netip.Prefix      // ipnet constants
	Regexes []*regexp.Regexp    // regex constants
	Globs   []string            // glob patterns (lowercased for iglob)
	Paths   []string            // pmatch prefixes, cleaned
	// Hosts is set for fd.sip.name, fd.cip.name, fd.lip.name and
	// fd.rip.name: the host names of the right-hand side, resolved at run
	// time; HostAddr is the address field (fd.sip...) compared with them.
	Hosts    []*hostnames.Entry
	HostAddr *event.Field
	// EvtTypes is set for a plain `evt.type = / != / in` comparison: the
	// engine then tests the event type against the set (negated for !=)
	// without extracting a string.
	EvtTypes    event.TypeSet
	IsEvtType   bool
	EvtTypesNeg bool
}
