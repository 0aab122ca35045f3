package engine

import (
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
)

// NA is what outputs print for a field without a value.
const NA = "<NA>"

// format builds the alert of rule r for ev. It allocates (the output and
// the fields belong to the Match).
func (e *Engine) format(r *rules.Rule, ev *event.Event) *Match {
	m := &Match{Rule: r, Time: ev.Time, Hostname: e.ctx.Hostname}
	f := r.Output
	if f == nil {
		return m
	}
	e.ctx.Reset()
	b := e.buf[:0]
	for _, p := range f.Parts {
		if p.Field == nil {
			b = append(b, p.Lit...)
			continue
		}
		v, ok := e.outputValue(p.Field, ev)
		if !ok {
			b = append(b, NA...)
			continue
		}
		mark := len(b)
		b = event.AppendValue(b, p.Field.Type, v)
		b = escapeTail(b, mark)
	}
	m.Output = string(b)
	e.buf = b
	m.Fields = make([]FieldValue, len(f.Fields))
	for i, o := range f.Fields {
		m.Fields[i].Name = o.Text
		v, ok := e.outputValue(o, ev)
		if !ok {
			continue
		}
		m.Fields[i].Value = typed(o.Type, v)
	}
	return m
}

func (e *Engine) outputValue(o *rules.Operand, ev *event.Event) (event.Value, bool) {
	if o.Step > 0 {
		return e.boundValue(o)
	}
	v, ok := o.Field.Extract(&e.ctx, ev, &o.Arg)
	if !ok {
		return v, false
	}
	if len(o.Trans) > 0 {
		return e.transform(o, v)
	}
	return v, true
}

// typed converts an extracted value to the Go value of FieldValue.
func typed(t event.FieldType, v event.Value) any {
	switch t {
	case event.FieldString:
		return string(append([]byte(nil), v.Str...)) // copy: v may alias scratch space
	case event.FieldInt:
		return int64(v.Num)
	case event.FieldUint, event.FieldRelTime, event.FieldAbsTime:
		return v.Num
	case event.FieldFloat:
		return v.Float()
	case event.FieldBool:
		return v.Num != 0
	case event.FieldIPAddr, event.FieldIPNet:
		if v.IP.IsValid() {
			return v.IP.String()
		}
		return nil
	}
	return nil
}

// escapeTail escapes control characters and invalid UTF-8 in b[mark:], so
// that a field value cannot forge lines or terminal sequences in text
// output: \n \r \t as such, other controls as \xHH, invalid bytes as U+FFFD.
func escapeTail(b []byte, mark int) []byte {
	clean := true
	for i := mark; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	tail := append([]byte(nil), b[mark:]...)
	b = b[:mark]
	for i := 0; i < len(tail); {
		c := tail[i]
		switch {
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == 0x7f:
			const hexd = "0123456789abcdef"
			b = append(b, '\\', 'x', hexd[c>>4], hexd[c&0xf])
		case c >= 0x80:
			r, n := utf8.DecodeRune(tail[i:])
			if r == utf8.RuneError && n <= 1 {
				b = append(b, "\uFFFD"...)
				i++
				continue
			}
			b = append(b, tail[i:i+n]...)
			i += n
			continue
		default:
			b = append(b, c)
		}
		i++
	}
	return b
}
