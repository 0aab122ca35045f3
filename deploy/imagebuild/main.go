// Command imagebuild assembles Vigil's container image from a built binary,
// offline and byte-for-byte reproducibly: one gzip layer holding
// /usr/bin/vigil and the directories the agent uses, no shell, no package
// manager, no base image. It writes a docker-archive (`docker load -i`),
// which `vigil image sbom|verify` also read.
//
//	go run ./deploy/imagebuild -binary vigil -tag vigilsec/vigil:v0.1.0 -created 2026-01-02T03:04:05Z -o vigil-image.tar
//
// Every timestamp is -created (the commit's date), so the same binary gives
// the same archive, config digest and image ID.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

// entry is one file or directory of the root filesystem.
type entry struct {
	path string
	mode int64
	dir  bool
	data []byte
}

// rootfs lists the image's files. /var/lib/vigil (the alert store) and
// /tmp are the only paths the agent writes: in Kubernetes they are volumes,
// so the root filesystem can be read-only.
func rootfs(binary []byte) []entry {
	return []entry{
		{path: "etc/", mode: 0o755, dir: true},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\n")},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/:/usr/bin/vigil\n")},
		{path: "etc/vigil/", mode: 0o755, dir: true},
		{path: "etc/vigil/rules.d/", mode: 0o755, dir: true},
		{path: "tmp/", mode: 0o1777, dir: true},
		{path: "usr/", mode: 0o755, dir: true},
		{path: "usr/bin/", mode: 0o755, dir: true},
		{path: "usr/bin/vigil", mode: 0o755, data: binary},
		{path: "var/", mode: 0o755, dir: true},
		{path: "var/lib/", mode: 0o755, dir: true},
		{path: "var/lib/vigil/", mode: 0o700, dir: true},
	}
}

func layer(entries []entry, mtime time.Time) (tarBytes []byte, err error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.path, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	err = tw.Close()
	return buf.Bytes(), err
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Build returns the docker-archive of the image and its config digest
// (the image ID Docker shows).
func Build(binary []byte, tag, version string, created time.Time) (archive []byte, imageID string, err error) {
	raw, err := layer(rootfs(binary), created)
	if err != nil {
		return nil, "", err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // zero header time: reproducible
	if _, err := zw.Write(raw); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      created.UTC().Format(time.RFC3339),
		"config": map[string]any{
			"User":       "0:0",
			"Entrypoint": []string{"/usr/bin/vigil"},
			"Cmd":        []string{"run", "--config", "/etc/vigil/vigil.yaml"},
			"Env":        []string{"PATH=/usr/bin"},
			"WorkingDir": "/",
			"Labels": map[string]string{
				"org.opencontainers.image.title":   "vigil",
				"org.opencontainers.image.version": version,
				"org.opencontainers.image.created": created.UTC().Format(time.RFC3339),
			},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + digest(raw)}},
		"history": []map[string]any{{"created": created.UTC().Format(time.RFC3339), "created_by": "deploy/imagebuild"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", err
	}
	cfgPath, layerPath := "blobs/sha256/"+digest(cfgJSON), "blobs/sha256/"+digest(gz.Bytes())
	manifest, err := json.Marshal([]map[string]any{{"Config": cfgPath, "RepoTags": []string{tag}, "Layers": []string{layerPath}}})
	if err != nil {
		return nil, "", err
	}
	files := []entry{
		{path: "blobs/", mode: 0o755, dir: true},
		{path: "blobs/sha256/", mode: 0o755, dir: true},
		{path: cfgPath, mode: 0o644, data: cfgJSON},
		{path: layerPath, mode: 0o644, data: gz.Bytes()},
		{path: "manifest.json", mode: 0o644, data: manifest},
	}
	archive, err = layer(files, created)
	return archive, "sha256:" + digest(cfgJSON), err
}

func main() {
	binary := flag.String("binary", "", "the vigil binary (deploy/build.sh)")
	tag := flag.String("tag", "vigilsec/vigil:dev", "image reference written in the archive")
	version := flag.String("version", "dev", "org.opencontainers.image.version label")
	created := flag.String("created", "1970-01-01T00:00:00Z", "RFC 3339 time of every timestamp (use the commit's date)")
	out := flag.String("o", "vigil-image.tar", "output docker-archive")
	flag.Parse()
	if err := run(*binary, *tag, *version, *created, *out); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(binary, tag, version, created, out string) error {
	if binary == "" {
		return fmt.Errorf("-binary is required")
	}
	when, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return fmt.Errorf("-created: %w", err)
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	archive, id, err := Build(bin, tag, version, when)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, archive, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s %s %d bytes\n", out, id, len(archive))
	return nil
}
