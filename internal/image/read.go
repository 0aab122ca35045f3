package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/progress"
)

func (img *Image) readLayerFiles(i int, files func(entry int) []*File, fn func(*File, io.Reader) error) error {
	l := img.Layers[i]
	rc, err := l.Open()
	if err != nil {
		return fmt.Errorf("open layer %d (%s): %w", i, l.Label(), err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for entry := 0; ; entry++ {
		_, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer %d (%s): read entry %d: %w", i, l.Label(), entry, err)
		}
		fs := files(entry)
		if len(fs) == 0 {
			continue
		}
		if len(fs) == 1 {
			if err := fn(fs[0], tr); err != nil {
				return err
			}
			continue
		}
		// Several paths share this content (hardlinks): buffer it once.
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("layer %d (%s): read %s: %w", i, l.Label(), fs[0].Path, err)
		}
		for _, f := range fs {
			if err := fn(f, strings.NewReader(string(b))); err != nil {
				return err
			}
		}
	}
}

// openRootFS indexes a root filesystem directory. Symlinks are recorded, never
// followed on the host. /proc, /sys and /dev at the top and every
// pseudo-filesystem mounted below (pseudoFS) are not entered; a directory
// or file that cannot be read is left out: both are recorded in Skipped.
func openRootFS(dir string, bar *progress.Bar) (*Image, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", dir, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", dir, err)
	}
	img := &Image{Source: SourceRootFS, Target: dir, rootDir: abs, root: root, Files: newIndex(), progress: bar}
	img.Layers = []Layer{{Digest: SourceRootFS, open: func() (io.ReadCloser, error) {
		return nil, errors.New("a root filesystem has no layer tar")
	}}}
	var rootDev uint64
	if st, err := root.Stat("."); err == nil {
		rootDev, _ = deviceOf(st)
	}
	bar.Stage("indexing files")
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			img.skip(p, err.Error())
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p == "." {
			return nil
		}
		if d.IsDir() && (p == "proc" || p == "sys" || p == "dev") {
			return fs.SkipDir // kernel filesystems when pointed at a live root
		}
		info, err := d.Info()
		if err != nil {
			img.skip(p, err.Error()) // gone since the directory was read
			return nil
		}
		if info.IsDir() {
			if dev, ok := deviceOf(info); ok && dev != rootDev {
				// A mount point: not entered if a pseudo-filesystem.
				if kind := pseudoFSAt(filepath.Join(abs, p)); kind != "" {
					img.skip(p, "pseudo-filesystem "+kind+" not scanned")
					return fs.SkipDir
				}
			}
		}
		bar.Add(1, 0)
		f := &File{Path: p, Mode: info.Mode().Perm(), Layer: 0, Digest: SourceRootFS, src: 0, entry: -1}
		f.Mode |= info.Mode() & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch {
		case info.Mode().IsRegular():
			f.Type, f.Size = TypeReg, info.Size()
		case info.IsDir():
			f.Type = TypeDir
		case info.Mode()&fs.ModeSymlink != 0:
			f.Type = TypeSymlink
			f.Linkname, err = os.Readlink(filepath.Join(abs, p))
			if err != nil {
				img.skip(p, err.Error())
				return nil
			}
		default:
			f.Type = TypeOther
		}
		if st, ok := sysOwner(info); ok {
			f.UID, f.GID = st[0], st[1]
		}
		img.Files.put(f)
		return nil
	})
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("index rootfs %s: %w", dir, err)
	}
	return img, nil
}

// Skip is a path of a root filesystem left out of the index or not read,
// and why.
type Skip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (img *Image) skip(p, reason string) {
	img.skipMu.Lock()
	img.skipped = append(img.skipped, Skip{Path: p, Reason: reason})
	img.skipMu.Unlock()
}

// Skipped returns the paths left out so far (pseudo-filesystems, unreadable
// directories and files, files gone before they were read), in the order
// met. Only root filesystems skip anything; an image layer that cannot be
// read is an error.
func (img *Image) Skipped() []Skip {
	img.skipMu.Lock()
	defer img.skipMu.Unlock()
	return slices.Clone(img.skipped)
}

func (img *Image) readRootFiles(want func(*File) bool, fn func(*File, io.Reader) error) error {
	return img.readRootFilesConcurrently(1, want, fn)
}

// ReadFilesConcurrently is ReadFiles with up to n files read at once for
// a root filesystem (opening files dominates there); layered images are
// streamed in order as by ReadFiles. fn must be safe for concurrent calls.
func (img *Image) ReadFilesConcurrently(n int, want func(*File) bool, fn func(*File, io.Reader) error) error {
	if img.Source != SourceRootFS {
		return img.ReadFiles(want, fn)
	}
	return img.readRootFilesConcurrently(max(n, 1), want, fn)
}

func (img *Image) readRootFilesConcurrently(n int, want func(*File) bool, fn func(*File, io.Reader) error) error {
	var files []*File
	img.Files.Walk(func(f *File) bool {
		if f.Type == TypeReg && want(f) {
			files = append(files, f)
		}
		return true
	})
	img.progress.Stage("reading files")
	read := func(f *File) error {
		r, err := img.root.Open(f.Path)
		if err != nil {
			// Unreadable, or gone from a live root: left out, counted.
			img.skip(f.Path, err.Error())
			return nil
		}
		err = fn(f, r)
		r.Close()
		img.progress.Add(1, f.Size)
		return err
	}
	if n == 1 {
		for _, f := range files {
			if err := read(f); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				if err := read(files[i]); err != nil {
					errs[w] = err
					next.Store(int64(len(files))) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
