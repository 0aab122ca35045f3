package output

import (
	"context"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/internal/alert"
)

// Writer writes alerts, one per line, to an io.Writer (stdout).
type Writer struct {
	name   string
	w      io.Writer
	format Format
	buf    []byte
}

// NewWriter returns an output named name writing to w.
func NewWriter(name string, w io.Writer, f Format) *Writer {
	return &Writer{name: name, w: w, format: f}
}

// Name implements Output.
func (w *Writer) Name() string { return w.name }

// Write implements Output.
func (w *Writer) Write(_ context.Context, a *alert.Alert) error {
	w.buf = appendAlert(w.buf[:0], a, w.format)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("write %s: %w", w.name, err)
	}
	return nil
}

// Close implements Output; it does not close the writer.
func (w *Writer) Close() error { return nil }
