package rules

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
)

// Rule is a compiled rule.
type Rule struct {
	Name     string
	Desc     string
	Priority Priority
	Tags     []string
	Source   string
	Pos      Pos
	Cond     Expr
	Output   *Format
	// Types is the set of event types the condition can match; the engine
	// runs the rule only for those.
	Types event.TypeSet
	// Actions are the response actions the agent performs on a match
	// (Vigil extension key `actions`), nil for most rules.
	Actions []Action
	// State is set for a stateful rule (Vigil extension keys `sequence`
	// and `threshold`): Cond is then the last step of the sequence, or
	// the events the threshold counts. nil for every Falco rule.
	State *State
}

// Ruleset is the compiled form of a Spec: the enabled rules of known
// sources, ready for the engine. It is immutable once built.
type Ruleset struct {
	Rules    []*Rule
	Files    []FileStats
	Diags    Diagnostics
	Disabled int // rules not compiled because they are disabled
	Skipped  int // rules of unknown sources
	// Broken has one error per rule left out because it does not compile
	// (its own condition, output or exceptions, or a macro or list it
	// uses), at the rule's position, and one per file-level error (a file
	// that is not YAML, an unmet required_engine_version...) or rule item
	// the loader refused (no condition, a bad priority...). Rules holds
	// every other rule: a caller may run with them (rules.on_error: skip)
	// or refuse the set (Err() is not nil either way).
	Broken Diagnostics
	// Slots is the number of Cached (macro) expressions: the size of the
	// engine's per-event result cache.
	Slots int

	hosts *hostnames.Resolver
}

// HostName returns a host name of the rules (fd.sip.name and the like) that
// resolved to ip, "" when none. It is safe for concurrent use.
func (rs *Ruleset) HostName(ip netip.Addr) string {
	if rs.hosts == nil {
		return ""
	}
	return rs.hosts.Name(ip)
}

// Hosts returns the resolver of the rules' host names (never nil).
func (rs *Ruleset) Hosts() *hostnames.Resolver { return rs.hosts }

// ContainerInfoFormat is what %container.info stands for in a rule's
// output, as in Falco ≥0.36.
const ContainerInfoFormat = "container_id=%container.id container_name=%container.name"

// hostFields maps the name fields to the address field they resolve.
var hostFields = map[string]string{"fd.sip.name": "fd.sip", "fd.cip.name": "fd.cip", "fd.lip.name": "fd.lip", "fd.rip.name": "fd.rip"}

// Err returns the compile and load errors joined, nil when there is none.
func (rs *Ruleset) Err() error { return rs.Diags.Err() }

// CompileOptions tune Compile. The zero value (or nil) is valid.
type CompileOptions struct {
	// Hosts resolves the host names compared with fd.sip.name, fd.cip.name,
	// fd.lip.name and fd.rip.name, in the background at run time (compiling
	// never waits for DNS). nil: a resolver of its own using the system's.
	Hosts *hostnames.Resolver
	// MinPriority drops rules less severe than it (Debug keeps all).
	// The zero value is Emergency, so use KeepAllPriorities or set it.
	MinPriority *Priority
	// Sources are the sources Vigil evaluates (default: syscall and
	// k8s_audit). Rules of
	// other sources are skipped with a warning.
	Sources []string
	// EnableTags, when not empty, runs only the rules having one of these
	// tags (Falco's -t); DisableTags does not run the rules having one of
	// those (Falco's -T). Tags compare exactly. The rules left out are
	// counted in Disabled and still checked, like rules disabled in their
	// file; a rule disabled in its file stays disabled.
	EnableTags, DisableTags []string
	// AppendOutput is appended (after a space) to every rule's output, as
	// Falco's append_output extra_output does, e.g.
	// "container_id=%container.id container_name=%container.name".
	AppendOutput string
}

// Compile type-checks and compiles a Spec. Problems (including those of
// loading) are in the Ruleset's Diags; rules with errors are left out.
func Compile(spec *Spec, opts *CompileOptions) *Ruleset {
	if opts == nil {
		opts = &CompileOptions{}
	}
	hosts := opts.Hosts
	if hosts == nil {
		hosts = hostnames.New(nil)
	}
	c := &compiler{spec: spec, opts: opts, rs: &Ruleset{hosts: hosts},
		macros: map[string]*macroState{}, lists: map[string][]Value{}, seen: map[string]bool{},
		usedList: map[string]bool{}, usedMacro: map[string]bool{}, macroRoots: map[Node]string{}, memo: map[Node]*Cached{}, tooLarge: map[string]bool{}}
	c.rs.Diags = append(c.rs.Diags, spec.Diags...)
	for _, d := range spec.Diags {
		if !d.Warning && (d.Kind == "file" || d.Kind == "rule") {
			c.rs.Broken = append(c.rs.Broken, d)
		}
	}
	c.compileLists()
	c.compileMacros()
	c.compileRules()
	c.warnUnused()
	c.rs.Files = append([]FileStats(nil), spec.Files...)
	for _, d := range c.rs.Diags {
		for i := range c.rs.Files {
			if c.rs.Files[i].Name == d.File {
				if d.Warning {
					c.rs.Files[i].Warnings++
				} else {
					c.rs.Files[i].Errors++
				}
			}
		}
	}
	return c.rs
}

