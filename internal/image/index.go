package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// ErrEscape is matched (errors.Is) by every LayerError about an entry that
// would be written, or link, outside the image root.
var ErrEscape = errors.New("path escapes the image root")

// ErrBadLayer is matched by every other LayerError.
var ErrBadLayer = errors.New("invalid layer entry")

// LayerError is a rejected layer entry. It names the layer and the entry.
type LayerError struct {
	Layer string // layer digest (or "rootfs")
	Entry string // entry name as found in the tar
	Msg   string
	Err   error // ErrEscape or ErrBadLayer
}

func (e *LayerError) Error() string {
	return fmt.Sprintf("layer %s: entry %q: %s", e.Layer, e.Entry, e.Msg)
}

// Unwrap returns ErrEscape or ErrBadLayer.
func (e *LayerError) Unwrap() error { return e.Err }

// FileType is the kind of an indexed file.
type FileType uint8

// File types.
const (
	TypeReg FileType = iota
	TypeDir
	TypeSymlink
	TypeOther // devices, fifos
)

// File is one path of the merged image filesystem.
type File struct {
	Path     string // clean, relative to the root, no leading slash
	Type     FileType
	Mode     fs.FileMode // permission and setuid/setgid/sticky bits
	Size     int64
	UID, GID int
	Linkname string // symlink target as stored (TypeSymlink)
	Layer    int    // index in Image.Layers of the layer that wrote it
	Digest   string // digest of that layer ("rootfs" for a directory source)
	Hardlink bool   // written as a hardlink; content is that of its target

	src   int // layer holding the content
	entry int // ordinal of the tar entry holding the content
}

// Executable reports whether f is a regular file with an execute bit.
func (f *File) Executable() bool { return f.Type == TypeReg && f.Mode&0o111 != 0 }

// FileIndex is the merged filesystem of an image.
type FileIndex struct {
	files    map[string]*File
	children map[string]map[string]struct{}
}

func newIndex() *FileIndex {
	return &FileIndex{files: map[string]*File{}, children: map[string]map[string]struct{}{}}
}

// Len returns the number of paths (directories included).
func (x *FileIndex) Len() int { return len(x.files) }

// Lookup returns the file at p (absolute or relative to the root) without
// following a final symlink; intermediate symlinks are followed.
func (x *FileIndex) Lookup(p string) (*File, bool) {
	rel, ok := relClean(p)
	if !ok {
		return nil, false
	}
	if f, ok := x.files[rel]; ok {
		return f, true
	}
	r, err := x.resolve(rel, false, 0)
	if err != nil {
		return nil, false
	}
	f, ok := x.files[r]
	return f, ok
}

// Resolve returns the file p names, following every symlink (the final one
// too) inside the image with chroot semantics: an absolute or relative
// target never leaves the image. ok is false for a missing file, a loop or
// a link that climbs above the root.
func (x *FileIndex) Resolve(p string) (*File, bool) {
	rel, ok := relClean(p)
	if !ok {
		return nil, false
	}
	r, err := x.resolve(rel, true, 0)
	if err != nil {
		return nil, false
	}
	f, ok := x.files[r]
	return f, ok && f.Type != TypeSymlink
}

// IsInImage reports whether p (an absolute path inside the container) names
// a regular file or directory of the image, following symlinks inside the
// image. The common case (a clean path naming a file directly) does not
// allocate.
func (x *FileIndex) IsInImage(p string) bool {
	rel, ok := relClean(p)
	if !ok {
		return false
	}
	f, ok := x.files[rel]
	if !ok || f.Type == TypeSymlink {
		r, err := x.resolve(rel, true, 0)
		if err != nil {
			return false
		}
		f, ok = x.files[r]
	}
	return ok && f.Type != TypeSymlink
}

// Walk calls fn for every file in path order until fn returns false.
func (x *FileIndex) Walk(fn func(*File) bool) {
	paths := make([]string, 0, len(x.files))
	for p := range x.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !fn(x.files[p]) {
			return
		}
	}
}

