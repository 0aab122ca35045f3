package rules

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalidRules matches (errors.Is) every load or compile error.
var ErrInvalidRules = errors.New("invalid rules")

// Pos is a position in a rules file; Line and Col are 1-based.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Diagnostic is an error or a warning about a rules file, with the
// position of the offending text and the item it belongs to.
type Diagnostic struct {
	Pos
	Kind    string // rule, macro, list, exception, file, ...
	Name    string // item name, "" when none
	Msg     string
	Warning bool
}

func (d *Diagnostic) Error() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	if d.Warning {
		b.WriteString(": warning")
	} else {
		b.WriteString(": error")
	}
	if d.Name != "" {
		fmt.Fprintf(&b, ": %s %q", d.Kind, d.Name)
	}
	b.WriteString(": ")
	b.WriteString(d.Msg)
	return b.String()
}

// Is makes errors.Is(d, ErrInvalidRules) true for errors (not warnings).
func (d *Diagnostic) Is(t error) bool { return t == ErrInvalidRules && !d.Warning }

// Diagnostics is a list of errors and warnings.
type Diagnostics []*Diagnostic

// Errors returns the errors only.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if !d.Warning {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns the warnings only.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Warning {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when there is no error, else an error joining them all.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	e := make([]error, len(errs))
	for i, d := range errs {
		e[i] = d
	}
	return errors.Join(e...)
}

// Sort orders diagnostics by file, line and column (stable).
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return false // keep file load order
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}
