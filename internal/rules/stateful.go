package rules

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"gopkg.in/yaml.v3"
)

// Stateful rules (Vigil extension keys `sequence` and `threshold`): a rule
// whose condition holds only after earlier events of the same process,
// process tree, container or pod (a sequence), or once enough events
// matched within a time window (a threshold). Falco's rules files never
// use these keys, so they load and evaluate unchanged.

// Key says which events share state: the `by` of a stateful rule.
type Key uint8

const (
	// KeyProcess: the same process (pid and start time).
	KeyProcess Key = iota + 1
	// KeyProcessTree: the later event's process is the earlier step's
	// process or one of its descendants (sequences only).
	KeyProcessTree
	// KeyContainer: the same container (host processes share "host").
	KeyContainer
	// KeyPod: the same Kubernetes pod; a container outside a pod is its
	// own key.
	KeyPod
)

var keyNames = map[string]Key{"process": KeyProcess, "process_tree": KeyProcessTree, "container": KeyContainer, "pod": KeyPod}

func (k Key) String() string {
	for n, v := range keyNames {
		if v == k {
			return n
		}
	}
	return "?"
}

// Limits of the stateful keys.
const (
	// MaxWithin bounds a stateful rule's window.
	MaxWithin = 24 * time.Hour
	// MaxThresholdCount bounds threshold.count (the engine keeps up to
	// count values per key).
	MaxThresholdCount = 1000
	// MaxSteps bounds the steps of a sequence.
	MaxSteps = 8
)

// SequenceSpec is a rule's `sequence`: the steps that must have matched,
// in order, for the same key within Within before the rule's condition
// is evaluated.
type SequenceSpec struct {
	By     Key
	Within time.Duration
	Steps  []*StepSpec
	Pos    Pos
}

// StepSpec is one step of a sequence. As names it (default stepN, 1-based)
// so that later steps and the output can read its fields: as: download
// makes download.fd.name the fd.name of the event that matched the step.
type StepSpec struct {
	As   string
	Cond Cond
	Pos  Pos
}

// ThresholdSpec is a rule's `threshold`: the rule fires when Count events
// matching its condition (with Count distinct values of Distinct when set)
// happened for the same key within Within; then the key is quiet for
// Within.
type ThresholdSpec struct {
	Count       int
	Distinct    string
	DistinctPos Pos
	Within      time.Duration
	By          Key
	Pos         Pos
}

// State is the compiled stateful part of a rule; nil for every Falco rule.
type State struct {
	By     Key
	Within int64 // ns
	// Types are the event types of the rule's own condition (Rule.Types
	// adds the steps' types).
	Types event.TypeSet
	// Steps are the steps of a sequence before the rule's condition (the
	// last step); none for a threshold.
	Steps []*Step
	// Count and Distinct are the threshold's; Count is 0 for a sequence.
	Count    int
	Distinct *Operand
	// Hash identifies the rule's definition (name, conditions after macro
	// and list expansion, output, stateful keys): the engine keeps a
	// rule's state across a reload only when the hash is unchanged.
	Hash [32]byte
}

// Step is a compiled sequence step.
type Step struct {
	Name  string
	Cond  Expr
	Types event.TypeSet
	// Keep are the fields of the step's event that later steps and the
	// output read (Operand.Step names the step, Operand.Slot indexes Keep).
	// The first CondKeep of them are read by conditions (the others only
	// by the output): two events of the step are the same sequence when
	// those are equal.
	Keep     []*Operand
	CondKeep int
}

var stateKinds = map[string]bool{"sequence": true, "threshold": true}

