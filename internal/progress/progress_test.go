package progress

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBar(t *testing.T) {
	var nilBar *Bar // what a disabled Start returns: every method a no-op
	nilBar.Stage("x")
	nilBar.Add(1, 1)
	nilBar.Done()
	if rc := io.NopCloser(strings.NewReader("")); nilBar.CountReads(rc) != rc {
		t.Error("a nil bar wraps readers")
	}
	if Start(&lockedBuffer{}, "off", false) != nil {
		t.Error("a disabled bar is not nil")
	}

	var w lockedBuffer
	b := Start(&w, "sbom /", true)
	b.Stage("reading files")
	b.Add(3, 3<<20)
	rc := b.CountReads(io.NopCloser(strings.NewReader("12345")))
	io.ReadAll(rc)
	b.Stage("reading files") // redraw with the counts reset
	b.Add(7, 2048)
	b.draw() // what the next tick draws
	b.Done()
	b.Done() // twice is harmless
	out := w.String()
	for _, want := range []string{"\r\033[Ksbom /", "sbom /: reading files 7 (2.0 KiB)", "\r\033[K"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: %q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("Done does not erase the line: %q", out)
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) || IsTerminal(&bytes.Buffer{}) {
		t.Error("a pipe or a buffer is a terminal")
	}
}

// TestWrap: text written around a running bar erases the bar's line
// first and the bar comes back after it; after Done it passes through.
func TestWrap(t *testing.T) {
	var w lockedBuffer
	b := Start(&w, "run", true)
	lw := b.Wrap(&w)
	io.WriteString(lw, "level=INFO msg=one\n")
	out := w.String()
	if !strings.HasSuffix(out, "\r\033[Klevel=INFO msg=one\n\r\033[Krun 0s") {
		t.Errorf("log line not set apart from the bar: %q", out)
	}
	b.Done()
	io.WriteString(lw, "after\n")
	if out := w.String(); !strings.HasSuffix(out, "\r\033[Kafter\n") || strings.Count(out, "after") != 1 {
		t.Errorf("after Done: %q", out)
	}
	var nilBar *Bar
	if nilBar.Wrap(&w) != io.Writer(&w) {
		t.Error("a nil bar wraps writers")
	}
}