// LoadAndCompile loads files and compiles them.
func LoadAndCompile(opts *CompileOptions, files ...File) *Ruleset {
	return Compile(Load(files...), opts)
}

type macroState struct {
	spec *MacroSpec
	ast  Node // resolved (macros substituted), nil when it had errors
	cond *Cond
	// unknown holds the errors of a macro that failed only because it
	// names a field Vigil does not know. As in Falco, they are reported
	// where a rule uses the macro: a rule with skip-if-unknown-filter is
	// then skipped with a warning instead; a macro no rule uses reports
	// them as warnings.
	unknown  []*Diagnostic
	reported bool
}

type compiler struct {
	spec   *Spec
	opts   *CompileOptions
	rs     *Ruleset
	lists  map[string][]Value // flattened items
	macros map[string]*macroState
	seen   map[string]bool // dedupe diagnostics
	// pending are the comparisons of the rule or macro being built that
	// warnImpossible checks once its event types are known.
	pending []pendingCheck
	// unknownField is set when the rule or macro being compiled names a
	// field Vigil does not know (skip-if-unknown-filter).
	unknownField bool
	usedList     map[string]bool
	usedMacro    map[string]bool
	// nodes counts the nodes built for the current rule or macro, to
	// bound macro expansion (macros can double the tree at each level).
	nodes int
	// macroRoots maps the resolved AST of each macro to its name; memo
	// holds the Cached expression built for it, shared by all users.
	macroRoots map[Node]string
	memo       map[Node]*Cached
	// values counts the list values expanded so far (lists and
	// conditions), bounded by MaxListValues; tooLarge holds the lists
	// that crossed a limit (left out of lists).
	values   int
	tooLarge map[string]bool
	// scope is the steps of the sequence rule being compiled (nil
	// otherwise); hashText collects the parts of its definition hash.
	scope    *stepScope
	hashText []string
}

// MaxNodes bounds the size of a condition after macro expansion.
const MaxNodes = 100000

// MaxListItems bounds one list, and the values of one `in (...)`, after
// the lists named in it are expanded (lists can double at each level).
const MaxListItems = 100000

// MaxListValues bounds the list values of a whole compiled ruleset (lists
// and conditions together), so that many lists each under MaxListItems
// cannot add up.
const MaxListValues = 1000000

// fitsList reports whether a list or `in (...)` of n values fits the
// limits, with the ruleset's values so far; when not it reports an error at
// p, where the limit was crossed.
func (c *compiler) fitsList(n int, p Pos, kind, name string) bool {
	switch {
	case n > MaxListItems:
		c.diag(p, false, kind, name, "list too large after expansion (more than %d items)", MaxListItems)
		return false
	case c.values+n > MaxListValues:
		c.diag(p, false, kind, name, "rules too large after list expansion (more than %d list values in all)", MaxListValues)
		return false
	}
	return true
}

func (c *compiler) diag(p Pos, warn bool, kind, name, format string, args ...any) {
	d := &Diagnostic{Pos: p, Kind: kind, Name: name, Msg: fmt.Sprintf(format, args...), Warning: warn}
	key := d.Error()
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.rs.Diags = append(c.rs.Diags, d)
}

// unquoteItem turns a list item as written into a value: surrounding
// matching quotes are removed (the value is then never a list name).
func unquoteItem(s string) Value {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		if v, err := ParseCondition("x = " + s); err == nil {
			if ck, ok := v.(*CheckExpr); ok && ck.Value != nil {
				return *ck.Value
			}
		}
		return Value{Text: s[1 : len(s)-1], Quoted: true}
	}
	return Value{Text: s}
}

func (c *compiler) compileLists() {
lists:
	for _, l := range c.spec.Lists {
		var items []Value
		for _, it := range l.Items {
			v := unquoteItem(it.Text)
			add := []Value{v}
			if !v.Quoted {
				if sub, ok := c.lists[v.Text]; ok {
					c.usedList[v.Text] = true
					add = sub
				} else if c.tooLarge[v.Text] {
					c.usedList[v.Text] = true
					c.diag(it.Pos, false, "list", l.Name, "list %q is too large", v.Text)
					c.tooLarge[l.Name] = true
					continue lists
				}
			}
			if !c.fitsList(len(items)+len(add), it.Pos, "list", l.Name) {
				c.tooLarge[l.Name] = true
				continue lists
			}
			items = append(items, add...)
		}
		c.values += len(items)
		c.lists[l.Name] = items
	}
}

func (c *compiler) compileMacros() {
	for _, m := range c.spec.Macros {
		st := &macroState{spec: m, cond: &m.Cond}
		ast, err := ParseCondition(m.Cond.Text)
		if err != nil {
			se := err.(*SyntaxError)
			c.diag(m.Cond.PosAt(se.Off), false, "macro", m.Name, "%s", se.Msg)
			c.macros[m.Name] = st
			continue
		}
		setSrc(ast, &m.Cond)
		before := len(c.rs.Diags)
		c.unknownField = false
		ast = c.resolve(ast, "macro", m.Name, 0)
		if ast != nil {
			// Type-check now so that errors point into the macro.
			if c.build(ast, "macro", m.Name) == nil {
				ast = nil
			} else {
				c.warnImpossible(event.SourceTypes(event.SourceSyscall))
			}
		}
		if ast == nil && c.unknownField {
			st.unknown = c.takeDiags(before)
		}
		st.ast = ast
		if ast != nil {
			c.macroRoots[ast] = m.Name
		}
		c.macros[m.Name] = st
	}
}

