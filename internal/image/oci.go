package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
)

// OCI and Docker media types.
const (
	MediaTypeOCIIndex      = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIManifest   = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeDockerList    = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerV2      = "application/vnd.docker.distribution.manifest.v2+json"
	annotationRefName      = "org.opencontainers.image.ref.name"
	annotationContainerdNm = "io.containerd.image.name"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant,omitempty"`
	} `json:"platform,omitempty"`
}

type indexJSON struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
}

type manifestJSON struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"` // when a manifest turns out to be an index
}

type configJSON struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       Config `json:"config"`
	RootFS       struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// blobStore reads named files of a layout: a directory or a tarball.
type blobStore interface {
	open(name string) (io.ReadCloser, error)
}

type dirStore struct{ root *os.Root }

func (d dirStore) open(name string) (io.ReadCloser, error) { return d.root.Open(name) }

func blobPath(digest string) (string, error) {
	alg, hexd, ok := strings.Cut(digest, ":")
	if !ok || alg == "" || hexd == "" || strings.ContainsAny(digest, "/\\.") {
		return "", fmt.Errorf("invalid digest %q", digest)
	}
	return "blobs/" + alg + "/" + hexd, nil
}

func readAllLimited(s blobStore, name string, limit int64) ([]byte, error) {
	rc, err := s.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

// readBlob reads a small JSON blob and checks its sha256 digest.
func readBlob(s blobStore, digest string) ([]byte, error) {
	p, err := blobPath(digest)
	if err != nil {
		return nil, err
	}
	b, err := readAllLimited(s, p, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", digest, err)
	}
	if hexd, ok := strings.CutPrefix(digest, "sha256:"); ok {
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != hexd {
			return nil, fmt.Errorf("blob %s: content hashes to sha256:%s: %w", digest, got, ErrDigestMismatch)
		}
	}
	return b, nil
}

func openOCILayout(dir string) (*Image, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s: %w", dir, err)
	}
	img, err := openOCI(dirStore{root}, SourceOCILayout, dir)
	if err != nil {
		root.Close()
		return nil, err
	}
	img.closers = append(img.closers, root)
	return img, nil
}

// openOCI reads index.json, picks the manifest for this platform and loads
// its config and layers.
func openOCI(s blobStore, source, target string) (*Image, error) {
	b, err := readAllLimited(s, "index.json", 16<<20)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: index.json: %w", source, target, err)
	}
	var idx indexJSON
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("open %s %s: index.json: %w", source, target, err)
	}
	desc, err := pickManifest(s, idx.Manifests, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", source, target, err)
	}
	img := &Image{Source: source, Target: target}
	if n := desc.Annotations[annotationContainerdNm]; n != "" {
		img.Name = n
	} else if n := desc.Annotations[annotationRefName]; n != "" {
		img.Name = n
	}
	if err := img.loadManifest(s, desc.Digest); err != nil {
		return nil, fmt.Errorf("open %s %s: %w", source, target, err)
	}
	return img, nil
}

func pickManifest(s blobStore, ms []descriptor, depth int) (descriptor, error) {
	if len(ms) == 0 {
		return descriptor{}, fmt.Errorf("no manifest in index")
	}
	if depth > 4 {
		return descriptor{}, fmt.Errorf("image indexes nested too deep")
	}
	best := -1
	for i, m := range ms {
		if m.Platform == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
			best = i
			break
		}
	}
	if best < 0 {
		best = 0
	}
	d := ms[best]
	if d.MediaType == MediaTypeOCIIndex || d.MediaType == MediaTypeDockerList {
		b, err := readBlob(s, d.Digest)
		if err != nil {
			return d, err
		}
		var idx indexJSON
		if err := json.Unmarshal(b, &idx); err != nil {
			return d, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		inner, err := pickManifest(s, idx.Manifests, depth+1)
		if err != nil {
			return d, err
		}
		if inner.Annotations == nil {
			inner.Annotations = d.Annotations
		}
		return inner, nil
	}
	return d, nil
}

func (img *Image) loadManifest(s blobStore, digest string) error {
	b, err := readBlob(s, digest)
	if err != nil {
		return err
	}
	var m manifestJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", digest, err)
	}
	img.ManifestDigest = digest
	img.ConfigDigest = m.Config.Digest
	cb, err := readBlob(s, m.Config.Digest)
	if err != nil {
		return err
	}
	var cfg configJSON
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	img.Config = cfg.Config
	img.Config.Architecture, img.Config.OS = cfg.Architecture, cfg.OS
	for i, l := range m.Layers {
		p, err := blobPath(l.Digest)
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		layer := Layer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size,
			open: func() (io.ReadCloser, error) { return s.open(p) }}
		if i < len(cfg.RootFS.DiffIDs) {
			layer.DiffID = cfg.RootFS.DiffIDs[i]
		}
		img.Layers = append(img.Layers, layer)
	}
	return nil
}

