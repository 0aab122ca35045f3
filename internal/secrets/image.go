package secrets

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/internal/image"
)

// ScanImage scans every regular file of every layer of img (a file a later
// layer deletes or replaces is still in the image: it is reported with
// Removed set), or every file of a root filesystem, and the environment of
// the image config.
func (s *Scanner) ScanImage(img *image.Image) ([]Finding, error) {
	var out []Finding
	for i, e := range img.Config.Env {
		out = append(out, s.ScanText(Location{Source: "config", Path: fmt.Sprintf("config.Env[%d]", i)}, []byte(e))...)
	}
	read := func(buf *bytes.Buffer, r io.Reader, size int64) ([]byte, bool) {
		buf.Reset()
		// Peek first: most of an image is binaries, skipped after 8 KiB.
		if _, err := io.CopyN(buf, r, min(size, 8<<10)); err != nil && err != io.EOF {
			return nil, false
		}
		if Binary(buf.Bytes()) {
			return nil, false
		}
		if _, err := io.CopyN(buf, r, min(size, maxText)-int64(buf.Len())); err != nil && err != io.EOF {
			return nil, false
		}
		return buf.Bytes(), true
	}
	var buf bytes.Buffer
	if img.Source == image.SourceRootFS {
		// Opening files dominates: read them on every CPU.
		var mu sync.Mutex
		bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
		err := img.ReadFilesConcurrently(runtime.GOMAXPROCS(0), func(f *image.File) bool { return s.wanted(f.Path, f.Size) },
			func(f *image.File, r io.Reader) error {
				b := bufs.Get().(*bytes.Buffer)
				defer bufs.Put(b)
				if data, ok := read(b, r, f.Size); ok {
					if fs := s.ScanText(Location{Source: "rootfs", Path: "/" + f.Path}, data); len(fs) > 0 {
						mu.Lock()
						out = append(out, fs...)
						mu.Unlock()
					}
				}
				return nil
			})
		sort.SliceStable(out, func(i, j int) bool {
			if out[i].Path != out[j].Path {
				return out[i].Path < out[j].Path
			}
			return out[i].Line < out[j].Line
		})
		return out, err
	}
	for i, l := range img.Layers {
		rc, err := l.Open()
		if err != nil {
			return out, fmt.Errorf("secrets: open layer %d (%s): %w", i, l.Label(), err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return out, fmt.Errorf("secrets: layer %d (%s): %w", i, l.Label(), err)
			}
			if h.Typeflag != tar.TypeReg || h.Size == 0 {
				continue
			}
			p, ok := cleanName(h.Name)
			if !ok || !s.wanted(p, h.Size) {
				continue
			}
			b, ok := read(&buf, tr, h.Size)
			if !ok {
				continue
			}
			fs := s.ScanText(Location{Source: "layer", Layer: l.Label(), Path: "/" + p}, b)
			if len(fs) > 0 {
				// Still in the merged filesystem, from this very layer?
				f, ok := img.Files.Lookup(p)
				removed := !ok || f.Layer != i
				for j := range fs {
					fs[j].Removed = removed
				}
				out = append(out, fs...)
			}
		}
		if err := rc.Close(); err != nil {
			return out, fmt.Errorf("secrets: layer %d: %w", i, err)
		}
	}
	return out, nil
}

// skipExt lists file name suffixes of formats that hold no text secrets
// (compressed, compiled, media, fonts, translations): they are not opened.
var skipExt = []string{".so", ".a", ".o", ".ko", ".pyc", ".pyo", ".class", ".jar", ".war", ".whl", ".egg", ".gz", ".xz",
	".bz2", ".zst", ".lz4", ".zip", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".svgz", ".webp", ".ttf", ".otf",
	".woff", ".woff2", ".pfb", ".mo", ".gmo", ".wasm", ".mp3", ".ogg", ".wav", ".deb", ".rpm", ".apk"}

// wanted reports whether a file is worth opening: not empty, not
// allow-listed by path, not of a format in skipExt (a versioned shared
// library, libz.so.1.2.13, included).
func (s *Scanner) wanted(p string, size int64) bool {
	if size == 0 || s.pathAllowed(p) {
		return false
	}
	base := path.Base(p)
	for _, e := range skipExt {
		if strings.HasSuffix(base, e) || (e == ".so" && strings.Contains(base, ".so.")) {
			return false
		}
	}
	return true
}

// cleanName turns a tar entry name into a root-relative path.
func cleanName(name string) (string, bool) {
	for len(name) > 0 && (name[0] == '/' || bytes.HasPrefix([]byte(name), []byte("./"))) {
		if name[0] == '/' {
			name = name[1:]
		} else {
			name = name[2:]
		}
	}
	return name, name != ""
}

// ScanEnv scans a process environment (KEY=VALUE strings, as in
// /proc/PID/environ split at NUL bytes or an image config's Env).
func (s *Scanner) ScanEnv(source, where string, env []string) []Finding {
	var out []Finding
	for i, e := range env {
		out = append(out, s.ScanText(Location{Source: source, Path: fmt.Sprintf("%s[%d]", where, i)}, []byte(e))...)
	}
	return out
}

// ScanProcess scans the environment of a running process
// (/proc/PID/environ; reading another user's needs root). where names the
// process in the findings' paths.
func (s *Scanner) ScanProcess(pid int, where string) ([]Finding, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, fmt.Errorf("secrets: environment of pid %d: %w", pid, err)
	}
	var env []string
	for _, e := range bytes.Split(b, []byte{0}) {
		if len(e) > 0 {
			env = append(env, string(e))
		}
	}
	return s.ScanEnv("env", where, env), nil
}