// setSrc records in every node the condition it was parsed from.
func setSrc(n Node, src *Cond) {
	switch x := n.(type) {
	case *BoolExpr:
		x.src = src
		for _, y := range x.Xs {
			setSrc(y, src)
		}
	case *NotExpr:
		x.src = src
		setSrc(x.X, src)
	case *MacroRef:
		x.src = src
	case *CheckExpr:
		x.src = src
	}
}

func srcPos(n Node) Pos {
	var s *Cond
	switch x := n.(type) {
	case *BoolExpr:
		s = x.src
	case *NotExpr:
		s = x.src
	case *MacroRef:
		s = x.src
	case *CheckExpr:
		s = x.src
	}
	if s == nil {
		return Pos{}
	}
	return s.PosAt(n.offset())
}

// resolve substitutes macros (only those already compiled: a macro sees
// the macros defined before it) and expands lists in list values. It
// returns nil after reporting an error.
func (c *compiler) resolve(n Node, kind, name string, depth int) Node {
	if depth > MaxDepth {
		c.diag(srcPos(n), false, kind, name, "macros nested too deeply")
		return nil
	}
	switch x := n.(type) {
	case *BoolExpr:
		out := &BoolExpr{Off: x.Off, Op: x.Op, src: x.src, Xs: make([]Node, len(x.Xs))}
		for i, y := range x.Xs {
			if out.Xs[i] = c.resolve(y, kind, name, depth+1); out.Xs[i] == nil {
				return nil
			}
		}
		return out
	case *NotExpr:
		y := c.resolve(x.X, kind, name, depth+1)
		if y == nil {
			return nil
		}
		return &NotExpr{Off: x.Off, X: y, src: x.src}
	case *MacroRef:
		st, ok := c.macros[x.Name]
		if !ok || (kind == "macro" && x.Name == name) {
			if f, _, err := resolveField(x.Name, "", false, false); err == nil && f != nil {
				c.diag(srcPos(x), false, kind, name, "field %s used without an operator", x.Name)
			} else {
				c.diag(srcPos(x), false, kind, name, "undefined macro %q (or unknown field)", x.Name)
			}
			return nil
		}
		c.usedMacro[x.Name] = true
		if st.ast == nil {
			c.diag(srcPos(x), false, kind, name, "macro %q has errors", x.Name)
			if st.unknown != nil {
				c.unknownField = true
				st.reported = true
				for _, d := range st.unknown {
					c.diag(d.Pos, d.Warning, d.Kind, d.Name, "%s", d.Msg)
				}
			}
			return nil
		}
		return st.ast
	case *CheckExpr:
		if !x.IsList {
			return x
		}
		cp := *x
		cp.List = nil
		for _, v := range x.List {
			add := []Value{v}
			if !v.Quoted {
				if items, ok := c.lists[v.Text]; ok {
					c.usedList[v.Text] = true
					add = items
				} else if c.tooLarge[v.Text] {
					c.usedList[v.Text] = true
					c.diag(srcPos(x), false, kind, name, "list %q is too large", v.Text)
					return nil
				}
			}
			if !c.fitsList(len(cp.List)+len(add), srcPos(x), kind, name) {
				return nil
			}
			cp.List = append(cp.List, add...)
		}
		c.values += len(cp.List)
		if cp.List == nil {
			cp.List = []Value{}
		}
		return &cp
	}
	return n
}

func (c *compiler) compileRules() {
	sources := c.opts.Sources
	if len(sources) == 0 {
		sources = []string{event.SourceSyscall, event.SourceK8sAudit}
	}
	for _, r := range c.spec.Rules {
		known := false
		for _, s := range sources {
			if s == r.Source {
				known = true
			}
		}
		if !known {
			c.diag(r.Pos, true, "rule", r.Name, "source %q is not supported, rule skipped", r.Source)
			c.rs.Skipped++
			continue
		}
		if !r.Enabled || !c.tagsSelected(r.Tags) {
			c.rs.Disabled++
			// Falco still validates disabled rules' conditions.
			c.compileChecked(r)
			continue
		}
		if rule := c.compileChecked(r); rule != nil {
			if c.opts.MinPriority != nil && rule.Priority > *c.opts.MinPriority {
				continue
			}
			c.rs.Rules = append(c.rs.Rules, rule)
		}
	}
}

// tagsSelected reports whether a rule with tags runs under the options'
// EnableTags and DisableTags.
func (c *compiler) tagsSelected(tags []string) bool {
	if len(c.opts.EnableTags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(c.opts.EnableTags, t) }) {
		return false
	}
	return !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(c.opts.DisableTags, t) })
}

