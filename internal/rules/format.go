package rules

import (
	"fmt"
	"strings"
)

// Format is a parsed rule output: literal text and %field references.
type Format struct {
	Text  string
	Parts []FormatPart
	// Fields are the distinct fields of the format, in order of first use;
	// they become the alert's output_fields.
	Fields []*Operand
}

// FormatPart is a literal (Field nil) or a field reference.
type FormatPart struct {
	Lit   string
	Field *Operand
}

// ParseFormat parses an output format: `%field`, `%field[arg]`,
// `%evt.arg.NAME`, `%tolower(field)`; "%%" is a literal '%'. A leading '*'
// (sysdig's "print even when fields are missing") is accepted and dropped.
func ParseFormat(s string) (*Format, error) { return parseFormat(s, &compiler{}) }

// parseFormat parses an output format with the fields c resolves (the
// steps of a sequence rule among them).
func parseFormat(s string, c *compiler) (*Format, error) {
	f := &Format{Text: s}
	s = strings.TrimPrefix(s, "*")
	seen := map[string]*Operand{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.Parts = append(f.Parts, FormatPart{Lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		ch := s[i]
		if ch != '%' {
			lit.WriteByte(ch)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		p := &parser{s: s, i: i + 1}
		if p.i >= len(s) || !isIdentStart(s[p.i]) {
			lit.WriteByte('%')
			i++
			continue
		}
		fe, ok := p.fieldOrTransformer(0)
		if !ok {
			return nil, fmt.Errorf("offset %d: %s", p.err.Off, p.err.Msg)
		}
		op, msg := c.operand(&fe)
		if msg != "" {
			return nil, fmt.Errorf("offset %d: %s", i, msg)
		}
		if op.Field.FilterOnly {
			return nil, fmt.Errorf("offset %d: field %s can be used only in conditions", i, op.Text)
		}
		key := op.Text
		if prev, ok := seen[key]; ok {
			op = *prev
		} else {
			o := op
			seen[key] = &o
			f.Fields = append(f.Fields, &o)
		}
		flush()
		o := *seen[key]
		f.Parts = append(f.Parts, FormatPart{Field: &o})
		i = p.i
	}
	flush()
	return f, nil
}

// FieldNames returns the names of the format's fields as output_fields
// keys (as written: proc.aname[2], evt.arg.flags).
func (f *Format) FieldNames() []string {
	out := make([]string, len(f.Fields))
	for i, o := range f.Fields {
		out[i] = o.Text
	}
	return out
}
