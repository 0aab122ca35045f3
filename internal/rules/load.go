package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EngineVersion is the Falco engine version whose rule language Vigil
// implements; files requiring a newer one are rejected.
const EngineVersion = "0.57.0"

// DefaultSource is the source of rules that name none.
const DefaultSource = "syscall"

// File is a rules file to load.
type File struct {
	Name string
	Data []byte
}

// FileStats counts what one file defines and what was reported about it.
type FileStats struct {
	Name string
	// SHA256 is the hex SHA-256 of the file's bytes, as loaded.
	SHA256               string
	Rules, Macros, Lists int
	Errors, Warnings     int
}

// Spec is a parsed, merged set of rules files: lists, macros and rules in
// definition order with later definitions, appends and overrides applied.
// It is independent of the kernel and of the field registry: conditions
// are kept as text (with their source positions) until Compile.
type Spec struct {
	Files  []FileStats
	Lists  []*ListSpec
	Macros []*MacroSpec
	Rules  []*RuleSpec
	Diags  Diagnostics

	lists, macros, rules map[string]int
	srcs                 map[string][]byte
}

// ListSpec is a list definition.
type ListSpec struct {
	Name  string
	Items []ListItem
	Pos   Pos
}

// ListItem is one list item as written (quotes kept: `'"(systemd)"'`).
type ListItem struct {
	Text string
	Pos  Pos
}

// MacroSpec is a macro definition.
type MacroSpec struct {
	Name string
	Cond Cond
	Pos  Pos
}

// RuleSpec is a rule definition.
type RuleSpec struct {
	Name       string
	Desc       string
	Cond       Cond
	Output     string
	OutputPos  Pos
	Priority   Priority
	Tags       []string
	Source     string
	Enabled    bool
	Exceptions []*ExceptionSpec
	Pos        Pos
	// Actions are the response actions (Vigil extension key `actions`);
	// ActionsPos is where they were last set.
	Actions    []Action
	ActionsPos Pos
	// Sequence and Threshold make the rule stateful (Vigil extension keys
	// `sequence` and `threshold`, at most one of them); nil for Falco's
	// rules.
	Sequence  *SequenceSpec
	Threshold *ThresholdSpec
	// WarnEvttypes (warn_evttypes, default true): false silences the
	// warning for a condition that does not restrict evt.type.
	WarnEvttypes bool
	// SkipIfUnknownFilter (skip-if-unknown-filter): a condition naming a
	// field Vigil does not know skips the rule with a warning instead of
	// an error.
	SkipIfUnknownFilter bool
}

// ExceptionSpec is one entry of a rule's `exceptions`.
type ExceptionSpec struct {
	Name string
	// Fields and Comps; FieldsList is false for the single-field form
	// (`fields: proc.name`, values a flat list, comp defaulting to in).
	Fields     []string
	FieldsList bool
	Comps      []string
	Values     [][]ExceptionValue
	Pos        Pos
}

// ExceptionValue is one value of an exception row: a string, or a list of
// strings for list operators (in, intersects, pmatch).
type ExceptionValue struct {
	Text   string
	List   []string
	IsList bool
}

// Cond is a condition's text with the source of each part, so that an
// offset in the text maps back to file:line:col. Appends add parts.
type Cond struct {
	Text  string
	parts []condPart
}

type condPart struct {
	start int // offset of the part in Text
	src   scalarSrc
}

// scalarSrc locates a YAML scalar's content in its file.
type scalarSrc struct {
	file  string
	data  []byte
	off   int // byte offset in data where the content starts
	style yaml.Style
	pos   Pos
}

func (c *Cond) append(text string, src scalarSrc) {
	if c.Text != "" {
		c.Text += " "
	}
	c.parts = append(c.parts, condPart{start: len(c.Text), src: src})
	c.Text += text
}