// tarStore gives random access to the members of an uncompressed tarball.
type tarStore struct {
	f       *os.File
	entries map[string]tarEntry
}

type tarEntry struct {
	off, size int64
	link      string // symlink target (docker save dedupes layers so)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func newTarStore(name string) (*tarStore, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	ts := &tarStore{f: f, entries: map[string]tarEntry{}}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read tarball %s: %w", name, err)
		}
		n := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			ts.entries[n] = tarEntry{off: cr.n, size: hdr.Size}
		case tar.TypeSymlink:
			ts.entries[n] = tarEntry{link: path.Join(path.Dir(n), hdr.Linkname)}
		}
	}
	return ts, nil
}

func (t *tarStore) open(name string) (io.ReadCloser, error) {
	n := path.Clean(name)
	for range 8 {
		e, ok := t.entries[n]
		if !ok {
			return nil, fmt.Errorf("%s: not in the archive: %w", name, os.ErrNotExist)
		}
		if e.link == "" {
			return io.NopCloser(io.NewSectionReader(t.f, e.off, e.size)), nil
		}
		n = e.link
	}
	return nil, fmt.Errorf("%s: too many symlinks", name)
}

// openArchive opens an OCI archive or a docker-archive tarball.
func openArchive(name string) (*Image, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", name, err)
	}
	var magic [2]byte
	_, _ = io.ReadFull(f, magic[:])
	f.Close()
	if magic[0] == 0x1f && magic[1] == 0x8b {
		return nil, fmt.Errorf("open image %s: compressed image archives are not supported, gunzip it first: %w", name, ErrUnknownFormat)
	}
	ts, err := newTarStore(name)
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w: %w", name, err, ErrUnknownFormat)
	}
	var img *Image
	switch {
	case ts.has("manifest.json"):
		img, err = openDockerArchive(ts, name)
	case ts.has("oci-layout") && ts.has("index.json"):
		img, err = openOCI(ts, SourceOCIArchive, name)
	default:
		err = fmt.Errorf("open image %s: neither manifest.json nor oci-layout in the tarball: %w", name, ErrUnknownFormat)
	}
	if err != nil {
		ts.f.Close()
		return nil, err
	}
	img.closers = append(img.closers, ts.f)
	return img, nil
}

func (t *tarStore) has(name string) bool { _, ok := t.entries[name]; return ok }

type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

func openDockerArchive(ts *tarStore, name string) (*Image, error) {
	b, err := readAllLimited(ts, "manifest.json", 16<<20)
	if err != nil {
		return nil, fmt.Errorf("open docker-archive %s: %w", name, err)
	}
	var ms []dockerManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("open docker-archive %s: manifest.json: %w", name, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("open docker-archive %s: manifest.json lists no image", name)
	}
	m := ms[0]
	cb, err := readAllLimited(ts, m.Config, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("open docker-archive %s: config: %w", name, err)
	}
	var cfg configJSON
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return nil, fmt.Errorf("open docker-archive %s: config %s: %w", name, m.Config, err)
	}
	sum := sha256.Sum256(cb)
	img := &Image{Source: SourceDockerArchive, Target: name, RepoTags: m.RepoTags,
		ConfigDigest: "sha256:" + hex.EncodeToString(sum[:]), Config: cfg.Config}
	img.Config.Architecture, img.Config.OS = cfg.Architecture, cfg.OS
	if len(m.RepoTags) > 0 {
		img.Name = m.RepoTags[0]
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("open docker-archive %s: %d layers but %d diff_ids in the config", name, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, lp := range m.Layers {
		lp := lp
		// Layers in a docker-archive are uncompressed (or compressed blobs
		// in newer OCI-style saves); the diff ID is verified only when the
		// stored file is the uncompressed tar.
		img.Layers = append(img.Layers, Layer{Digest: layerDigest(ts, lp, cfg.RootFS.DiffIDs[i]), DiffID: cfg.RootFS.DiffIDs[i],
			path: lp, open: func() (io.ReadCloser, error) { return ts.open(lp) }})
	}
	return img, nil
}

// layerDigest names a docker-archive layer: the blob digest when the path is
// a blobs/sha256/... path, else the diff ID.
func layerDigest(ts *tarStore, p, diffID string) string {
	if h, ok := strings.CutPrefix(path.Clean(p), "blobs/sha256/"); ok && len(h) == 64 {
		return "sha256:" + h
	}
	rc, err := ts.open(p)
	if err == nil {
		var magic [2]byte
		io.ReadFull(rc, magic[:])
		rc.Close()
		if magic[0] == 0x1f && magic[1] == 0x8b {
			return "" // compressed legacy layer: digest unknown, not verified
		}
	}
	return diffID
}
