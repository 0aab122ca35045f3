package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Entry is one tar entry of a layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Mode     int64
	Body     []byte
	Linkname string
}

// File returns a regular file entry.
func File(name string, mode int64, body []byte) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Mode: mode, Body: body}
}

// Dir returns a directory entry.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }

// Symlink returns a symlink entry.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Linkname: target}
}

// Hardlink returns a hardlink entry.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Mode: 0o644, Linkname: target}
}

// Layer builds an uncompressed layer tar.
func Layer(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.Name, Typeflag: typ, Mode: e.Mode, Linkname: e.Linkname,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err) // test helper: entries are literals
		}
		if typ == tar.TypeReg {
			tw.Write(e.Body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// Config is the image config written with the image.
type Config struct {
	User       string
	Entrypoint []string
	Env        []string
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func configBlob(cfg Config, layers [][]byte) []byte {
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = digestOf(l)
	}
	b, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"User": cfg.User, "Entrypoint": cfg.Entrypoint, "Env": cfg.Env},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	return b
}

// files maps a path inside the layout or archive to its content.
type files map[string][]byte

// Blob is a layer as stored: Tar is the uncompressed layer (its digest is
// the config's diff_id unless DiffID is set), Data the blob written (Tar
// gzipped when nil) and MediaType its descriptor's media type (gzip when
// empty).
type Blob struct {
	Tar       []byte
	Data      []byte
	MediaType string
	DiffID    string
}

// Gzip returns b gzip-compressed.
func Gzip(b []byte) []byte { return gz(b) }

func ociFiles(ref string, cfg Config, layers [][]byte) files {
	blobs := make([]Blob, len(layers))
	for i, l := range layers {
		blobs[i] = Blob{Tar: l}
	}
	return ociBlobFiles(ref, cfg, blobs)
}

func ociBlobFiles(ref string, cfg Config, blobs []Blob) files {
	out := files{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	put := func(b []byte) string {
		d := digestOf(b)
		out["blobs/sha256/"+d[len("sha256:"):]] = b
		return d
	}
	layers := make([][]byte, len(blobs))
	for i, b := range blobs {
		layers[i] = b.Tar
	}
	cb := configBlob(cfg, layers)
	if overridden := func() bool {
		for _, b := range blobs {
			if b.DiffID != "" {
				return true
			}
		}
		return false
	}(); overridden {
		var c map[string]any
		json.Unmarshal(cb, &c)
		ids := c["rootfs"].(map[string]any)["diff_ids"].([]any)
		for i, b := range blobs {
			if b.DiffID != "" {
				ids[i] = b.DiffID
			}
		}
		cb, _ = json.Marshal(c)
	}
	var ldesc []map[string]any
	for _, b := range blobs {
		z, mt := b.Data, b.MediaType
		if z == nil {
			z = gz(b.Tar)
		}
		if mt == "" {
			mt = "application/vnd.oci.image.layer.v1.tar+gzip"
		}
		ldesc = append(ldesc, map[string]any{"mediaType": mt, "digest": put(z), "size": len(z)})
	}
	mb, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cb), "size": len(cb)},
		"layers": ldesc,
	})
	md := put(mb)
	desc := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(mb),
		"platform": map[string]any{"architecture": runtime.GOARCH, "os": "linux"}}
	if ref != "" {
		desc["annotations"] = map[string]string{"org.opencontainers.image.ref.name": ref}
	}
	ib, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{desc}})
	out["index.json"] = ib
	return out
}

// WriteOCILayout writes an OCI image layout directory with gzip layers and
// returns the manifest digest.
func WriteOCILayout(dir, ref string, cfg Config, layers ...[]byte) (string, error) {
	return writeLayout(dir, ociFiles(ref, cfg, layers))
}

// WriteOCILayoutBlobs writes an OCI image layout directory whose layer
// blobs, media types and diff_ids are given (zstd layers, mislabelled or
// truncated blobs, wrong diff_ids).
func WriteOCILayoutBlobs(dir, ref string, cfg Config, blobs ...Blob) (string, error) {
	return writeLayout(dir, ociBlobFiles(ref, cfg, blobs))
}

func writeLayout(dir string, fs files) (string, error) {
	for name, b := range fs {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", err
		}
	}
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	json.Unmarshal(fs["index.json"], &idx)
	return idx.Manifests[0].Digest, nil
}

// WriteOCIArchive writes the OCI layout as a tarball.
func WriteOCIArchive(path, ref string, cfg Config, layers ...[]byte) error {
	return writeTar(path, ociFiles(ref, cfg, layers), nil)
}

// WriteDockerArchive writes a legacy `docker save` tarball (uncompressed
// <id>/layer.tar layers, <config-hex>.json, manifest.json); a layer that
// appears twice is stored once and symlinked, as docker does.
func WriteDockerArchive(path string, tags []string, cfg Config, layers ...[]byte) error {
	out := files{}
	links := map[string]string{}
	cb := configBlob(cfg, layers)
	cname := digestOf(cb)[len("sha256:"):] + ".json"
	out[cname] = cb
	var lpaths []string
	seen := map[string]string{}
	for i, l := range layers {
		id := fmt.Sprintf("%064x", i+1)
		p := id + "/layer.tar"
		d := digestOf(l)
		if prev, ok := seen[d]; ok {
			links[p] = "../" + prev
		} else {
			out[p] = l
			seen[d] = p
		}
		lpaths = append(lpaths, p)
	}
	mb, _ := json.Marshal([]map[string]any{{"Config": cname, "RepoTags": tags, "Layers": lpaths}})
	out["manifest.json"] = mb
	return writeTar(path, out, links)
}

func writeTar(path string, fs files, links map[string]string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, b := range fs {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		tw.Write(b)
	}
	for name, target := range links {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