// foreignField returns a field of the condition or output that does not
// read events of source, nil when there is none.
func foreignField(e Expr, out *Format, source string) *event.Field {
	ok := func(f *event.Field) bool { return f == nil || f.Source == source || f.Source == event.SourceAny }
	seen := map[*Cached]bool{} // macros are shared: visit each once
	var walk func(e Expr) *event.Field
	walk = func(e Expr) *event.Field {
		switch x := e.(type) {
		case *And:
			for _, y := range x.Xs {
				if f := walk(y); f != nil {
					return f
				}
			}
		case *Or:
			for _, y := range x.Xs {
				if f := walk(y); f != nil {
					return f
				}
			}
		case *Not:
			return walk(x.X)
		case *Cached:
			if seen[x] {
				return nil
			}
			seen[x] = true
			return walk(x.X)
		case *Cmp:
			if !ok(x.L.Field) {
				return x.L.Field
			}
			if x.R != nil && !ok(x.R.Field) {
				return x.R.Field
			}
			if x.HostAddr != nil && !ok(x.HostAddr) {
				return x.HostAddr
			}
		}
		return nil
	}
	if f := walk(e); f != nil {
		return f
	}
	for _, o := range out.Fields {
		if !ok(o.Field) {
			return o.Field
		}
	}
	return nil
}

// takeDiags removes the diagnostics recorded since before and returns
// them; they may be recorded again.
func (c *compiler) takeDiags(before int) []*Diagnostic {
	taken := append([]*Diagnostic(nil), c.rs.Diags[before:]...)
	c.rs.Diags = c.rs.Diags[:before]
	for _, d := range taken {
		delete(c.seen, d.Error())
	}
	return taken
}

// compileChecked compiles r and records it in Broken when it fails. A
// rule with skip-if-unknown-filter whose condition names a field Vigil
// does not know is skipped with a warning instead, as Falco does.
func (c *compiler) compileChecked(r *RuleSpec) *Rule {
	before := len(c.rs.Diags)
	c.unknownField = false
	rule := c.compileRule(r)
	if rule == nil && r.SkipIfUnknownFilter && c.unknownField {
		var why string
		for _, d := range c.takeDiags(before) {
			if !d.Warning && (why == "" || strings.HasPrefix(d.Msg, "unknown field ")) {
				why = d.Pos.String() + ": " + d.Msg
			}
		}
		c.diag(r.Pos, true, "rule", r.Name, "rule skipped (skip-if-unknown-filter): %s", why)
		c.rs.Skipped++
		return nil
	}
	if rule == nil {
		msg := "does not compile"
		for _, d := range c.rs.Diags[before:] {
			if !d.Warning {
				msg = d.Pos.String() + ": " + d.Msg
				break
			}
		}
		c.rs.Broken = append(c.rs.Broken, &Diagnostic{Pos: r.Pos, Kind: "rule", Name: r.Name, Msg: "skipped: " + msg})
	}
	return rule
}

func (c *compiler) compileRule(r *RuleSpec) *Rule {
	c.scope, c.hashText = nil, nil
	defer func() { c.scope = nil }()
	st, ok := c.compileStateSteps(r)
	if !ok {
		return nil
	}
	ast, err := ParseCondition(r.Cond.Text)
	if err != nil {
		se := err.(*SyntaxError)
		c.diag(r.Cond.PosAt(se.Off), false, "rule", r.Name, "%s", se.Msg)
		return nil
	}
	setSrc(ast, &r.Cond)
	if len(r.Exceptions) > 0 {
		exc, ok := c.exceptionsAST(r)
		if !ok {
			return nil
		}
		if exc != nil {
			ast = &BoolExpr{Op: "and", Xs: []Node{ast, &NotExpr{X: exc, src: &r.Cond}}, src: &r.Cond}
		}
	}
	ast = c.resolve(ast, "rule", r.Name, 0)
	if ast == nil {
		return nil
	}
	expr := c.build(ast, "rule", r.Name)
	if expr == nil {
		return nil
	}
	if st != nil {
		for _, s := range st.Steps {
			s.CondKeep = len(s.Keep) // what the output adds comes after
		}
	}
	// Falco replaces %container.info in outputs with its default extra
	// format (falco_engine: s_container_info_fmt, s_default_extra_fmt).
	text := strings.ReplaceAll(r.Output, "%container.info", ContainerInfoFormat)
	if c.opts.AppendOutput != "" {
		text += " " + c.opts.AppendOutput
	}
	out, err := parseFormat(text, c)
	if err != nil {
		c.diag(r.OutputPos, false, "rule", r.Name, "output: %v", err)
		return nil
	}
	if st, ok = c.finishState(r, st, ast, text); !ok {
		return nil
	}
	if f := foreignField(expr, out, r.Source); f != nil {
		c.diag(r.Pos, false, "rule", r.Name, "field %s is a field of source %s, not of the rule's source %s", f.Name, f.Source, r.Source)
		return nil
	}
	types, _ := typesOf(expr, map[*Cached]typeRes{})
	c.warnImpossible(types)
	if r.Source != event.SourceSyscall {
		types = event.SourceTypes(r.Source) // a plugin source's rule runs on every event of the source
	} else if types == event.AllTypes() && r.WarnEvttypes {
		c.diag(r.Pos, true, "rule", r.Name, "condition does not restrict evt.type: the rule runs for every event")
	}
	types = types.Intersect(event.SourceTypes(r.Source))
	if types.Empty() {
		c.diag(r.Pos, true, "rule", r.Name, "condition matches no event type Vigil produces")
	}
	if st != nil {
		st.Types = types
		for _, s := range st.Steps {
			types = types.Union(s.Types)
		}
	}
	return &Rule{Name: r.Name, Desc: r.Desc, Priority: r.Priority, Tags: r.Tags, Source: r.Source, Pos: r.Pos,
		Cond: expr, Output: out, Types: types, Actions: r.Actions, State: st}
}