// PosAt maps an offset in the condition text to a file position. Runs of
// whitespace in the text and in the source are treated as equal, which
// follows YAML folding and indentation.
func (c *Cond) PosAt(off int) Pos {
	if len(c.parts) == 0 {
		return Pos{}
	}
	pi := 0
	for i := range c.parts {
		if c.parts[i].start <= off {
			pi = i
		}
	}
	p := c.parts[pi]
	text := c.Text[p.start:]
	end := len(text)
	if pi+1 < len(c.parts) {
		end = c.parts[pi+1].start - p.start
	}
	text = text[:end]
	off -= p.start
	if p.src.data == nil || p.src.off < 0 || p.src.off > len(p.src.data) {
		return p.src.pos
	}
	src := p.src.data
	i, j := 0, p.src.off
	for i < off && i < len(text) && j < len(src) {
		switch {
		case isSpace(text[i]):
			for i < len(text) && isSpace(text[i]) && i < off {
				i++
			}
			if i == len(text) {
				break // trailing whitespace: stay on the last line
			}
			for j < len(src) && isSpace(src[j]) {
				j++
			}
		case isSpace(src[j]):
			j++ // indentation and folding are not in the text
		case text[i] == src[j]:
			i++
			j++
		case src[j] == '\\' || src[j] == '\'' || src[j] == '"':
			j++
		default:
			i++
			j++
		}
	}
	for j < len(src) && isSpace(src[j]) && i < len(text) && !isSpace(text[i]) {
		j++
	}
	return posOf(p.src.file, src, j)
}

func posOf(file string, data []byte, off int) Pos {
	line, col := 1, 1
	for k := 0; k < off && k < len(data); k++ {
		if data[k] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return Pos{File: file, Line: line, Col: col}
}

// LoadFiles reads and loads rules files in order. The error is only about
// reading; rule problems are in Spec.Diags.
func LoadFiles(paths ...string) (*Spec, error) {
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load rules: %w", err)
		}
		files = append(files, File{Name: p, Data: b})
	}
	return Load(files...), nil
}

// Load parses and merges rules files in order, as Falco does: later
// definitions replace earlier ones, `append: true` and `override:` extend
// or replace them, a rule item with only `enabled` toggles a rule. It never
// panics; problems are reported in Spec.Diags with positions.
func Load(files ...File) *Spec {
	s := &Spec{lists: map[string]int{}, macros: map[string]int{}, rules: map[string]int{}, srcs: map[string][]byte{}}
	for _, f := range files {
		s.loadFile(f)
	}
	return s
}

type fileLoader struct {
	s     *Spec
	file  string
	data  []byte
	stats *FileStats
}

func (l *fileLoader) diag(n *yaml.Node, warn bool, kind, name, format string, args ...any) {
	p := Pos{File: l.file}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	l.s.Diags = append(l.s.Diags, &Diagnostic{Pos: p, Kind: kind, Name: name, Msg: fmt.Sprintf(format, args...), Warning: warn})
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

func (s *Spec) loadFile(f File) {
	sum := sha256.Sum256(f.Data)
	s.Files = append(s.Files, FileStats{Name: f.Name, SHA256: hex.EncodeToString(sum[:])})
	l := &fileLoader{s: s, file: f.Name, data: f.Data, stats: &s.Files[len(s.Files)-1]}
	s.srcs[f.Name] = f.Data
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		line, col := 1, 1
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				col, _ = strconv.Atoi(m[2])
			}
		}
		s.Diags = append(s.Diags, &Diagnostic{Pos: Pos{File: f.Name, Line: line, Col: col}, Kind: "file",
			Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return
	}
	if root.Kind != yaml.SequenceNode {
		l.diag(root, false, "file", "", "rules file must be a list of items (rule, macro, list, ...), got %s", kindName(root))
		return
	}
	for _, item := range root.Content {
		l.item(item)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// fieldsOf returns the key → (key node, value node) of a mapping, in order.
type kv struct{ k, v *yaml.Node }

func fieldsOf(n *yaml.Node) ([]kv, map[string]kv) {
	var order []kv
	m := map[string]kv{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		e := kv{n.Content[i], n.Content[i+1]}
		order = append(order, e)
		m[e.k.Value] = e
	}
	return order, m
}

func (l *fileLoader) item(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.diag(n, false, "item", "", "each item must be a mapping with a rule, macro, list or required_* key, got %s", kindName(n))
		return
	}
	_, m := fieldsOf(n)
	switch {
	case has(m, "rule"):
		l.stats.Rules++
		l.rule(n, m)
	case has(m, "macro"):
		l.stats.Macros++
		l.macro(n, m)
	case has(m, "list"):
		l.stats.Lists++
		l.list(n, m)
	case has(m, "required_engine_version"):
		l.engineVersion(m["required_engine_version"].v)
	case has(m, "required_plugin_versions"):
		l.pluginVersions(m["required_plugin_versions"].v)
	default:
		key := ""
		if len(n.Content) > 0 {
			key = n.Content[0].Value
		}
		l.diag(n, true, "item", "", "unknown top-level item %q ignored", key)
	}
}

func has(m map[string]kv, k string) bool { _, ok := m[k]; return ok }

func (l *fileLoader) str(n *yaml.Node, kind, name, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		l.diag(n, false, kind, name, "%s must be a string, got %s", key, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (l *fileLoader) boolean(n *yaml.Node, kind, name, key string) (bool, bool) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			return true, true
		case "false", "no", "off":
			return false, true
		}
	}
	l.diag(n, false, kind, name, "%s must be true or false, got %q", key, n.Value)
	return false, false
}