// sequence parses a rule's `sequence` mapping.
func (l *fileLoader) sequence(n *yaml.Node, rule string) (*SequenceSpec, bool) {
	if n.Kind != yaml.MappingNode {
		l.diag(n, false, "rule", rule, "sequence must be a mapping with by, within and steps, got %s", kindName(n))
		return nil, false
	}
	s := &SequenceSpec{Pos: Pos{File: l.file, Line: n.Line, Col: n.Column}}
	order, m := fieldsOf(n)
	for _, e := range order {
		switch e.k.Value {
		case "by", "within", "steps":
		default:
			l.diag(e.k, false, "rule", rule, "unknown key %q in sequence (want by, within, steps)", e.k.Value)
			return nil, false
		}
	}
	var ok bool
	if s.By, ok = l.stateKey(n, m, rule, "sequence", true); !ok {
		return nil, false
	}
	if s.Within, ok = l.within(n, m, rule, "sequence"); !ok {
		return nil, false
	}
	st, has := m["steps"]
	if !has {
		l.diag(n, false, "rule", rule, "sequence has no steps")
		return nil, false
	}
	if st.v.Kind != yaml.SequenceNode || len(st.v.Content) == 0 {
		l.diag(st.v, false, "rule", rule, "sequence steps must be a non-empty list of {as, condition}")
		return nil, false
	}
	if len(st.v.Content) > MaxSteps {
		l.diag(st.v, false, "rule", rule, "sequence has %d steps, at most %d", len(st.v.Content), MaxSteps)
		return nil, false
	}
	names := map[string]bool{}
	for i, sn := range st.v.Content {
		if sn.Kind != yaml.MappingNode {
			l.diag(sn, false, "rule", rule, "a sequence step must be a mapping {as, condition}, got %s", kindName(sn))
			return nil, false
		}
		step := &StepSpec{As: "step" + strconv.Itoa(i+1), Pos: Pos{File: l.file, Line: sn.Line, Col: sn.Column}}
		sorder, sm := fieldsOf(sn)
		for _, e := range sorder {
			if e.k.Value != "as" && e.k.Value != "condition" {
				l.diag(e.k, false, "rule", rule, "unknown key %q in a sequence step (want as, condition)", e.k.Value)
				return nil, false
			}
		}
		if a, ok := sm["as"]; ok {
			if a.v.Kind != yaml.ScalarNode || !validStepName(a.v.Value) {
				l.diag(a.v, false, "rule", rule, "step name %q must be a word of letters, digits and _ (starting with a letter)", a.v.Value)
				return nil, false
			}
			if isFieldClass(a.v.Value) {
				l.diag(a.v, false, "rule", rule, "step name %q is a field class: %s.* would be ambiguous", a.v.Value, a.v.Value)
				return nil, false
			}
			step.As = a.v.Value
		}
		if names[step.As] {
			l.diag(sn, false, "rule", rule, "two steps named %q", step.As)
			return nil, false
		}
		names[step.As] = true
		c, ok := sm["condition"]
		if !ok {
			l.diag(sn, false, "rule", rule, "sequence step %q has no condition", step.As)
			return nil, false
		}
		text, ok := l.str(c.v, "rule", rule, "condition")
		if !ok {
			return nil, false
		}
		step.Cond.append(text, l.src(c.v))
		s.Steps = append(s.Steps, step)
	}
	return s, true
}

// threshold parses a rule's `threshold` mapping.
func (l *fileLoader) threshold(n *yaml.Node, rule string) (*ThresholdSpec, bool) {
	if n.Kind != yaml.MappingNode {
		l.diag(n, false, "rule", rule, "threshold must be a mapping with count, within, by and optionally distinct, got %s", kindName(n))
		return nil, false
	}
	t := &ThresholdSpec{Pos: Pos{File: l.file, Line: n.Line, Col: n.Column}}
	order, m := fieldsOf(n)
	for _, e := range order {
		switch e.k.Value {
		case "count", "distinct", "within", "by":
		default:
			l.diag(e.k, false, "rule", rule, "unknown key %q in threshold (want count, distinct, within, by)", e.k.Value)
			return nil, false
		}
	}
	c, has := m["count"]
	if !has {
		l.diag(n, false, "rule", rule, "threshold has no count")
		return nil, false
	}
	cnt, err := strconv.Atoi(c.v.Value)
	if c.v.Kind != yaml.ScalarNode || err != nil || cnt < 2 || cnt > MaxThresholdCount {
		l.diag(c.v, false, "rule", rule, "threshold count must be a whole number from 2 to %d, got %q", MaxThresholdCount, c.v.Value)
		return nil, false
	}
	t.Count = cnt
	if d, ok := m["distinct"]; ok {
		if d.v.Kind != yaml.ScalarNode || d.v.Value == "" {
			l.diag(d.v, false, "rule", rule, "threshold distinct must be a field name")
			return nil, false
		}
		t.Distinct = d.v.Value
		t.DistinctPos = Pos{File: l.file, Line: d.v.Line, Col: d.v.Column}
	}
	var ok bool
	if t.Within, ok = l.within(n, m, rule, "threshold"); !ok {
		return nil, false
	}
	if t.By, ok = l.stateKey(n, m, rule, "threshold", false); !ok {
		return nil, false
	}
	return t, true
}