// exceptionsAST builds `(row1) or (row2) ...` for every exception value,
// as Falco's loader does, to be added as `and not (...)`.
func (c *compiler) exceptionsAST(r *RuleSpec) (Node, bool) {
	src := &Cond{Text: "", parts: []condPart{{src: scalarSrc{pos: r.Pos}}}}
	var rows []Node
	for _, e := range r.Exceptions {
		esrc := &Cond{parts: []condPart{{src: scalarSrc{pos: e.Pos}}}}
		fields := make([]FieldExpr, len(e.Fields))
		for i, f := range e.Fields {
			p := &parser{s: f}
			fe, ok := p.fieldOrTransformer(0)
			p.ws()
			if !ok || p.i != len(f) {
				c.diag(e.Pos, false, "rule", r.Name, "exception %q: invalid field %q", e.Name, f)
				return nil, false
			}
			fields[i] = fe
		}
		comps := e.Comps
		if len(comps) == 0 {
			comps = make([]string, len(fields))
			for i := range comps {
				if e.FieldsList {
					comps[i] = "="
				} else {
					comps[i] = "in"
				}
			}
		}
		for _, cp := range comps {
			if _, ok := opNames[cp]; !ok || cp == "exists" {
				c.diag(e.Pos, false, "rule", r.Name, "exception %q: invalid comparison operator %q", e.Name, cp)
				return nil, false
			}
		}
		if len(e.Values) == 0 {
			continue
		}
		if len(e.Fields) == 0 {
			c.diag(e.Pos, false, "rule", r.Name, "exception %q has values but no fields", e.Name)
			return nil, false
		}
		for _, row := range e.Values {
			want := len(e.Fields)
			if !e.FieldsList {
				want = 1
			}
			if len(row) != want {
				c.diag(e.Pos, false, "rule", r.Name, "exception %q: value has %d entries but there are %d fields", e.Name, len(row), want)
				return nil, false
			}
			if !e.FieldsList && row[0].IsList {
				c.diag(e.Pos, false, "rule", r.Name, "exception %q: with a single field, values must be strings", e.Name)
				return nil, false
			}
		}
		if !e.FieldsList {
			ck := &CheckExpr{Field: fields[0], Op: comps[0], src: esrc}
			if listOps[comps[0]] {
				ck.IsList = true
				for _, row := range e.Values {
					ck.List = append(ck.List, Value{Text: row[0].Text})
				}
			} else {
				// one comparison per value
				var ors []Node
				for _, row := range e.Values {
					v := Value{Text: row[0].Text, Quoted: true}
					ors = append(ors, &CheckExpr{Field: fields[0], Op: comps[0], Value: &v, src: esrc})
				}
				rows = append(rows, orOf(ors, esrc))
				continue
			}
			rows = append(rows, ck)
			continue
		}
		for _, row := range e.Values {
			var ands []Node
			for i, v := range row {
				ck := &CheckExpr{Field: fields[i], Op: comps[i], src: esrc}
				switch {
				case listOps[comps[i]]:
					ck.IsList = true
					if v.IsList {
						for _, it := range v.List {
							ck.List = append(ck.List, Value{Text: it})
						}
					} else {
						ck.List = []Value{{Text: v.Text}} // a list name, or one value
					}
				case v.IsList:
					c.diag(e.Pos, false, "rule", r.Name, "exception %q: a list value needs a list operator (in, intersects, pmatch), not %s", e.Name, comps[i])
					return nil, false
				default:
					val := Value{Text: v.Text, Quoted: true}
					ck.Value = &val
				}
				ands = append(ands, ck)
			}
			if len(ands) == 1 {
				rows = append(rows, ands[0])
			} else {
				rows = append(rows, &BoolExpr{Op: "and", Xs: ands, src: esrc})
			}
		}
	}
	if len(rows) == 0 {
		return nil, true
	}
	return orOf(rows, src), true
}

func orOf(xs []Node, src *Cond) Node {
	if len(xs) == 1 {
		return xs[0]
	}
	return &BoolExpr{Op: "or", Xs: xs, src: src}
}

func (c *compiler) warnUnused() {
	for _, l := range c.spec.Lists {
		if !c.usedList[l.Name] {
			c.diag(l.Pos, true, "list", l.Name, "list not referred to by any rule, macro or list")
		}
	}
	for _, m := range c.spec.Macros {
		if st := c.macros[m.Name]; st != nil && !st.reported {
			for _, d := range st.unknown {
				c.diag(d.Pos, true, d.Kind, d.Name, "%s (no rule uses the macro)", d.Msg)
			}
		}
		if !c.usedMacro[m.Name] {
			c.diag(m.Pos, true, "macro", m.Name, "macro not referred to by any rule or macro")
		}
	}
}