func (l *fileLoader) strList(n *yaml.Node, kind, name, key string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		l.diag(n, false, kind, name, "%s must be a list, got %s", key, kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			l.diag(c, false, kind, name, "%s items must be strings, got %s", key, kindName(c))
			return nil, false
		}
		out = append(out, c.Value)
	}
	return out, true
}

func (l *fileLoader) src(n *yaml.Node) scalarSrc {
	s := scalarSrc{file: l.file, data: l.data, style: n.Style, pos: Pos{File: l.file, Line: n.Line, Col: n.Column}, off: -1}
	// byte offset of line/col
	off, line := 0, 1
	for line < n.Line && off < len(l.data) {
		if l.data[off] == '\n' {
			line++
		}
		off++
	}
	off += n.Column - 1
	if off > len(l.data) {
		return s
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		for off < len(l.data) && l.data[off] != '\n' {
			off++
		}
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		off++
	}
	s.off = off
	return s
}

// checkKeys warns about keys that the item kind does not know.
func (l *fileLoader) checkKeys(order []kv, kind, name string, known map[string]bool) {
	for _, e := range order {
		if !known[e.k.Value] {
			l.diag(e.k, true, kind, name, "unknown key %q ignored", e.k.Value)
		}
	}
}

var listKeys = map[string]bool{"list": true, "items": true, "append": true, "override": true}

func (l *fileLoader) list(n *yaml.Node, m map[string]kv) {
	order, _ := fieldsOf(n)
	name, ok := l.str(m["list"].v, "list", "", "list")
	if !ok {
		return
	}
	if name == "" {
		l.diag(m["list"].v, false, "list", "", "list name is empty")
		return
	}
	l.checkKeys(order, "list", name, listKeys)
	pos := Pos{File: l.file, Line: n.Line, Col: n.Column}
	itemsKV, hasItems := m["items"]
	if !hasItems {
		l.diag(n, false, "list", name, "missing key 'items'")
		return
	}
	var items []ListItem
	if itemsKV.v.Kind == yaml.SequenceNode {
		for _, c := range itemsKV.v.Content {
			if c.Kind != yaml.ScalarNode {
				l.diag(c, false, "list", name, "list items must be strings, got %s", kindName(c))
				return
			}
			items = append(items, ListItem{Text: c.Value, Pos: Pos{File: l.file, Line: c.Line, Col: c.Column}})
		}
	} else if !(itemsKV.v.Kind == yaml.ScalarNode && itemsKV.v.Tag == "!!null") {
		l.diag(itemsKV.v, false, "list", name, "items must be a list, got %s", kindName(itemsKV.v))
		return
	}
	mode, ok := l.mergeMode(n, m, "list", name, map[string]bool{"items": true}, map[string]bool{"items": true})
	if !ok {
		return
	}
	idx, exists := l.s.lists[name]
	switch {
	case mode.any():
		if !exists {
			l.diag(n, false, "list", name, "list has 'append' or 'override' but no list by that name already exists")
			return
		}
		old := l.s.Lists[idx]
		if mode["items"] == "append" {
			old.Items = append(old.Items, items...)
		} else {
			old.Items = items
		}
	case exists:
		l.s.Lists[idx] = &ListSpec{Name: name, Items: items, Pos: pos}
	default:
		l.s.lists[name] = len(l.s.Lists)
		l.s.Lists = append(l.s.Lists, &ListSpec{Name: name, Items: items, Pos: pos})
	}
}

