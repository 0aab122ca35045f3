package termtext

import (
	"bytes"
	"strings"
	"testing"
)

func TestEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"plain /usr/bin/x":       "plain /usr/bin/x",
		"a\nb\rc\td":             `a\nb\rc\td`,
		"\x1b[31mred\x07\x7f":    `\x1b[31mred\x07\x7f`,
		"c1\u0085 \u009b2J":      `c1\xc2\x85 \xc2\x9b2J`,
		"bad\xff\xfe":            `bad\xff\xfe`,
		"ls\u2028x":              `ls\xe2\x80\xa8x`,
		"é中 ok":                  "é中 ok",
		`already \n escaped \\ `: `already \n escaped \\ `, // backslashes untouched: no double escaping
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %s, want %s", in, got, want)
		}
		if got := String(String(in)); got != want {
			t.Errorf("escaping %q twice gives %s, want %s", in, got, want)
		}
	}
}

func TestTableCellsCannotForgeRowsOrColumns(t *testing.T) {
	var b bytes.Buffer
	tb := NewTable(&b, "NAME", "VALUE")
	tb.Row("evil\tFORGED\nCRITICAL\x1b[2J", "v")
	tb.Row("good", "w")
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	if strings.ContainsAny(b.String(), "\x1b\t") || len(strings.Fields(lines[1])) != 2 {
		t.Fatalf("a cell escaped its column:\n%s", b.String())
	}
}
