package jsontext

import (
	"encoding/json"
	"testing"
)

func TestAppendStringRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f\x7f", "é✓", "\u2028\u2029", "bad\xffutf8", "<NA>"} {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, b, err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if got != want {
			t.Errorf("%q: round trip gave %q", s, got)
		}
	}
	if got := string(AppendString(nil, "a\x7fb\u2028")); got != `"a\u007fb\u2028"` {
		t.Errorf("escapes: %s", got)
	}
}

func TestAppendStringNoAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendString(buf[:0], "path/with \"quotes\"\n") }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