var macroKeys = map[string]bool{"macro": true, "condition": true, "append": true, "override": true, "source": true}

func (l *fileLoader) macro(n *yaml.Node, m map[string]kv) {
	order, _ := fieldsOf(n)
	name, ok := l.str(m["macro"].v, "macro", "", "macro")
	if !ok {
		return
	}
	if name == "" {
		l.diag(m["macro"].v, false, "macro", "", "macro name is empty")
		return
	}
	l.checkKeys(order, "macro", name, macroKeys)
	pos := Pos{File: l.file, Line: n.Line, Col: n.Column}
	ckv, hasCond := m["condition"]
	if !hasCond {
		l.diag(n, false, "macro", name, "missing key 'condition'")
		return
	}
	text, ok := l.str(ckv.v, "macro", name, "condition")
	if !ok {
		return
	}
	mode, ok := l.mergeMode(n, m, "macro", name, map[string]bool{"condition": true}, map[string]bool{"condition": true})
	if !ok {
		return
	}
	var cond Cond
	cond.append(text, l.src(ckv.v))
	idx, exists := l.s.macros[name]
	switch {
	case mode.any():
		if !exists {
			l.diag(n, false, "macro", name, "macro has 'append' or 'override' but no macro by that name already exists")
			return
		}
		old := l.s.Macros[idx]
		if mode["condition"] == "append" {
			old.Cond.append(text, l.src(ckv.v))
		} else {
			old.Cond = cond
		}
	case exists:
		l.s.Macros[idx] = &MacroSpec{Name: name, Cond: cond, Pos: pos}
	default:
		l.s.macros[name] = len(l.s.Macros)
		l.s.Macros = append(l.s.Macros, &MacroSpec{Name: name, Cond: cond, Pos: pos})
	}
}

// mergeMode is the per-key merge mode of an item: "append" or "replace";
// empty for a plain definition.
type mergeMode map[string]string

func (m mergeMode) any() bool { return len(m) > 0 }

// mergeMode reads `append: true` (deprecated: append every appendable key
// present) and `override: {key: append|replace}`.
func (l *fileLoader) mergeMode(n *yaml.Node, m map[string]kv, kind, name string, appendable, replaceable map[string]bool) (mergeMode, bool) {
	mode := mergeMode{}
	_, hasOverride := m["override"]
	if a, ok := m["append"]; ok {
		b, ok := l.boolean(a.v, kind, name, "append")
		if !ok {
			return nil, false
		}
		if b {
			if hasOverride {
				l.diag(a.k, false, kind, name, "'append' and 'override' cannot be used together")
				return nil, false
			}
			l.diag(a.k, true, kind, name, "'append: true' is deprecated, use 'override: {KEY: append}'")
			for k := range appendable {
				if _, present := m[k]; present {
					mode[k] = "append"
				}
			}
			if kind == "rule" && len(mode) == 0 {
				l.diag(a.k, false, kind, name, "'append: true' needs a condition or exceptions to append")
				return nil, false
			}
		}
	}
	if o, ok := m["override"]; ok {
		if o.v.Kind != yaml.MappingNode {
			l.diag(o.v, false, kind, name, "override must be a mapping of key: append|replace, got %s", kindName(o.v))
			return nil, false
		}
		order, _ := fieldsOf(o.v)
		for _, e := range order {
			k, how := e.k.Value, e.v.Value
			switch how {
			case "append":
				if !appendable[k] {
					l.diag(e.v, false, kind, name, "key %q cannot be appended", k)
					return nil, false
				}
			case "replace":
				if !replaceable[k] {
					l.diag(e.v, false, kind, name, "key %q cannot be replaced", k)
					return nil, false
				}
			default:
				l.diag(e.v, false, kind, name, "override of %q must be append or replace, got %q", k, how)
				return nil, false
			}
			if _, present := m[k]; !present {
				l.diag(e.k, false, kind, name, "override of %q but the item has no %q key", k, k)
				return nil, false
			}
			mode[k] = how
		}
		// Every other key must be covered by the override.
		order, _ = fieldsOf(n)
		for _, e := range order {
			k := e.k.Value
			if k == kind || k == "override" || mode[k] != "" {
				continue
			}
			l.diag(e.k, false, kind, name, "key %q is not covered by 'override'", k)
			return nil, false
		}
		if len(mode) == 0 {
			l.diag(o.v, false, kind, name, "override is empty")
			return nil, false
		}
	}
	return mode, true
}

