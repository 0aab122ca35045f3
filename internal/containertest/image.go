package containertest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// ImageName is the reference the busybox test image is imported under.
const ImageName = "docker.io/vigiltest/busybox:1.0"

// BusyboxPath is the static busybox the image is built from.
const BusyboxPath = "/bin/busybox"

// Applets are the busybox applets the image links in /bin.
var Applets = []string{
	"sh", "cat", "nc", "sleep", "ls", "echo", "true", "false", "id", "ps", "touch", "rm", "mkdir",
	"chmod", "cp", "mv", "ln", "wget", "head", "tail", "grep", "sed", "env", "hostname", "mount",
	"umount", "kill", "stat", "find", "dd", "uname", "whoami", "tr", "wc", "xargs", "test", "cut",
}

// ShadowLine is the image's /etc/shadow (a locked root account): a test that
// finds it in a container's output saw a read that should have been blocked.
const ShadowLine = "root:!vigiltest-shadow:19000:0:99999:7:::"

// fileEntry is one file of the image's single layer.
type fileEntry struct {
	name     string
	mode     int64
	typ      byte
	linkname string
	data     []byte
}

// layerEntries lists the root filesystem: busybox, applet symlinks, and the
// directories and files a container runtime expects to find.
func layerEntries(busybox []byte) []fileEntry {
	var es []fileEntry
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "root", "run", "var", "var/tmp", "usr", "usr/bin"} {
		mode := int64(0o755)
		if d == "tmp" || d == "var/tmp" {
			mode = 0o1777
		}
		es = append(es, fileEntry{name: d + "/", mode: mode, typ: tar.TypeDir})
	}
	es = append(es, fileEntry{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, data: busybox})
	for _, a := range Applets {
		es = append(es, fileEntry{name: "bin/" + a, mode: 0o777, typ: tar.TypeSymlink, linkname: "busybox"})
	}
	es = append(es,
		fileEntry{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		fileEntry{name: "etc/group", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		fileEntry{name: "etc/hostname", mode: 0o644, typ: tar.TypeReg, data: []byte("vigiltest\n")},
		fileEntry{name: "etc/shadow", mode: 0o600, typ: tar.TypeReg, data: []byte(ShadowLine + "\n")},
	)
	return es
}

// layerTar returns the image's layer as an uncompressed tar.
func layerTar() ([]byte, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, e := range layerEntries(bb) {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.linkname, Size: int64(len(e.data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("write layer header %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("write layer file %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer: %w", err)
	}
	return buf.Bytes(), nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// BuildImage writes the busybox test image as an OCI image-layout tarball
// (the format `docker save`/`ctr import` read) to w, under ref. It returns
// the manifest digest, which runtimes report as the image digest.
func BuildImage(w io.Writer, ref string) (manifestDigest string, err error) {
	return BuildImageCmd(w, ref, []string{"sh"})
}

// BuildImageCmd is BuildImage with cmd as the image's default command.
func BuildImageCmd(w io.Writer, ref string, cmd []string) (manifestDigest string, err error) {
	layer, err := layerTar()
	if err != nil {
		return "", err
	}
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":        cmd,
			"WorkingDir": "/",
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{digestOf(layer)}},
		"history": []map[string]any{{"created_by": "vigil containertest"}},
	})
	if err != nil {
		return "", fmt.Errorf("marshal image config: %w", err)
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digestOf(config), Size: int64(len(config))},
		"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digestOf(layer), Size: int64(len(layer))}},
	})
	if err != nil {
		return "", fmt.Errorf("marshal image manifest: %w", err)
	}
	tag := ref[lastColonAfterSlash(ref)+1:]
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []descriptor{{
			MediaType: "application/vnd.oci.image.manifest.v1+json",
			Digest:    digestOf(manifest),
			Size:      int64(len(manifest)),
			Platform:  &platform{Architecture: runtime.GOARCH, OS: "linux"},
			Annotations: map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	})
	if err != nil {
		return "", fmt.Errorf("marshal image index: %w", err)
	}
	// docker load reads manifest.json; containerd reads index.json.
	dockerManifest, err := json.Marshal([]map[string]any{{
		"Config":   "blobs/sha256/" + digestOf(config)[7:],
		"RepoTags": []string{dockerRef(ref)},
		"Layers":   []string{"blobs/sha256/" + digestOf(layer)[7:]},
	}})
	if err != nil {
		return "", fmt.Errorf("marshal docker manifest: %w", err)
	}
	tw := tar.NewWriter(w)
	mtime := time.Unix(1700000000, 0)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("write image archive %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("write image archive %s: %w", name, err)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"manifest.json", dockerManifest},
		{"blobs/sha256/" + digestOf(layer)[7:], layer},
		{"blobs/sha256/" + digestOf(config)[7:], config},
		{"blobs/sha256/" + digestOf(manifest)[7:], manifest},
	} {
		if err := add(f.name, f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("close image archive: %w", err)
	}
	return digestOf(manifest), nil
}

// dockerRef is the name Docker shows for ref: without docker.io/.
func dockerRef(ref string) string {
	if r, ok := strings.CutPrefix(ref, "docker.io/library/"); ok {
		return r
	}
	if r, ok := strings.CutPrefix(ref, "docker.io/"); ok {
		return r
	}
	return ref
}

func lastColonAfterSlash(ref string) int {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case ':':
			return i
		case '/':
			return len(ref) - 1
		}
	}
	return len(ref) - 1
}

// WriteRootfs writes the image's root filesystem to dir (for runc bundles).
func WriteRootfs(dir string) error {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	for _, e := range layerEntries(bb) {
		p := filepath.Join(dir, e.name)
		switch e.typ {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(e.mode&0o777)); err != nil {
				return fmt.Errorf("write rootfs: %w", err)
			}
			if err := os.Chmod(p, os.FileMode(e.mode&0o777)|modeSticky(e.mode)); err != nil {
				return fmt.Errorf("write rootfs: %w", err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(e.linkname, p); err != nil {
				return fmt.Errorf("write rootfs: %w", err)
			}
		default:
			if err := os.WriteFile(p, e.data, os.FileMode(e.mode)); err != nil {
				return fmt.Errorf("write rootfs: %w", err)
			}
		}
	}
	return nil
}

func modeSticky(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}
