package termtext

import (
	"io"
	"text/tabwriter"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Append appends s to b with control characters and invalid UTF-8
// escaped.
func Append(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			for j := 0; j < size; j++ {
				b = append(b, '\\', 'x', hexDigits[s[i+j]>>4], hexDigits[s[i+j]&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// Clean reports whether s needs no escaping.
func Clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			return len(Append(nil, s)) == len(s)
		}
	}
	return true
}

// String returns s with control characters and invalid UTF-8 escaped (s
// itself when there is nothing to escape).
func String(s string) string {
	if Clean(s) {
		return s
	}
	return string(Append(nil, s))
}

// Table writes aligned columns (two spaces apart) of escaped cells: a cell
// cannot add a column, a row or a terminal sequence.
type Table struct {
	tw  *tabwriter.Writer
	buf []byte
}

// NewTable starts a table on w with a header row.
func NewTable(w io.Writer, header ...string) *Table {
	t := &Table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.Row(header...)
	return t
}

// Row adds a row.
func (t *Table) Row(cells ...string) {
	t.buf = t.buf[:0]
	for i, c := range cells {
		if i > 0 {
			t.buf = append(t.buf, '\t')
		}
		t.buf = Append(t.buf, c)
	}
	t.buf = append(t.buf, '\n')
	t.tw.Write(t.buf)
}

// Flush writes the table out.
func (t *Table) Flush() error { return t.tw.Flush() }
