package rules

import (
	"strconv"
	"strings"
)

// Node is a node of a parsed condition. Off is the byte offset of the node
// in its condition text (used to compute file:line:col).
type Node interface {
	offset() int
	String() string
}

// BoolExpr is a chain of `and` or `or` (Op) over two or more nodes.
type BoolExpr struct {
	src *Cond
	Off int
	Op  string // "and" or "or"
	Xs  []Node
}

// NotExpr negates X.
type NotExpr struct {
	src *Cond
	Off int
	X   Node
}

// MacroRef is a bare identifier: a macro reference.
type MacroRef struct {
	src  *Cond
	Off  int
	Name string
}

// FieldExpr is a field reference with its argument and transformers, in
// application order (innermost first): tolower(basename(fd.name)) has
// Transformers [basename tolower].
type FieldExpr struct {
	Off          int
	Name         string // registry name, or the full dotted name as written
	Arg          string
	HasArg       bool
	Transformers []string
}

// Value is a literal on the right-hand side. Quoted values are never
// expanded as list names.
type Value struct {
	Off    int
	Text   string
	Quoted bool
}

// CheckExpr is one comparison: Field Op [Mod] Value/List/FieldRHS.
type CheckExpr struct {
	src   *Cond
	Off   int
	Field FieldExpr
	Op    string // =, !=, contains, in, exists...
	Mod   string // "", anyof, allof, oneof
	// Exactly one of these is set (none for exists).
	Value    *Value
	List     []Value
	IsList   bool
	FieldRHS *FieldExpr // val(field) or transformer(field)
}

func (n *BoolExpr) offset() int  { return n.Off }
func (n *NotExpr) offset() int   { return n.Off }
func (n *MacroRef) offset() int  { return n.Off }
func (n *CheckExpr) offset() int { return n.Off }

func (n *BoolExpr) String() string {
	parts := make([]string, len(n.Xs))
	for i, x := range n.Xs {
		parts[i] = x.String()
	}
	return "(" + strings.Join(parts, " "+n.Op+" ") + ")"
}

func (n *NotExpr) String() string  { return "not " + n.X.String() }
func (n *MacroRef) String() string { return n.Name }

func (f *FieldExpr) String() string {
	s := f.Name
	if f.HasArg {
		s += "[" + f.Arg + "]"
	}
	for _, t := range f.Transformers {
		s = t + "(" + s + ")"
	}
	return s
}

func (v Value) String() string {
	if v.Quoted {
		return strconv.Quote(v.Text)
	}
	return v.Text
}

func (n *CheckExpr) String() string {
	s := n.Field.String() + " " + n.Op
	if n.Mod != "" {
		s += " " + n.Mod
	}
	switch {
	case n.FieldRHS != nil:
		s += " val(" + n.FieldRHS.String() + ")"
	case n.IsList:
		items := make([]string, len(n.List))
		for i, v := range n.List {
			items[i] = v.String()
		}
		s += " (" + strings.Join(items, ", ") + ")"
	case n.Value != nil:
		s += " " + n.Value.String()
	}
	return s
}
