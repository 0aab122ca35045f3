package rules

import (
	"fmt"
	"strings"
)

// MaxDepth bounds the nesting of parentheses, `not` and transformers in a
// condition (and of macro expansion), so that hostile input cannot exhaust
// the stack.
const MaxDepth = 200

// SyntaxError is a condition parse error at byte offset Off of the
// condition text.
type SyntaxError struct {
	Off int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("offset %d: %s", e.Off, e.Msg) }

var transformers = map[string]bool{"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true}

var wordOps = map[string]bool{
	"contains": true, "icontains": true, "bcontains": true, "startswith": true, "bstartswith": true,
	"endswith": true, "glob": true, "iglob": true, "regex": true, "in": true, "intersects": true,
	"pmatch": true, "exists": true,
}

// listOps take a parenthesised list on the right-hand side.
var listOps = map[string]bool{"in": true, "intersects": true, "pmatch": true}

// modOps may be followed by a list modifier (anyof, allof, oneof).
var modOps = map[string]bool{
	"=": true, "!=": true, "contains": true, "icontains": true, "bcontains": true, "startswith": true,
	"bstartswith": true, "endswith": true, "glob": true, "iglob": true, "regex": true,
}

var modifiers = map[string]bool{"anyof": true, "allof": true, "oneof": true}

// ParseCondition parses a condition into an AST. It never panics; errors
// carry the byte offset.
func ParseCondition(s string) (Node, error) {
	p := &parser{s: s}
	n := p.orExpr(0)
	if p.err == nil {
		p.ws()
		if p.i < len(p.s) {
			p.fail(p.i, "unexpected %q", p.peekText())
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return n, nil
}

type parser struct {
	s   string
	i   int
	err *SyntaxError
}

func (p *parser) fail(off int, format string, args ...any) {
	if p.err == nil {
		p.err = &SyntaxError{Off: off, Msg: fmt.Sprintf(format, args...)}
	}
}

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) peekText() string {
	e := p.i
	for e < len(p.s) && e-p.i < 20 && !isSpace(p.s[e]) {
		e++
	}
	if e == p.i {
		return "end of condition"
	}
	return p.s[p.i:e]
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// keyword reports whether the word kw is at the cursor, followed by a
// delimiter (space, parenthesis or end).
func (p *parser) keyword(kw string) bool {
	if !strings.HasPrefix(p.s[p.i:], kw) {
		return false
	}
	e := p.i + len(kw)
	return e == len(p.s) || isSpace(p.s[e]) || p.s[e] == '('
}

func (p *parser) orExpr(depth int) Node {
	return p.chain(depth, "or", p.andExpr)
}

func (p *parser) andExpr(depth int) Node {
	return p.chain(depth, "and", p.notExpr)
}

func (p *parser) chain(depth int, op string, sub func(int) Node) Node {
	p.ws()
	off := p.i
	x := sub(depth)
	if p.err != nil {
		return nil
	}
	xs := []Node{x}
	for {
		p.ws()
		if !p.keyword(op) {
			break
		}
		p.i += len(op)
		y := sub(depth)
		if p.err != nil {
			return nil
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x
	}
	return &BoolExpr{Off: off, Op: op, Xs: xs}
}

func (p *parser) notExpr(depth int) Node {
	if depth > MaxDepth {
		p.fail(p.i, "condition nested too deeply (more than %d levels)", MaxDepth)
		return nil
	}
	p.ws()
	off := p.i
	if p.keyword("not") {
		p.i += 3
		x := p.notExpr(depth + 1)
		if p.err != nil {
			return nil
		}
		return &NotExpr{Off: off, X: x}
	}
	return p.term(depth)
}

func (p *parser) term(depth int) Node {
	p.ws()
	off := p.i
	if p.i >= len(p.s) {
		p.fail(p.i, "unexpected end of condition, expected a field, a macro or '('")
		return nil
	}
	if p.s[p.i] == '(' {
		p.i++
		x := p.orExpr(depth + 1)
		if p.err != nil {
			return nil
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			p.fail(off, "expected ')' to close this '(', got %s", p.quoteNext())
			return nil
		}
		p.i++
		return x
	}
	if !isIdentStart(p.s[p.i]) {
		p.fail(p.i, "expected a field, a macro or '(', got %s", p.quoteNext())
		return nil
	}
	// and, or and not are reserved: "not>0" is not a check on a field
	// named "not" (it would print as "not > 0", which means something else).
	if w := p.word(); w == "and" || w == "or" || w == "not" {
		p.fail(p.i, "expected a field, a macro or '(', got the keyword %q", w)
		return nil
	}
	f, ok := p.fieldOrTransformer(depth)
	if !ok {
		return nil
	}
	p.ws()
	op := p.operator()
	if op == "" {
		if len(f.Transformers) > 0 || f.HasArg {
			p.fail(p.i, "expected an operator after %s, got %s", f.String(), p.quoteNext())
			return nil
		}
		// A bare identifier is a macro reference.
		return &MacroRef{Off: off, Name: f.Name}
	}
	c := &CheckExpr{Off: off, Field: f, Op: op}
	if op == "exists" {
		return c
	}
	p.ws()
	if modOps[op] {
		if m := p.word(); modifiers[m] {
			p.i += len(m)
			c.Mod = m
			p.ws()
		}
	}
	if listOps[op] || c.Mod != "" {
		if p.i < len(p.s) && p.s[p.i] == '(' {
			c.IsList = true
			c.List = p.list()
			return c
		}
		// A bare list name: Falco writes `in (name)`, accept `in name` too.
		v, ok := p.value()
		if !ok {
			return nil
		}
		c.IsList = true
		c.List = []Value{v}
		return c
	}
	// val(field) or transformer(field) on the right-hand side.
	if w := p.word(); (w == "val" || transformers[w]) && p.i+len(w) < len(p.s) && p.s[p.i+len(w)] == '(' {
		var rf FieldExpr
		if w == "val" {
			p.i += len(w) + 1
			p.ws()
			rf, ok = p.fieldOrTransformer(depth + 1)
			if !ok {
				return nil
			}
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != ')' {
				p.fail(p.i, "expected ')' after val(%s", rf.String())
				return nil
			}
			p.i++
		} else {
			rf, ok = p.fieldOrTransformer(depth + 1)
			if !ok {
				return nil
			}
		}
		c.FieldRHS = &rf
		return c
	}
	v, ok := p.value()
	if !ok {
		return nil
	}
	c.Value = &v
	return c
}

func (p *parser) quoteNext() string {
	if p.i >= len(p.s) {
		return "end of condition"
	}
	return fmt.Sprintf("%q", p.peekText())
}

// word returns the identifier at the cursor without consuming it.
func (p *parser) word() string {
	e := p.i
	for e < len(p.s) && isIdentChar(p.s[e]) {
		e++
	}
	return p.s[p.i:e]
}

// fieldOrTransformer parses `name[arg]` or `transformer(inner)`.
func (p *parser) fieldOrTransformer(depth int) (FieldExpr, bool) {
	if depth > MaxDepth {
		p.fail(p.i, "condition nested too deeply (more than %d levels)", MaxDepth)
		return FieldExpr{}, false
	}
	off := p.i
	w := p.word()
	if transformers[w] && p.i+len(w) < len(p.s) && p.s[p.i+len(w)] == '(' {
		p.i += len(w) + 1
		p.ws()
		inner, ok := p.fieldOrTransformer(depth + 1)
		if !ok {
			return inner, false
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			p.fail(p.i, "expected ')' to close %s(, got %s", w, p.quoteNext())
			return inner, false
		}
		p.i++
		inner.Transformers = append(inner.Transformers, w)
		inner.Off = off
		return inner, true
	}
	if p.i >= len(p.s) || !isIdentStart(p.s[p.i]) {
		p.fail(p.i, "expected a field name, got %s", p.quoteNext())
		return FieldExpr{}, false
	}
	e := p.i
	for e < len(p.s) {
		c := p.s[e]
		if isIdentChar(c) || (c == '.' && e+1 < len(p.s) && isIdentChar(p.s[e+1])) {
			e++
			continue
		}
		break
	}
	f := FieldExpr{Off: off, Name: p.s[p.i:e]}
	p.i = e
	if p.i < len(p.s) && p.s[p.i] == '[' {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
			v, ok := p.quoted()
			if !ok {
				return f, false
			}
			f.Arg = v.Text
		} else {
			s := p.i
			for p.i < len(p.s) && p.s[p.i] != ']' {
				p.i++
			}
			f.Arg = p.s[s:p.i]
		}
		if p.i >= len(p.s) || p.s[p.i] != ']' {
			p.fail(p.i, "expected ']' to close the argument of %s", f.Name)
			return f, false
		}
		p.i++
		f.HasArg = true
	}
	return f, true
}

// operator consumes a comparison operator, "" when none is at the cursor.
func (p *parser) operator() string {
	if p.i >= len(p.s) {
		return ""
	}
	for _, op := range []string{"==", "!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			if op == "==" {
				op = "="
			}
			return op
		}
	}
	w := p.word()
	if wordOps[w] {
		e := p.i + len(w)
		if e == len(p.s) || isSpace(p.s[e]) || p.s[e] == '(' || p.s[e] == '"' || p.s[e] == '\'' || p.s[e] == ')' {
			p.i = e
			return w
		}
	}
	return ""
}

// value parses a quoted string or a bare word.
func (p *parser) value() (Value, bool) {
	p.ws()
	if p.i >= len(p.s) {
		p.fail(p.i, "expected a value, got end of condition")
		return Value{}, false
	}
	if c := p.s[p.i]; c == '"' || c == '\'' {
		return p.quoted()
	}
	off := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isSpace(c) || c == '(' || c == ')' || c == ',' || c == '"' || c == '\'' {
			break
		}
		p.i++
	}
	if p.i == off {
		p.fail(p.i, "expected a value, got %s", p.quoteNext())
		return Value{}, false
	}
	return Value{Off: off, Text: p.s[off:p.i]}, true
}

