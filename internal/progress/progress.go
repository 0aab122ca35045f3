package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// interval is the most often the line is rewritten.
const interval = 250 * time.Millisecond

// IsTerminal reports whether w is a terminal (a character device that
// answers TCGETS).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Bar is one progress line: a label, the current stage, an item count and
// a byte count.
type Bar struct {
	w     io.Writer
	label string
	start time.Time

	items, bytes atomic.Int64
	stage        atomic.Pointer[string]

	mu     sync.Mutex // serialises writes to w
	erased bool       // Done has erased the line: draw no more
	stop   chan struct{}
	done   chan struct{}
}

// Start returns a running Bar writing to w, or nil (a Bar that does
// nothing) when enabled is false.
func Start(w io.Writer, label string, enabled bool) *Bar {
	if !enabled {
		return nil
	}
	b := &Bar{w: w, label: label, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	empty := ""
	b.stage.Store(&empty)
	b.draw()
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.draw()
			}
		}
	}()
	return b
}

// Stage names what is being done now ("indexing", "reading"); the counts
// start again from zero.
func (b *Bar) Stage(s string) {
	if b == nil {
		return
	}
	b.stage.Store(&s)
	b.items.Store(0)
	b.bytes.Store(0)
	b.draw()
}

// Add counts items done and bytes read.
func (b *Bar) Add(items, bytes int64) {
	if b == nil {
		return
	}
	b.items.Add(items)
	b.bytes.Add(bytes)
}

// Done stops the bar and erases its line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	<-b.done
	b.mu.Lock()
	fmt.Fprint(b.w, "\r\033[K")
	b.erased = true
	b.mu.Unlock()
}

// Wrap returns a writer for other text to the bar's stream (log lines):
// while the bar runs, each write erases the bar's line first and the bar
// is drawn again after it, so the two never share a line. A nil bar
// returns w.
func (b *Bar) Wrap(w io.Writer) io.Writer {
	if b == nil {
		return w
	}
	return &aroundBar{b, w}
}

type aroundBar struct {
	b *Bar
	w io.Writer
}

func (a *aroundBar) Write(p []byte) (int, error) {
	a.b.mu.Lock()
	if a.b.erased {
		a.b.mu.Unlock()
		return a.w.Write(p)
	}
	fmt.Fprint(a.b.w, "\r\033[K")
	n, err := a.w.Write(p)
	a.b.mu.Unlock()
	a.b.draw()
	return n, err
}

func (b *Bar) draw() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.erased {
		return
	}
	line := b.label
	if s := *b.stage.Load(); s != "" {
		line += ": " + s
	}
	if n := b.items.Load(); n > 0 {
		line += fmt.Sprintf(" %d", n)
	}
	if n := b.bytes.Load(); n > 0 {
		line += " (" + humanBytes(n) + ")"
	}
	line += fmt.Sprintf(" %.0fs", time.Since(b.start).Seconds())
	fmt.Fprint(b.w, "\r\033[K"+line)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// CountReads returns rc counting the bytes read from it into the bar (rc
// itself when b is nil). Close is rc's.
func (b *Bar) CountReads(rc io.ReadCloser) io.ReadCloser {
	if b == nil {
		return rc
	}
	return &countingReader{rc, b}
}

type countingReader struct {
	io.ReadCloser
	b *Bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.b.Add(0, int64(n))
	return n, err
}
