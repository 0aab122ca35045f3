package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// ErrUnknownFormat is returned by Open for a target that is none of the
// supported sources.
var ErrUnknownFormat = errors.New("unknown image format")

// ErrDigestMismatch is returned when a blob's content does not match its
// digest.
var ErrDigestMismatch = errors.New("digest mismatch")

// Source kinds.
const (
	SourceOCILayout     = "oci-layout"
	SourceOCIArchive    = "oci-archive"
	SourceDockerArchive = "docker-archive"
	SourceRootFS        = "rootfs"
	SourceContainerd    = "containerd"
)

// Config is the part of the image configuration Vigil uses.
type Config struct {
	User         string            `json:"User,omitempty"`
	Env          []string          `json:"Env,omitempty"`
	Entrypoint   []string          `json:"Entrypoint,omitempty"`
	Cmd          []string          `json:"Cmd,omitempty"`
	WorkingDir   string            `json:"WorkingDir,omitempty"`
	Labels       map[string]string `json:"Labels,omitempty"`
	Architecture string            `json:"-"`
	OS           string            `json:"-"`
}

// Layer is one filesystem layer.
type Layer struct {
	Digest    string // digest of the blob as stored (compressed)
	DiffID    string // digest of the uncompressed tar, from the config
	MediaType string
	Size      int64

	open func() (io.ReadCloser, error)
}

// Image is an opened image: metadata, layers and the merged file index.
type Image struct {
	Source         string   // one of the Source* kinds
	Target         string   // what was opened
	Name           string   // reference name when known (tag, annotation, containerd name)
	RepoTags       []string // docker-archive tags
	ManifestDigest string   // digest of the image manifest ("" for rootfs)
	ConfigDigest   string
	Config         Config
	Layers         []Layer
	Files          *FileIndex

	rootDir string   // SourceRootFS: directory opened
	root    *os.Root // SourceRootFS
	closers []io.Closer
}

// Close releases the files held by img.
func (img *Image) Close() error {
	var errs []error
	for _, c := range img.closers {
		errs = append(errs, c.Close())
	}
	if img.root != nil {
		errs = append(errs, img.root.Close())
	}
	img.closers, img.root = nil, nil
	return errors.Join(errs...)
}

// Ref returns the best name for the image: its name, its first tag, or the
// target it was opened from.
func (img *Image) Ref() string {
	switch {
	case img.Name != "":
		return img.Name
	case len(img.RepoTags) > 0:
		return img.RepoTags[0]
	}
	return img.Target
}

// Open opens target: an OCI layout directory, an OCI or docker-archive
// tarball, a root filesystem directory, or "containerd://NAME" (see
// OpenContainerd for options). The returned image's Files index is built.
func Open(target string) (*Image, error) {
	if name, ok := strings.CutPrefix(target, "containerd://"); ok {
		return OpenContainerd(context.Background(), name, nil)
	}
	st, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", target, err)
	}
	var img *Image
	if st.IsDir() {
		if _, err := os.Stat(target + "/oci-layout"); err == nil {
			img, err = openOCILayout(target)
			if err != nil {
				return nil, err
			}
		} else {
			return openRootFS(target)
		}
	} else {
		img, err = openArchive(target)
		if err != nil {
			return nil, err
		}
	}
	if err := img.buildIndex(); err != nil {
		img.Close()
		return nil, err
	}
	return img, nil
}

func (img *Image) buildIndex() error {
	img.Files = newIndex()
	for i, l := range img.Layers {
		rc, err := l.Open()
		if err != nil {
			return fmt.Errorf("open layer %d (%s): %w", i, l.Digest, err)
		}
		err = img.Files.applyLayer(i, l.Digest, rc)
		cerr := rc.Close()
		if errors.Is(cerr, ErrDigestMismatch) {
			// A corrupt blob explains any read error: report it.
			return fmt.Errorf("layer %d: %w", i, cerr)
		}
		if err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Open returns the layer's uncompressed tar stream. Closing it verifies the
// blob digest when the whole blob was read.
func (l Layer) Open() (io.ReadCloser, error) {
	raw, err := l.open()
	if err != nil {
		return nil, err
	}
	vr := newVerifier(raw, l.Digest)
	br := bufio.NewReaderSize(vr, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("layer %s: gzip: %w", l.Digest, err)
		}
		return &layerReader{Reader: zr, v: vr, zr: zr}, nil
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		raw.Close()
		return nil, fmt.Errorf("layer %s: zstd layers: %w", l.Digest, errors.ErrUnsupported)
	}
	return &layerReader{Reader: br, v: vr}, nil
}

type layerReader struct {
	io.Reader
	v  *verifier
	zr *gzip.Reader
}

func (r *layerReader) Close() error {
	// Drain so that the digest covers the whole blob (tar readers stop at
	// the end-of-archive marker).
	if r.zr != nil {
		io.Copy(io.Discard, r.zr)
	}
	io.Copy(io.Discard, r.v)
	return r.v.Close()
}

// verifier hashes what is read through it and checks it on Close.
type verifier struct {
	rc   io.ReadCloser
	want string
	h    hash.Hash
	eof  bool
}

func newVerifier(rc io.ReadCloser, digest string) *verifier {
	v := &verifier{rc: rc, want: digest}
	if hexd, ok := strings.CutPrefix(digest, "sha256:"); ok && len(hexd) == 64 {
		v.want, v.h = hexd, sha256.New()
	}
	return v
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	if v.h != nil {
		v.h.Write(p[:n])
	}
	if err == io.EOF {
		v.eof = true
	}
	return n, err
}

func (v *verifier) Close() error {
	err := v.rc.Close()
	if v.h != nil && v.eof {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return fmt.Errorf("blob sha256:%s: content hashes to sha256:%s: %w", v.want, got, ErrDigestMismatch)
		}
	}
	return err
}

// ReadFiles streams the content of every file for which want returns true,
// calling fn with the file and a reader of its content. Files are visited in
// layer order. A rootfs source passes an *os.File (an io.ReaderAt too).
func (img *Image) ReadFiles(want func(*File) bool, fn func(*File, io.Reader) error) error {
	if img.Source == SourceRootFS {
		return img.readRootFiles(want, fn)
	}
	type key struct{ layer, entry int }
	wanted := map[key][]*File{}
	img.Files.Walk(func(f *File) bool {
		if f.Type == TypeReg && f.src >= 0 && want(f) {
			k := key{f.src, f.entry}
			wanted[k] = append(wanted[k], f)
		}
		return true
	})
	if len(wanted) == 0 {
		return nil
	}
	last := -1
	for k := range wanted {
		last = max(last, k.layer)
	}
	for i := 0; i <= last; i++ {
		if err := img.readLayerFiles(i, func(entry int) []*File { return wanted[key{i, entry}] }, fn); err != nil {
			return err
		}
	}
	return nil
}