// build type-checks a resolved AST into an Expr; nil after an error.
func (c *compiler) build(n Node, kind, name string) Expr {
	c.nodes = 0
	c.pending = c.pending[:0]
	return c.buildNode(n, kind, name)
}

func (c *compiler) buildNode(n Node, kind, name string) Expr {
	if m, ok := c.macroRoots[n]; ok {
		if ce, ok := c.memo[n]; ok {
			return ce
		}
		delete(c.macroRoots, n) // build the inner expression once
		x := c.buildNode(n, kind, name)
		c.macroRoots[n] = m
		if x == nil {
			return nil
		}
		ce := &Cached{X: x, Slot: c.rs.Slots, Name: m}
		c.rs.Slots++
		c.memo[n] = ce
		return ce
	}
	c.nodes++
	if c.nodes > MaxNodes {
		if c.nodes == MaxNodes+1 {
			c.diag(srcPos(n), false, kind, name, "condition too large after macro expansion (more than %d nodes)", MaxNodes)
		}
		return nil
	}
	switch x := n.(type) {
	case *BoolExpr:
		xs := make([]Expr, 0, len(x.Xs))
		for _, y := range x.Xs {
			e := c.buildNode(y, kind, name)
			if e == nil {
				return nil
			}
			xs = append(xs, e)
		}
		if x.Op == "and" {
			return &And{Xs: xs}
		}
		return &Or{Xs: xs}
	case *NotExpr:
		e := c.buildNode(x.X, kind, name)
		if e == nil {
			return nil
		}
		return &Not{X: e}
	case *CheckExpr:
		cmp, err := c.check(x)
		if err != "" {
			if strings.HasPrefix(err, "unknown field ") {
				c.unknownField = true
			}
			c.diag(srcPos(x), false, kind, name, "%s", err)
			return nil
		}
		c.pending = append(c.pending, pendingCheck{x, cmp, kind, name})
		switch cmp.L.Field.Name {
		case "evt.dir":
			c.diag(srcPos(x), true, kind, name, "evt.dir is deprecated: Vigil evaluates exit events only (evt.dir is always '<')")
		case "evt.type":
			if cmp.R == nil {
				for _, v := range cmp.Strs {
					if _, ok := event.ByName(v); !ok {
						c.diag(srcPos(x), true, kind, name, "event type %q is not produced by Vigil: this comparison never holds for it", v)
					}
				}
			}
		}
		return cmp
	case *MacroRef:
		c.diag(srcPos(x), false, kind, name, "undefined macro %q", x.Name)
		return nil
	}
	return nil
}

type pendingCheck struct {
	x          *CheckExpr
	cmp        *Cmp
	kind, name string
}

// warnImpossible warns about each pending comparison of a field whose
// values come from a fixed vocabulary (flag and enum arguments, evt.res,
// fd.type...) with a constant that vocabulary can never produce for the
// event types the rule or macro runs on: the comparison then never holds
// (or, for !=, always does), which is a bug in the rule.
func (c *compiler) warnImpossible(types event.TypeSet) {
	for _, p := range c.pending {
		cmp := p.cmp
		if cmp.R != nil || len(cmp.L.Trans) > 0 || cmp.L.Type != event.FieldString {
			continue
		}
		d, ok := event.ValueDomain(cmp.L.Field.Name, cmp.L.Arg.Key, types)
		if !ok {
			continue
		}
		for _, v := range cmp.Strs {
			if !d.Possible(p.x.Op, v) {
				c.diag(srcPos(p.x), true, p.kind, p.name, "%s %s %q can never hold: %s is rendered as %s", cmp.L.Text, p.x.Op, v, cmp.L.Text, d.What)
			}
		}
	}
	c.pending = c.pending[:0]
}

// resolveField finds a registry field for a name as written: exact name,
// or a prefix field taking an argument with the rest as a dotted
// argument (evt.arg.flags, k8s.pod.label.app).
func resolveField(name, arg string, hasArg, _ bool) (*event.Field, event.FieldArg, error) {
	if f := event.LookupField(name); f != nil {
		a, msg := event.ParseFieldArg(f, arg, hasArg, false)
		if msg != "" {
			return nil, a, fmt.Errorf("%s", msg)
		}
		return f, a, nil
	}
	for i := len(name) - 1; i > 0; i-- {
		if name[i] != '.' {
			continue
		}
		f := event.LookupField(name[:i])
		if f == nil || (f.Arg != event.ArgEvtArg && f.Arg != event.ArgKeyRequired) {
			continue
		}
		if hasArg {
			return nil, event.FieldArg{}, fmt.Errorf("field %s: argument given twice", name)
		}
		a, msg := event.ParseFieldArg(f, name[i+1:], true, true)
		if msg != "" {
			return nil, a, fmt.Errorf("%s", msg)
		}
		return f, a, nil
	}
	return nil, event.FieldArg{}, fmt.Errorf("unknown field %q", name)
}

