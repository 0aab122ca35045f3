package output

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/safefile"
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
	size int64 // bytes in the file plus pending
	buf  []byte
	pend []byte // WriteBuffered alerts not yet written
}

// NewFile opens (creating with mode 0600, and its directory with 0750) the
// file output.
func NewFile(opts FileOptions) (*File, error) {
	f := &File{opts: opts}
	if err := CheckFilePath(opts.Path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, fmt.Errorf("file output: %w", err)
	}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

// CheckFilePath reports, without creating anything, why NewFile could not
// open path: path exists and is not a regular file, or its nearest existing
// ancestor is not a directory (so its directory cannot be created).
func CheckFilePath(path string) error {
	if st, err := os.Lstat(path); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("file output: %s is not a regular file (%s)", path, st.Mode().Type())
		}
		return nil
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("file output: %s: %s is not a directory", path, dir)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file output: %w", err)
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

func (f *File) open() error {
	fd, err := safefile.OpenAppend(f.opts.Path, 0o600)
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

// Write implements Output: a is in the file when Write returns.
func (f *File) Write(ctx context.Context, a *alert.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.add(a); err != nil {
		return err
	}
	return f.flushLocked()
}

// WriteBuffered implements Buffered: a is in the file after Flush (or
// sooner).
func (f *File) WriteBuffered(_ context.Context, a *alert.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.add(a); err != nil {
		return err
	}
	if len(f.pend) >= 64<<10 {
		return f.flushLocked()
	}
	return nil
}

// Flush implements Buffered.
func (f *File) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushLocked()
}

// add appends a to the pending bytes, rotating first (after writing what
// is pending) when a would take the file past MaxSize.
func (f *File) add(a *alert.Alert) error {
	f.buf = appendAlert(f.buf[:0], a, f.opts.Format)
	if f.opts.MaxSize > 0 && f.size > 0 && f.size+int64(len(f.buf)) > f.opts.MaxSize {
		if err := f.flushLocked(); err != nil {
			return err
		}
		if err := f.rotate(); err != nil {
			return err
		}
	}
	f.pend = append(f.pend, f.buf...)
	f.size += int64(len(f.buf))
	return nil
}

// flushLocked writes the pending bytes; on error they are dropped (the
// caller counts the alerts as failed).
func (f *File) flushLocked() error {
	if len(f.pend) == 0 {
		return nil
	}
	defer func() { f.pend = f.pend[:0] }()
	if f.f == nil {
		if err := f.open(); err != nil {
			f.size -= int64(len(f.pend))
			return err
		}
		f.size += int64(len(f.pend)) // open set the size on disk
	}
	if _, err := f.f.Write(f.pend); err != nil {
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
	ferr := f.flushLocked() // pending alerts go to the old file
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	if err := f.open(); err != nil {
		return err
	}
	return ferr
}

// Close implements Output: it writes what is pending first.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ferr := f.flushLocked()
	if f.f == nil {
		return ferr
	}
	err := f.f.Close()
	f.f = nil
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	return ferr
}