// quoted parses a single- or double-quoted string with backslash escapes
// (\\ \" \' \n \t \r \xHH; other escapes are kept as written).
func (p *parser) quoted() (Value, bool) {
	off := p.i
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return Value{Off: off, Text: b.String(), Quoted: true}, true
		case c == '\\' && p.i+1 < len(p.s):
			n := p.s[p.i+1]
			switch n {
			case '\\', '"', '\'':
				b.WriteByte(n)
				p.i += 2
			case 'n':
				b.WriteByte('\n')
				p.i += 2
			case 't':
				b.WriteByte('\t')
				p.i += 2
			case 'r':
				b.WriteByte('\r')
				p.i += 2
			case 'x':
				if p.i+3 < len(p.s) && isHex(p.s[p.i+2]) && isHex(p.s[p.i+3]) {
					b.WriteByte(unhex(p.s[p.i+2])<<4 | unhex(p.s[p.i+3]))
					p.i += 4
				} else {
					p.fail(p.i, `invalid \x escape: want exactly two hex digits`)
					return Value{}, false
				}
			default:
				b.WriteByte(c)
				p.i++
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	p.fail(off, "unterminated quoted string")
	return Value{}, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// list parses `( v, v, ... )`; the cursor is on '('.
func (p *parser) list() []Value {
	open := p.i
	p.i++
	var out []Value
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
		return []Value{}
	}
	for {
		v, ok := p.value()
		if !ok {
			return nil
		}
		out = append(out, v)
		p.ws()
		if p.i >= len(p.s) {
			p.fail(open, "unterminated list: missing ')'")
			return nil
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ')':
			p.i++
			return out
		default:
			p.fail(p.i, "expected ',' or ')' in list, got %s", p.quoteNext())
			return nil
		}
	}
}