var ruleKeys = map[string]bool{"rule": true, "desc": true, "condition": true, "output": true, "priority": true,
	"tags": true, "enabled": true, "source": true, "exceptions": true, "override": true, "append": true,
	"warn_evttypes": true, "skip-if-unknown-filter": true, "capture": true, "capture_duration": true, "actions": true, "sequence": true, "threshold": true}

var ruleAppendable = map[string]bool{"condition": true, "output": true, "desc": true, "tags": true, "exceptions": true, "actions": true}
var ruleReplaceable = map[string]bool{"condition": true, "output": true, "desc": true, "priority": true, "tags": true,
	"exceptions": true, "enabled": true, "actions": true, "sequence": true, "threshold": true, "warn_evttypes": true, "skip-if-unknown-filter": true, "capture": true, "capture_duration": true}

func (l *fileLoader) rule(n *yaml.Node, m map[string]kv) {
	order, _ := fieldsOf(n)
	name, ok := l.str(m["rule"].v, "rule", "", "rule")
	if !ok {
		return
	}
	if name == "" {
		l.diag(m["rule"].v, false, "rule", "", "rule name is empty")
		return
	}
	l.checkKeys(order, "rule", name, ruleKeys)
	pos := Pos{File: l.file, Line: n.Line, Col: n.Column}
	mode, ok := l.mergeMode(n, m, "rule", name, ruleAppendable, ruleReplaceable)
	if !ok {
		return
	}
	idx, exists := l.s.rules[name]

	// Legacy toggle: only `rule` and `enabled`.
	if !mode.any() && len(order) == 2 && has(m, "enabled") {
		if !exists {
			l.diag(n, false, "rule", name, "rule has only 'enabled' but no rule by that name already exists")
			return
		}
		if b, ok := l.boolean(m["enabled"].v, "rule", name, "enabled"); ok {
			l.s.Rules[idx].Enabled = b
		}
		return
	}

	r := &RuleSpec{Name: name, Enabled: true, Source: DefaultSource, Pos: pos, Priority: -1, WarnEvttypes: true}
	if e, ok := m["desc"]; ok {
		r.Desc, _ = l.str(e.v, "rule", name, "desc")
	}
	if e, ok := m["condition"]; ok {
		text, ok := l.str(e.v, "rule", name, "condition")
		if !ok {
			return
		}
		r.Cond.append(text, l.src(e.v))
	}
	if e, ok := m["output"]; ok {
		r.Output, _ = l.str(e.v, "rule", name, "output")
		r.OutputPos = Pos{File: l.file, Line: e.v.Line, Col: e.v.Column}
	}
	if e, ok := m["priority"]; ok {
		p, err := ParsePriority(e.v.Value)
		if err != nil {
			l.diag(e.v, false, "rule", name, "%v", err)
			return
		}
		r.Priority = p
	}
	if e, ok := m["tags"]; ok {
		if r.Tags, ok = l.strList(e.v, "rule", name, "tags"); !ok {
			return
		}
	}
	if e, ok := m["enabled"]; ok {
		if r.Enabled, ok = l.boolean(e.v, "rule", name, "enabled"); !ok {
			return
		}
	}
	if e, ok := m["source"]; ok {
		if r.Source, ok = l.str(e.v, "rule", name, "source"); !ok {
			return
		}
	}
	if e, ok := m["warn_evttypes"]; ok {
		if r.WarnEvttypes, ok = l.boolean(e.v, "rule", name, "warn_evttypes"); !ok {
			return
		}
	}
	if e, ok := m["skip-if-unknown-filter"]; ok {
		if r.SkipIfUnknownFilter, ok = l.boolean(e.v, "rule", name, "skip-if-unknown-filter"); !ok {
			return
		}
	}
	if e, ok := m["exceptions"]; ok {
		if r.Exceptions, ok = l.exceptions(e.v, name); !ok {
			return
		}
	}
	if e, ok := m["actions"]; ok {
		if r.Actions, ok = l.actions(e.v, name); !ok {
			return
		}
		r.ActionsPos = Pos{File: l.file, Line: e.k.Line, Col: e.k.Column}
	}
	if e, ok := m["sequence"]; ok {
		if r.Sequence, ok = l.sequence(e.v, name); !ok {
			return
		}
	}
	if e, ok := m["threshold"]; ok {
		if has(m, "sequence") {
			l.diag(e.k, false, "rule", name, "a rule has a sequence or a threshold, not both")
			return
		}
		if r.Threshold, ok = l.threshold(e.v, name); !ok {
			return
		}
	}
	if (r.Sequence != nil || r.Threshold != nil) && r.Source != DefaultSource {
		k := m["sequence"].k
		if k == nil {
			k = m["threshold"].k
		}
		l.diag(k, false, "rule", name, "sequence and threshold are only supported on rules of source %s, not %q", DefaultSource, r.Source)
		return
	}

	if mode.any() {
		if !exists {
			l.diag(n, false, "rule", name, "rule has 'append' or 'override' but no rule by that name already exists")
			return
		}
		old := l.s.Rules[idx]
		for k, how := range mode {
			v := m[k].v
			switch k {
			case "condition":
				if how == "append" {
					old.Cond.append(r.Cond.Text, l.src(v))
				} else {
					old.Cond = r.Cond
				}
			case "output":
				if how == "append" {
					old.Output += " " + r.Output
				} else {
					old.Output = r.Output
					old.OutputPos = r.OutputPos
				}
			case "desc":
				if how == "append" {
					old.Desc += " " + r.Desc
				} else {
					old.Desc = r.Desc
				}
			case "tags":
				if how == "append" {
					old.Tags = append(old.Tags, r.Tags...)
				} else {
					old.Tags = r.Tags
				}
			case "sequence":
				old.Sequence, old.Threshold = r.Sequence, nil
			case "threshold":
				old.Threshold, old.Sequence = r.Threshold, nil
			case "priority":
				old.Priority = r.Priority
			case "enabled":
				old.Enabled = r.Enabled
			case "warn_evttypes":
				old.WarnEvttypes = r.WarnEvttypes
			case "skip-if-unknown-filter":
				old.SkipIfUnknownFilter = r.SkipIfUnknownFilter
			case "exceptions":
				if how == "append" {
					old.Exceptions = mergeExceptions(old.Exceptions, r.Exceptions)
				} else {
					old.Exceptions = r.Exceptions
				}
			case "actions":
				if how == "append" {
					old.Actions = appendAction(old.Actions, r.Actions...)
				} else {
					old.Actions = r.Actions
				}
				old.ActionsPos = r.ActionsPos
				if len(old.Actions) > 0 && old.Source != DefaultSource {
					l.diag(m["actions"].k, false, "rule", name, "actions are only supported on rules of source %s, not %q", DefaultSource, old.Source)
					old.Actions = nil
				}
			}
		}
		return
	}

	for _, k := range []string{"condition", "output", "desc", "priority"} {
		if !has(m, k) {
			l.diag(n, false, "rule", name, "missing key %q", k)
			return
		}
	}
	if len(r.Actions) > 0 && r.Source != DefaultSource {
		l.diag(m["actions"].k, false, "rule", name, "actions are only supported on rules of source %s, not %q", DefaultSource, r.Source)
		return
	}
	if exists {
		l.s.Rules[idx] = r
		return
	}
	l.s.rules[name] = len(l.s.Rules)
	l.s.Rules = append(l.s.Rules, r)
}

