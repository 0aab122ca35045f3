package image

import (
	"bufio"
	"bytes"
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
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/vigilsec/vigil/internal/progress"
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

	path string // member of a docker-archive (names a layer without digest)
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

	progress *progress.Bar // nil: no progress shown
	skipMu   sync.Mutex
	skipped  []Skip // SourceRootFS: paths left out (Skipped)
	closers  []io.Closer
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
	return OpenWith(target, nil)
}

// OpenOptions configures OpenWith.
type OpenOptions struct {
	// Progress shows the indexing and reading of files (nil: nothing).
	Progress *progress.Bar
}

// OpenWith is Open with options.
func OpenWith(target string, opts *OpenOptions) (*Image, error) {
	if opts == nil {
		opts = &OpenOptions{}
	}
	if name, ok := strings.CutPrefix(target, "containerd://"); ok {
		img, err := OpenContainerd(context.Background(), name, nil)
		if img != nil {
			img.progress = opts.Progress
		}
		return img, err
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
			return openRootFS(target, opts.Progress)
		}
	} else {
		img, err = openArchive(target)
		if err != nil {
			return nil, err
		}
	}
	img.progress = opts.Progress
	if err := img.buildIndex(); err != nil {
		img.Close()
		return nil, err
	}
	return img, nil
}

func (img *Image) buildIndex() error {
	img.Files = newIndex()
	for i, l := range img.Layers {
		img.progress.Stage(fmt.Sprintf("indexing layer %d/%d", i+1, len(img.Layers)))
		rc, err := l.Open()
		if err != nil {
			return fmt.Errorf("open layer %d (%s): %w", i, l.Label(), err)
		}
		rc = img.progress.CountReads(rc)
		err = img.Files.applyLayer(i, l.Label(), rc)
		cerr := rc.Close()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The tar stream ended inside an entry: the blob is cut short
			// (its digest cannot match either).
			return fmt.Errorf("layer %d (%s): truncated: the layer ends inside a tar entry (%v): %w", i, l.Label(), err, ErrBadBlob)
		}
		if errors.Is(cerr, ErrDigestMismatch) || errors.Is(cerr, ErrBadBlob) {
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

// Label names a layer in messages: its blob digest, else its diff ID, else
// its path in the archive.
func (l Layer) Label() string {
	switch {
	case l.Digest != "":
		return l.Digest
	case l.DiffID != "":
		return l.DiffID
	}
	return l.path
}

// Compression magic numbers.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// labelledCompression returns the compression a layer media type declares
// ("gzip", "zstd", "" for an uncompressed or unknown type).
func labelledCompression(mediaType string) string {
	switch {
	case strings.HasSuffix(mediaType, "+gzip"), strings.HasSuffix(mediaType, ".tar.gzip"):
		return "gzip"
	case strings.HasSuffix(mediaType, "+zstd"), strings.HasSuffix(mediaType, ".tar.zstd"):
		return "zstd"
	}
	return ""
}

// Open returns the layer's uncompressed tar stream (gzip, zstd or plain,
// recognised by content; a media type that declares a compression the blob
// does not have is an error). Closing it verifies the blob digest and the
// config's diff ID (the digest of the uncompressed tar) when the whole blob
// was read.
func (l Layer) Open() (io.ReadCloser, error) {
	raw, err := l.open()
	if err != nil {
		return nil, err
	}
	vr := newVerifier(raw, l.Digest)
	br := bufio.NewReaderSize(vr, 64<<10)
	magic, _ := br.Peek(4)
	found := ""
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		found = "gzip"
	case bytes.HasPrefix(magic, zstdMagic):
		found = "zstd"
	}
	if want := labelledCompression(l.MediaType); want != "" && want != found {
		raw.Close()
		what := "uncompressed"
		if found != "" {
			what = found
		}
		return nil, fmt.Errorf("layer %s: labelled %s (%s) but the blob is %s data (starts with % x): %w",
			l.Label(), l.MediaType, want, what, magic, ErrBadBlob)
	}
	lr := &layerReader{v: vr}
	var plain io.Reader = br
	switch found {
	case "gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			raw.Close()
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("layer %s: truncated: the blob ends inside its gzip header: %w", l.Label(), ErrBadBlob)
			}
			return nil, fmt.Errorf("layer %s: gzip: %w", l.Label(), err)
		}
		plain, lr.closeZ = zr, func() { zr.Close() }
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("layer %s: zstd: %w", l.Label(), err)
		}
		plain, lr.closeZ = zr, zr.Close
	}
	lr.d = newVerifier(io.NopCloser(plain), l.DiffID)
	lr.Reader = lr.d
	lr.label = l.Label()
	return lr, nil
}

// ErrBadBlob is matched by errors about a layer blob that is not what its
// descriptor says: mislabelled compression, truncated data.
var ErrBadBlob = errors.New("bad layer blob")

type layerReader struct {
	io.Reader
	v, d   *verifier // blob digest, diff ID
	closeZ func()
	label  string
}

func (r *layerReader) Close() error {
	// Drain so that the digests cover the whole stream (tar readers stop
	// at the end-of-archive marker).
	_, derr := io.Copy(io.Discard, r.d)
	io.Copy(io.Discard, r.v)
	if r.closeZ != nil {
		r.closeZ()
	}
	if err := r.v.Close(); err != nil {
		return err
	}
	if errors.Is(derr, io.ErrUnexpectedEOF) {
		return fmt.Errorf("layer %s: truncated: the compressed stream ends early: %w", r.label, ErrBadBlob)
	}
	if err := r.d.check("uncompressed layer", "config diff_id"); err != nil {
		return fmt.Errorf("layer %s: %w", r.label, err)
	}
	return nil
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
	if cerr := v.check("blob", "digest"); cerr != nil {
		return cerr
	}
	return err
}

// check compares what was read (when all of it was) with the expected
// digest; what and of name the two sides in the message.
func (v *verifier) check(what, of string) error {
	if v.h != nil && v.eof {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			if of == "digest" {
				return fmt.Errorf("blob sha256:%s: content hashes to sha256:%s: %w", v.want, got, ErrDigestMismatch)
			}
			return fmt.Errorf("%s hashes to sha256:%s, %s is sha256:%s: %w", what, got, of, v.want, ErrDigestMismatch)
		}
	}
	return nil
}

// ReadFiles streams the content of every file for which want returns true,
// calling fn with the file and a reader of its content. Files are visited in
// layer order. A rootfs source passes an *os.File (an io.ReaderAt too).
func (img *Image) ReadFiles(want func(*File) bool, fn func(*File, io.Reader) error) error {
	if img.Source == SourceRootFS {
		return img.readRootFiles(want, fn)
	}
	img.progress.Stage("reading files")
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
