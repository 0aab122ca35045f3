package output

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/vigilsec/vigil/internal/alert"
)

// FileOptions configures a File output.
type FileOptions struct {
	Path   string
	Format Format
	// MaxSize rotates the file when a write would take it past this many
	// bytes: path.N-1 → path.N ..., path → path.1. Zero never rotates.
	MaxSize int64
	// MaxBackups is how many rotated files are kept.
	MaxBackups int
}

// File appends alerts to a file, with size rotation and Reopen.
type File struct {
	opts FileOptions

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// NewFile opens (creating with mode 0600, and its directory with 0750) the
// file output.
func NewFile(opts FileOptions) (*File, error) {
	f := &File{opts: opts}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, fmt.Errorf("file output: %w", err)
	}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) open() error {
	fd, err := os.OpenFile(f.opts.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return fmt.Errorf("file output: %w", err)
	}
	f.f, f.size = fd, st.Size()
	return nil
}

// Name implements Output.
func (f *File) Name() string { return "file" }

// Write implements Output.
func (f *File) Write(_ context.Context, a *alert.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = appendAlert(f.buf[:0], a, f.opts.Format)
	if f.opts.MaxSize > 0 && f.size > 0 && f.size+int64(len(f.buf)) > f.opts.MaxSize {
		if err := f.rotate(); err != nil {
			return err
		}
	}
	if f.f == nil {
		if err := f.open(); err != nil {
			return err
		}
	}
	n, err := f.f.Write(f.buf)
	f.size += int64(n)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	return nil
}

// rotate shifts the backups and starts a new file; called with f.mu held.
func (f *File) rotate() error {
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	p := f.opts.Path
	if f.opts.MaxBackups <= 0 {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("file output: rotate: %w", err)
		}
	} else {
		_ = os.Remove(fmt.Sprintf("%s.%d", p, f.opts.MaxBackups))
		for i := f.opts.MaxBackups - 1; i >= 1; i-- {
			_ = os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1))
		}
		if err := os.Rename(p, p+".1"); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("file output: rotate: %w", err)
		}
	}
	return f.open()
}

// Reopen closes the file and opens the path again (after an external
// rotation moved it away).
func (f *File) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	return f.open()
}

// Close implements Output.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	return nil
}