func (c *compiler) operand(fe *FieldExpr) (Operand, string) {
	if o, ok, msg := c.stepOperand(fe); ok {
		return o, msg
	}
	f, a, err := resolveField(fe.Name, fe.Arg, fe.HasArg, false)
	if err != nil {
		return Operand{}, err.Error()
	}
	o := Operand{Text: fe.String(), Field: f, Arg: a, Type: f.TypeFor(a), Multi: f.Multi}
	if f.Multi == event.MultiAny && a.Has {
		o.Multi = event.MultiNone
	}
	for _, t := range fe.Transformers {
		tr := trNames[t]
		if o.Type != event.FieldString {
			return o, fmt.Sprintf("transformer %s() needs a string field, %s is %s", t, fe.Name, o.Type)
		}
		if tr == TrLen {
			o.Type = event.FieldUint
		}
		o.Trans = append(o.Trans, tr)
	}
	return o, ""
}

func (c *compiler) check(x *CheckExpr) (*Cmp, string) {
	l, msg := c.operand(&x.Field)
	if msg != "" {
		return nil, msg
	}
	op := opNames[x.Op]
	cmp := &Cmp{L: l, Op: op}
	switch x.Mod {
	case "anyof":
		cmp.Mod = ModAnyOf
	case "oneof":
		cmp.Mod = ModOneOf
	case "allof":
		cmp.Mod = ModAllOf
	}
	t := l.Type
	// operator / type compatibility
	switch {
	case op == OpExists:
		return cmp, ""
	case l.Field.Name == "evt.around":
		// Falco: evt.around[T] = D holds within D ms of T; the field is
		// the distance in ms (rounded up), so = means <=.
		if op != OpEq || x.FieldRHS != nil {
			return nil, "evt.around supports only = with a number of milliseconds"
		}
		op, cmp.Op = OpLe, OpLe
	case l.Field.Name == "fd.sip.name" && len(l.Trans) == 0:
		if op != OpEq && op != OpNe && op != OpIn {
			return nil, "fd.sip.name supports only =, != and in"
		}
	case l.Multi == event.MultiList && len(l.Trans) == 0:
		if op != OpIn && op != OpIntersects {
			return nil, fmt.Sprintf("list field %s supports only in, intersects and exists", l.Text)
		}
	case t == event.FieldString:
		switch op {
		case OpLt, OpLe, OpGt, OpGe:
			return nil, fmt.Sprintf("operator %s is not supported for string field %s", x.Op, l.Text)
		}
	case t.Numeric():
		switch op {
		case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpIn, OpIntersects:
		default:
			return nil, fmt.Sprintf("operator %s is not supported for numeric field %s", x.Op, l.Text)
		}
	case t == event.FieldBool, t == event.FieldIPAddr, t == event.FieldIPNet:
		switch op {
		case OpEq, OpNe, OpIn, OpIntersects:
		default:
			return nil, fmt.Sprintf("operator %s is not supported for %s field %s", x.Op, t, l.Text)
		}
	}
	if x.FieldRHS != nil {
		r, msg := c.operand(x.FieldRHS)
		if msg != "" {
			return nil, msg
		}
		if r.Type != l.Type {
			return nil, fmt.Sprintf("val(%s) has type %s but %s has type %s", r.Text, r.Type, l.Text, l.Type)
		}
		if r.Field.FilterOnly && r.Type == event.FieldIPNet {
			return nil, fmt.Sprintf("val(%s): field cannot be used as a value", r.Text)
		}
		cmp.R = &r
		return cmp, ""
	}
	var vals []Value
	if x.IsList {
		vals = x.List
	} else if x.Value != nil {
		vals = []Value{*x.Value}
	}
	if addr, ok := hostFields[l.Field.Name]; ok && len(l.Trans) == 0 {
		switch op {
		case OpEq, OpNe, OpIn, OpExists:
		default:
			return nil, fmt.Sprintf("%s supports =, != and in only", l.Field.Name)
		}
		cmp.HostAddr = event.LookupField(addr)
		cmp.Hosts = []*hostnames.Entry{}
		for _, v := range vals {
			cmp.Hosts = append(cmp.Hosts, c.rs.hosts.Entry(v.Text))
		}
		return cmp, ""
	}
	if msg := c.prepare(cmp, vals); msg != "" {
		return nil, msg
	}
	if l.Field.Name == "evt.type" && l.Step == 0 && len(l.Trans) == 0 && cmp.Mod == ModNone &&
		(op == OpEq || op == OpNe || op == OpIn || op == OpIntersects) {
		cmp.IsEvtType, cmp.EvtTypesNeg = true, op == OpNe
		for _, s := range cmp.Strs {
			if t, ok := event.ByName(s); ok {
				cmp.EvtTypes.Add(t)
			}
		}
	}
	return cmp, ""
}