// mergeExceptions appends exceptions: values of an existing name are
// appended to it, new names are added.
func mergeExceptions(old, add []*ExceptionSpec) []*ExceptionSpec {
	out := append([]*ExceptionSpec(nil), old...)
	for _, a := range add {
		merged := false
		for i, o := range out {
			if o.Name == a.Name {
				c := *o
				c.Values = append(append([][]ExceptionValue(nil), o.Values...), a.Values...)
				out[i] = &c
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, a)
		}
	}
	return out
}

func (l *fileLoader) exceptions(n *yaml.Node, rule string) ([]*ExceptionSpec, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		l.diag(n, false, "rule", rule, "exceptions must be a list, got %s", kindName(n))
		return nil, false
	}
	var out []*ExceptionSpec
	for _, en := range n.Content {
		if en.Kind != yaml.MappingNode {
			l.diag(en, false, "rule", rule, "each exception must be a mapping, got %s", kindName(en))
			return nil, false
		}
		_, m := fieldsOf(en)
		e := &ExceptionSpec{Pos: Pos{File: l.file, Line: en.Line, Col: en.Column}}
		nkv, ok := m["name"]
		if !ok || nkv.v.Value == "" {
			l.diag(en, false, "rule", rule, "exception without a name")
			return nil, false
		}
		e.Name = nkv.v.Value
		if f, ok := m["fields"]; ok {
			switch f.v.Kind {
			case yaml.ScalarNode:
				e.Fields = []string{f.v.Value}
			case yaml.SequenceNode:
				e.FieldsList = true
				fs, ok := l.strList(f.v, "rule", rule, "exception fields")
				if !ok {
					return nil, false
				}
				e.Fields = fs
			default:
				l.diag(f.v, false, "rule", rule, "exception %q: fields must be a string or a list", e.Name)
				return nil, false
			}
		}
		if c, ok := m["comps"]; ok {
			switch c.v.Kind {
			case yaml.ScalarNode:
				e.Comps = []string{c.v.Value}
			case yaml.SequenceNode:
				cs, ok := l.strList(c.v, "rule", rule, "exception comps")
				if !ok {
					return nil, false
				}
				e.Comps = cs
			default:
				l.diag(c.v, false, "rule", rule, "exception %q: comps must be a string or a list", e.Name)
				return nil, false
			}
		}
		if v, ok := m["values"]; ok && !(v.v.Kind == yaml.ScalarNode && v.v.Tag == "!!null") {
			if v.v.Kind != yaml.SequenceNode {
				l.diag(v.v, false, "rule", rule, "exception %q: values must be a list", e.Name)
				return nil, false
			}
			for _, row := range v.v.Content {
				if row.Kind == yaml.ScalarNode {
					e.Values = append(e.Values, []ExceptionValue{{Text: row.Value}})
					continue
				}
				if row.Kind != yaml.SequenceNode {
					l.diag(row, false, "rule", rule, "exception %q: a value must be a string or a list", e.Name)
					return nil, false
				}
				var vals []ExceptionValue
				for _, c := range row.Content {
					switch c.Kind {
					case yaml.ScalarNode:
						vals = append(vals, ExceptionValue{Text: c.Value})
					case yaml.SequenceNode:
						items, ok := l.strList(c, "rule", rule, "exception value")
						if !ok {
							return nil, false
						}
						vals = append(vals, ExceptionValue{List: items, IsList: true})
					default:
						l.diag(c, false, "rule", rule, "exception %q: a value must be a string or a list", e.Name)
						return nil, false
					}
				}
				if e.FieldsList && len(vals) != len(e.Fields) {
					l.diag(row, false, "rule", rule, "exception %q: value has %d entries but there are %d fields", e.Name, len(vals), len(e.Fields))
					return nil, false
				}
				e.Values = append(e.Values, vals)
			}
		}
		if e.FieldsList && len(e.Comps) > 0 && len(e.Comps) != len(e.Fields) {
			l.diag(en, false, "rule", rule, "exception %q: %d comps for %d fields", e.Name, len(e.Comps), len(e.Fields))
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}

func (l *fileLoader) engineVersion(n *yaml.Node) {
	want := n.Value
	if n.Kind != yaml.ScalarNode {
		l.diag(n, false, "file", "", "required_engine_version must be a version string")
		return
	}
	if _, err := strconv.ParseUint(want, 10, 32); err == nil {
		want = "0." + want + ".0" // legacy integer engine versions, as Falco reads them
	}
	req, ok := parseVersion(want)
	if !ok {
		l.diag(n, false, "file", "", "invalid required_engine_version %q: want MAJOR.MINOR.PATCH or an integer", n.Value)
		return
	}
	if have, _ := parseVersion(EngineVersion); !have.compatibleWith(req) {
		l.diag(n, false, "file", "", "rules require engine version %s, Vigil implements %s (compatible: same major version, at least as recent)", n.Value, EngineVersion)
	}
}

// builtinPlugins are plugins whose fields Vigil provides natively, with
// the plugin version whose fields and semantics they match.
// k8saudit and json are the k8s_audit source's fields (ka.*, jevt.*); the
// cloud variants of k8saudit need their own event formats and are not.
var builtinPlugins = map[string]string{"container": "0.7.0", "k8saudit": "0.18.0", "json": "0.7.0"}

// pluginVersions checks required_plugin_versions as Falco does: each entry
// (name and version, both required) is satisfied when it or one of its
// alternatives names a plugin Vigil provides whose version is compatible
// with the one required (same major version, at least as recent).
func (l *fileLoader) pluginVersions(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		l.diag(n, false, "file", "", "required_plugin_versions must be a list")
		return
	}
	for _, p := range n.Content {
		if p.Kind != yaml.MappingNode {
			l.diag(p, false, "file", "", "required_plugin_versions entries must be mappings")
			continue
		}
		type req struct {
			name, version string
			at            *yaml.Node
		}
		read := func(node *yaml.Node) (req, bool) {
			_, m := fieldsOf(node)
			name, ok := m["name"]
			if !ok || name.v.Kind != yaml.ScalarNode || name.v.Value == "" {
				l.diag(node, false, "file", "", "required_plugin_versions entry has no name")
				return req{}, false
			}
			ver, ok := m["version"]
			if !ok || ver.v.Kind != yaml.ScalarNode || ver.v.Value == "" {
				l.diag(node, false, "file", "", "required_plugin_versions entry %q has no version", name.v.Value)
				return req{}, false
			}
			if _, ok := parseVersion(ver.v.Value); !ok {
				l.diag(ver.v, false, "file", "", "required_plugin_versions entry %q: invalid version %q: want MAJOR.MINOR.PATCH", name.v.Value, ver.v.Value)
				return req{}, false
			}
			return req{name.v.Value, ver.v.Value, node}, true
		}
		first, ok := read(p)
		if !ok {
			continue
		}
		reqs := []req{first}
		_, m := fieldsOf(p)
		if alt, ok := m["alternatives"]; ok && alt.v.Kind == yaml.SequenceNode {
			for _, a := range alt.v.Content {
				if a.Kind != yaml.MappingNode {
					l.diag(a, false, "file", "", "required_plugin_versions alternatives must be mappings")
					continue
				}
				if r, ok := read(a); ok {
					reqs = append(reqs, r)
				}
			}
		}
		satisfied := false
		var older []string
		for _, r := range reqs {
			have, ok := builtinPlugins[r.name]
			if !ok {
				continue
			}
			hv, _ := parseVersion(have)
			rv, _ := parseVersion(r.version)
			if hv.compatibleWith(rv) {
				satisfied = true
				break
			}
			older = append(older, fmt.Sprintf("%s %s is not compatible with the required %s", r.name, have, r.version))
		}
		switch {
		case satisfied:
		case len(older) > 0:
			l.diag(p, false, "file", "", "plugin requirement not satisfied: %s", strings.Join(older, "; "))
		default:
			l.diag(p, false, "file", "", "plugin %q is required but Vigil has no such plugin (built in: container, k8saudit, json)", first.name)
		}
	}
}

// version is a MAJOR.MINOR.PATCH version, compared as Falco's
// sinsp_version compares them.
type version [3]uint64

// parseVersion parses exactly MAJOR.MINOR.PATCH (Falco refuses anything
// else).
func parseVersion(s string) (version, bool) {
	var v version
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		x, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return v, false
		}
		v[i] = x
	}
	return v, true
}

// compatibleWith tells whether v can stand in for the requested version:
// the same major version and not older (Falco's compatible_with).
func (v version) compatibleWith(req version) bool {
	if v[0] != req[0] {
		return false
	}
	for i := 1; i < 3; i++ {
		if v[i] != req[i] {
			return v[i] > req[i]
		}
	}
	return true
}