// relClean turns an absolute or relative path into the index key. It avoids
// allocating when p is already clean.
func relClean(p string) (string, bool) {
	s := strings.TrimLeft(p, "/")
	if isCleanRel(s) {
		return s, true
	}
	c := path.Clean("/" + s)
	return strings.TrimPrefix(c, "/"), true
}

func isCleanRel(s string) bool {
	if s == "" || s[len(s)-1] == '/' {
		return s == ""
	}
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '/')
		var seg string
		if j < 0 {
			seg, i = s[i:], len(s)
		} else {
			seg, i = s[i:i+j], i+j+1
		}
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// cleanEntry validates a tar entry name and returns its index key.
func cleanEntry(name string) (string, string) {
	if strings.HasPrefix(name, "/") {
		return "", "absolute entry name"
	}
	n := strings.TrimPrefix(name, "./")
	if n == "" || n == "." || n == "./" {
		return "", ""
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", "entry name climbs out of the root with .."
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == ".." {
			return "", "entry name contains .."
		}
	}
	if c == "." {
		return "", ""
	}
	return c, ""
}

var errLoop = errors.New("too many levels of symbolic links")

// escapeError reports a symlink followed during resolution whose target
// climbs above the root.
type escapeError struct{ link, target string }

func (e *escapeError) Error() string {
	return fmt.Sprintf("symlink %q -> %q points outside the root", "/"+e.link, e.target)
}

var errAboveRoot = errors.New(".. above the root")

// resolve follows symlinks in rel (all components but the last, and the last
// when followLast), with chroot semantics, failing on links whose target
// climbs above the root.
func (x *FileIndex) resolve(rel string, followLast bool, depth int) (string, error) {
	r, err := x.walk("", rel, followLast, depth)
	if errors.Is(err, errAboveRoot) {
		return "", &escapeError{link: rel, target: rel}
	}
	return r, err
}

// walk resolves p relative to the resolved directory cur, component by
// component, so that ".." applies after symlinks are followed.
func (x *FileIndex) walk(cur, p string, followLast bool, depth int) (string, error) {
	if depth > 40 {
		return "", errLoop
	}
	if strings.HasPrefix(p, "/") {
		cur = ""
	}
	rest := p
	for rest != "" {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		switch comp {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", errAboveRoot
			}
			if i := strings.LastIndexByte(cur, '/'); i >= 0 {
				cur = cur[:i]
			} else {
				cur = ""
			}
			continue
		}
		next := comp
		if cur != "" {
			next = cur + "/" + comp
		}
		f, ok := x.files[next]
		if ok && f.Type == TypeSymlink && (strings.Trim(rest, "/") != "" || followLast) {
			r, err := x.walk(cur, f.Linkname, true, depth+1)
			if errors.Is(err, errAboveRoot) {
				return "", &escapeError{link: next, target: f.Linkname}
			}
			if err != nil {
				return "", err
			}
			cur = r
			continue
		}
		cur = next
	}
	return cur, nil
}

func (x *FileIndex) put(f *File) {
	if old, ok := x.files[f.Path]; ok && old.Type == TypeDir && f.Type != TypeDir {
		x.removeTree(f.Path, -1)
	}
	x.files[f.Path] = f
	x.link(f.Path)
}

// link records p under its parent and creates missing parent directories.
func (x *FileIndex) link(p string) {
	for p != "" {
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		kids := x.children[dir]
		if kids == nil {
			kids = map[string]struct{}{}
			x.children[dir] = kids
		}
		if _, ok := kids[base]; ok {
			return
		}
		kids[base] = struct{}{}
		if dir != "" {
			if _, ok := x.files[dir]; !ok {
				x.files[dir] = &File{Path: dir, Type: TypeDir, Mode: 0o755, Layer: -1, src: -1, entry: -1}
			}
		}
		p = dir
	}
}