// prepare converts the constants for the operator and the operand type.
func (c *compiler) prepare(cmp *Cmp, vals []Value) string {
	t := cmp.L.Type
	for _, v := range vals {
		switch {
		case t.Numeric():
			n, err := parseNum(v.Text, t)
			if err != nil {
				return fmt.Sprintf("%s: %q is not a number", cmp.L.Text, v.Text)
			}
			cmp.Nums = append(cmp.Nums, n)
		case t == event.FieldBool:
			switch v.Text {
			case "true":
				cmp.Nums = append(cmp.Nums, 1)
			case "false":
				cmp.Nums = append(cmp.Nums, 0)
			default:
				return fmt.Sprintf("%s: %q is not a boolean (true or false)", cmp.L.Text, v.Text)
			}
		case t == event.FieldIPAddr:
			ip, err := netip.ParseAddr(v.Text)
			if err != nil {
				return fmt.Sprintf("%s: %q is not an IP address", cmp.L.Text, v.Text)
			}
			cmp.IPs = append(cmp.IPs, ip.Unmap())
		case t == event.FieldIPNet:
			pfx, err := netip.ParsePrefix(v.Text)
			if err != nil {
				ip, err2 := netip.ParseAddr(v.Text)
				if err2 != nil {
					return fmt.Sprintf("%s: %q is not a network (CIDR) or an IP address", cmp.L.Text, v.Text)
				}
				pfx = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
			}
			if pfx.Addr().Is4In6() {
				pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
			}
			cmp.Nets = append(cmp.Nets, pfx.Masked())
		default: // strings
			switch cmp.Op {
			case OpIContains:
				cmp.Strs = append(cmp.Strs, strings.ToLower(v.Text))
			case OpBContains, OpBStartsWith:
				b, err := hex.DecodeString(v.Text)
				if err != nil {
					return fmt.Sprintf("%s %s: %q is not a hex byte string", cmp.L.Text, cmp.Op, v.Text)
				}
				cmp.Strs = append(cmp.Strs, string(b))
			case OpGlob:
				cmp.Globs = append(cmp.Globs, v.Text)
			case OpIGlob:
				cmp.Globs = append(cmp.Globs, strings.ToLower(v.Text))
			case OpRegex:
				re, err := regexp.Compile("^(?:" + v.Text + ")$")
				if err != nil {
					return fmt.Sprintf("%s regex: invalid regular expression %q: %v", cmp.L.Text, v.Text, err)
				}
				cmp.Regexes = append(cmp.Regexes, re)
			case OpPMatch:
				p := v.Text
				if p != "/" {
					p = strings.TrimSuffix(path.Clean(p), "/")
				}
				cmp.Paths = append(cmp.Paths, p)
			default:
				cmp.Strs = append(cmp.Strs, v.Text)
			}
		}
	}
	if (cmp.Op == OpIn || cmp.Op == OpIntersects) && len(cmp.Strs) > 8 {
		cmp.Set = make(map[string]struct{}, len(cmp.Strs))
		for _, s := range cmp.Strs {
			cmp.Set[s] = struct{}{}
		}
	}
	if cmp.Op == OpPMatch {
		sort.Strings(cmp.Paths)
	}
	if cmp.Op != OpIn && cmp.Op != OpIntersects && cmp.Op != OpPMatch && cmp.Mod == ModNone && len(vals) != 1 {
		return fmt.Sprintf("operator %s needs exactly one value", cmp.Op)
	}
	return ""
}

func parseNum(s string, t event.FieldType) (uint64, error) {
	if t == event.FieldFloat {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("not a finite number")
		}
		return math.Float64bits(f), nil
	}
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	if t == event.FieldInt {
		n, err := strconv.ParseInt(s, 10, 64)
		return uint64(n), err
	}
	if strings.HasPrefix(s, "-") {
		n, err := strconv.ParseInt(s, 10, 64)
		return uint64(n), err
	}
	return strconv.ParseUint(s, 10, 64)
}

// typesOf computes the event types an expression can match. pure is true
// when the expression depends on evt.type only (so it can be negated).
type typeRes struct {
	set  event.TypeSet
	pure bool
}

func typesOf(e Expr, memo map[*Cached]typeRes) (event.TypeSet, bool) {
	switch x := e.(type) {
	case *And:
		s, pure := event.AllTypes(), true
		for _, y := range x.Xs {
			t, p := typesOf(y, memo)
			s = s.Intersect(t)
			pure = pure && p
		}
		return s, pure
	case *Or:
		var s event.TypeSet
		pure := true
		for _, y := range x.Xs {
			t, p := typesOf(y, memo)
			s = s.Union(t)
			pure = pure && p
		}
		return s, pure
	case *Not:
		t, pure := typesOf(x.X, memo)
		if pure {
			return event.AllTypes().Minus(t), true
		}
		return event.AllTypes(), false
	case *Const:
		if x.V {
			return event.AllTypes(), true
		}
		return event.TypeSet{}, true
	case *Cached:
		if r, ok := memo[x]; ok {
			return r.set, r.pure
		}
		s, pure := typesOf(x.X, memo)
		memo[x] = typeRes{s, pure}
		return s, pure
	case *Cmp:
		if x.L.Field.Name != "evt.type" || x.L.Step != 0 || len(x.L.Trans) > 0 || x.R != nil || x.Mod != ModNone {
			return event.AllTypes(), false
		}
		var s event.TypeSet
		for _, v := range x.Strs {
			if t, ok := event.ByName(v); ok {
				s.Add(t)
			}
		}
		switch x.Op {
		case OpEq, OpIn, OpIntersects:
			return s, true
		case OpNe:
			return event.AllTypes().Minus(s), true
		}
		return event.AllTypes(), false
	}
	return event.AllTypes(), false
}