func (l *fileLoader) stateKey(n *yaml.Node, m map[string]kv, rule, kind string, tree bool) (Key, bool) {
	b, has := m["by"]
	if !has {
		l.diag(n, false, "rule", rule, "%s has no 'by' (process, process_tree, container or pod)", kind)
		return 0, false
	}
	k, ok := keyNames[b.v.Value]
	if b.v.Kind != yaml.ScalarNode || !ok {
		l.diag(b.v, false, "rule", rule, "%s by must be process, process_tree, container or pod, got %q", kind, b.v.Value)
		return 0, false
	}
	if k == KeyProcessTree && !tree {
		l.diag(b.v, false, "rule", rule, "by: process_tree applies to sequences only (a threshold counts per process, container or pod)")
		return 0, false
	}
	return k, true
}

func (l *fileLoader) within(n *yaml.Node, m map[string]kv, rule, kind string) (time.Duration, bool) {
	w, has := m["within"]
	if !has {
		l.diag(n, false, "rule", rule, "%s has no 'within' (a duration such as 30s or 5m)", kind)
		return 0, false
	}
	d, err := time.ParseDuration(w.v.Value)
	if w.v.Kind != yaml.ScalarNode || err != nil || d <= 0 || d > MaxWithin {
		l.diag(w.v, false, "rule", rule, "%s within must be a positive duration up to 24h (30s, 5m, 1h), got %q", kind, w.v.Value)
		return 0, false
	}
	return d, true
}

// isFieldClass reports whether some field's name starts with s + ".".
func isFieldClass(s string) bool {
	for _, f := range event.Fields() {
		if strings.HasPrefix(f.Name, s+".") {
			return true
		}
	}
	return false
}

func validStepName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

// stepScope is what a condition or output being compiled may read of
// earlier steps: the steps before it (by name) and their kept fields.
type stepScope struct {
	names []string // steps in order
	avail int      // how many of them the current condition may read
	steps []*Step
}

// stepOperand resolves name (as written, e.g. download.fd.name) when its
// first component is a step: ok is false when it is not. msg is an error.
func (c *compiler) stepOperand(fe *FieldExpr) (o Operand, ok bool, msg string) {
	sc := c.scope
	if sc == nil {
		return o, false, ""
	}
	dot := strings.IndexByte(fe.Name, '.')
	if dot < 0 {
		return o, false, ""
	}
	step := -1
	for i, n := range sc.names {
		if n == fe.Name[:dot] {
			step = i
		}
	}
	if step < 0 {
		return o, false, ""
	}
	if step >= sc.avail {
		return o, true, fmt.Sprintf("%s: step %q is not an earlier step here (a step reads only the steps before it)", fe.Name, sc.names[step])
	}
	inner := *fe
	inner.Name = fe.Name[dot+1:]
	inner.Transformers = nil
	o, msg = c.operand(&inner)
	if msg != "" {
		return o, true, msg
	}
	if o.Multi != event.MultiNone || o.Field.FilterOnly || hostFields[o.Field.Name] != "" {
		return o, true, fmt.Sprintf("%s: only a single-valued field of an earlier step can be read (not %s)", fe.Name, o.Field.Name)
	}
	// The step keeps the raw value; transformers apply when it is read.
	s := sc.steps[step]
	slot := -1
	for i, k := range s.Keep {
		if k.Text == o.Text {
			slot = i
		}
	}
	if slot < 0 {
		keep := o
		s.Keep = append(s.Keep, &keep)
		slot = len(s.Keep) - 1
	}
	o.Step, o.Slot = step+1, slot
	o.Text = fe.String()
	for _, t := range fe.Transformers {
		tr := trNames[t]
		if o.Type != event.FieldString {
			return o, true, fmt.Sprintf("transformer %s() needs a string field, %s is %s", t, fe.Name, o.Type)
		}
		if tr == TrLen {
			o.Type = event.FieldUint
		}
		o.Trans = append(o.Trans, tr)
	}
	return o, true, ""
}

// compileState compiles the steps of a sequence or the threshold of r;
// final is the rule's compiled condition. It returns the types the steps
// add to the rule's, nil State after an error.
func (c *compiler) compileStateSteps(r *RuleSpec) (*State, bool) {
	if r.Sequence == nil {
		return nil, true
	}
	st := &State{By: r.Sequence.By, Within: int64(r.Sequence.Within)}
	sc := &stepScope{}
	for _, s := range r.Sequence.Steps {
		sc.names = append(sc.names, s.As)
	}
	c.scope = sc
	for i, s := range r.Sequence.Steps {
		sc.avail = i
		step := &Step{Name: s.As}
		sc.steps = append(sc.steps, step)
		ast, err := ParseCondition(s.Cond.Text)
		if err != nil {
			se := err.(*SyntaxError)
			c.diag(s.Cond.PosAt(se.Off), false, "rule", r.Name, "step %s: %s", s.As, se.Msg)
			return nil, false
		}
		setSrc(ast, &s.Cond)
		ast = c.resolve(ast, "rule", r.Name, 0)
		if ast == nil {
			return nil, false
		}
		c.hashText = append(c.hashText, "step "+s.As+": "+ast.String())
		step.Cond = c.build(ast, "rule", r.Name)
		if step.Cond == nil {
			return nil, false
		}
		step.Types, _ = typesOf(step.Cond, map[*Cached]typeRes{})
		if step.Types == event.AllTypes() {
			c.diag(s.Pos, true, "rule", r.Name, "step %s: condition does not restrict evt.type: the step runs for every event", s.As)
		}
		step.Types = step.Types.Intersect(event.SourceTypes(r.Source))
		st.Steps = append(st.Steps, step)
	}
	sc.avail = len(sc.names) // the rule's condition and output read every step
	return st, true
}

// finishState completes st (threshold fields, hash) once the rule's
// condition and output are compiled.
func (c *compiler) finishState(r *RuleSpec, st *State, cond Node, output string) (*State, bool) {
	if r.Threshold != nil {
		t := r.Threshold
		st = &State{By: t.By, Within: int64(t.Within), Count: t.Count}
		if t.Distinct != "" {
			p := &parser{s: t.Distinct}
			fe, ok := p.fieldOrTransformer(0)
			p.ws()
			if !ok || p.i != len(t.Distinct) {
				c.diag(t.DistinctPos, false, "rule", r.Name, "threshold distinct: invalid field %q", t.Distinct)
				return nil, false
			}
			o, msg := c.operand(&fe)
			if msg != "" {
				c.diag(t.DistinctPos, false, "rule", r.Name, "threshold distinct: %s", msg)
				return nil, false
			}
			if o.Multi != event.MultiNone || o.Field.FilterOnly || hostFields[o.Field.Name] != "" {
				c.diag(t.DistinctPos, false, "rule", r.Name, "threshold distinct: %s is not a single-valued field", o.Text)
				return nil, false
			}
			st.Distinct = &o
		}
		c.hashText = append(c.hashText, fmt.Sprintf("threshold %d %q %d %d", t.Count, t.Distinct, t.Within, t.By))
	}
	if st == nil {
		return nil, true
	}
	if r.Sequence != nil {
		c.hashText = append(c.hashText, fmt.Sprintf("sequence %d %d", r.Sequence.Within, r.Sequence.By))
	}
	h := sha256.New()
	for _, s := range append([]string{"rule " + r.Name, "source " + r.Source, "condition " + cond.String(), "output " + output}, c.hashText...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	copy(st.Hash[:], h.Sum(nil))
	return st, true
}

// String describes the state in one line: "sequence(write) by container
// within 10m0s" or "threshold 15 distinct evt.arg.addr by container within
// 10s".
func (st *State) String() string {
	w := time.Duration(st.Within).String()
	if st.Count > 0 {
		d := ""
		if st.Distinct != nil {
			d = " distinct " + st.Distinct.Text
		}
		return fmt.Sprintf("threshold %d%s by %s within %s", st.Count, d, st.By, w)
	}
	names := make([]string, len(st.Steps))
	for i, s := range st.Steps {
		names[i] = s.Name
	}
	return fmt.Sprintf("sequence(%s) by %s within %s", strings.Join(names, ","), st.By, w)
}