// removeTree deletes p and everything under it that comes from layers below
// layer (all layers when layer < 0).
func (x *FileIndex) removeTree(p string, layer int) {
	for name := range x.children[p] {
		c := name
		if p != "" {
			c = p + "/" + name
		}
		x.removeTree(c, layer)
	}
	if p == "" {
		return
	}
	f, ok := x.files[p]
	if !ok {
		return
	}
	if layer >= 0 && f.Layer >= layer {
		return
	}
	if len(x.children[p]) > 0 {
		return // still has entries from this layer
	}
	delete(x.files, p)
	delete(x.children, p)
	dir, base := path.Split(p)
	if kids := x.children[strings.TrimSuffix(dir, "/")]; kids != nil {
		delete(kids, base)
	}
}

// applyLayer merges one uncompressed layer tar into the index.
func (x *FileIndex) applyLayer(layer int, digest string, r io.Reader) error {
	tr := tar.NewReader(r)
	for entry := 0; ; entry++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer %s: read entry %d: %w", digest, entry, err)
		}
		bad := func(msg string, sentinel error) error {
			return &LayerError{Layer: digest, Entry: hdr.Name, Msg: msg, Err: sentinel}
		}
		name, why := cleanEntry(hdr.Name)
		if why != "" {
			return bad(why, ErrEscape)
		}
		if name == "" {
			continue // the root itself
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		parent, err := x.resolve(dir, true, 0)
		if err != nil {
			var ee *escapeError
			if errors.As(err, &ee) {
				return bad("written through "+ee.Error(), ErrEscape)
			}
			return bad(err.Error(), ErrBadLayer)
		}
		join := func(b string) string {
			if parent == "" {
				return b
			}
			return parent + "/" + b
		}
		if base == ".wh..wh..opq" {
			for kid := range x.children[parent] {
				x.removeTree(join(kid), layer)
			}
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			x.removeTree(join(base[len(".wh."):]), layer)
			continue
		}
		f := &File{
			Path: join(base), Mode: fs.FileMode(hdr.Mode) & (fs.ModePerm),
			UID: hdr.Uid, GID: hdr.Gid, Layer: layer, Digest: digest, src: layer, entry: entry,
		}
		if hdr.Mode&0o4000 != 0 {
			f.Mode |= fs.ModeSetuid
		}
		if hdr.Mode&0o2000 != 0 {
			f.Mode |= fs.ModeSetgid
		}
		if hdr.Mode&0o1000 != 0 {
			f.Mode |= fs.ModeSticky
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			f.Type, f.Size = TypeReg, hdr.Size
		case tar.TypeDir:
			f.Type = TypeDir
			if old, ok := x.files[f.Path]; ok && old.Type == TypeDir {
				// Re-stating a directory keeps its children.
				f.Layer, f.Digest = old.Layer, old.Digest
				if layer > old.Layer {
					f.Layer, f.Digest = layer, digest
				}
			}
		case tar.TypeSymlink:
			f.Type, f.Linkname = TypeSymlink, hdr.Linkname
			if hdr.Linkname == "" {
				return bad("symlink with an empty target", ErrBadLayer)
			}
		case tar.TypeLink:
			tname, why := cleanEntry(hdr.Linkname)
			if why != "" {
				return bad("hardlink target "+strconvQuote(hdr.Linkname)+": "+why, ErrEscape)
			}
			tpath, err := x.resolve(tname, false, 0)
			if err != nil {
				return bad("hardlink target "+strconvQuote(hdr.Linkname)+": "+err.Error(), ErrEscape)
			}
			t, ok := x.files[tpath]
			if !ok {
				return bad("hardlink to missing file "+strconvQuote(hdr.Linkname), ErrBadLayer)
			}
			if t.Type == TypeDir {
				return bad("hardlink to a directory", ErrBadLayer)
			}
			f.Type, f.Size, f.Hardlink = t.Type, t.Size, true
			f.Linkname, f.src, f.entry = t.Linkname, t.src, t.entry
		case tar.TypeXHeader, tar.TypeXGlobalHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
			continue
		default:
			f.Type = TypeOther
		}
		x.put(f)
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }
