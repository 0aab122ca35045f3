package image_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/testkernel"
)

func busybox(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testkernel.Skip(t, "busybox-static not installed: "+err.Error())
	}
	return b
}

// busyboxLayers returns a two-layer busybox image: the base, then a layer
// that deletes /bin/ls (whiteout), replaces /etc (opaque) and adds a tool.
func busyboxLayers(t *testing.T) [][]byte {
	bb := busybox(t)
	base := it.Layer(
		it.Dir("bin/"), it.File("bin/busybox", 0o755, bb),
		it.Symlink("bin/sh", "busybox"), it.Symlink("bin/ls", "/bin/busybox"),
		it.Hardlink("bin/true", "bin/busybox"),
		it.Dir("etc/"), it.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")),
		it.File("etc/group", 0o644, []byte("root:x:0:\n")),
		it.File("etc/os-release", 0o644, []byte("ID=busybox\nNAME=BusyBox\nVERSION_ID=1.37.0\n")),
		it.Dir("tmp/"), it.File("tmp/junk", 0o600, []byte("x")),
		it.Symlink("usrbin", "bin"),
	)
	top := it.Layer(
		it.File("bin/.wh.ls", 0, nil),
		it.Dir("etc/"), it.File("etc/.wh..wh..opq", 0, nil),
		it.File("etc/os-release", 0o644, []byte("ID=busybox\nVERSION_ID=1.37.0\n")),
		it.File("tmp/.wh.junk", 0, nil),
		it.File("usrbin/tool", 0o4755, []byte("#!/bin/sh\necho hi\n")), // written through a symlink inside the root
	)
	return [][]byte{base, top}
}

func checkBusybox(t *testing.T, img *image.Image) {
	t.Helper()
	x := img.Files
	for _, p := range []string{"/bin/busybox", "/bin/sh", "/bin/true", "/etc/os-release", "/bin/tool", "/usrbin/tool", "/usrbin/sh", "bin//busybox", "/bin/../bin/busybox"} {
		if !x.IsInImage(p) {
			t.Errorf("IsInImage(%q) = false, want true", p)
		}
	}
	for _, p := range []string{"/bin/ls", "/etc/passwd", "/etc/group", "/tmp/junk", "/usr/bin/python3", "/bin/busybox/x"} {
		if x.IsInImage(p) {
			t.Errorf("IsInImage(%q) = true, want false (deleted or never there)", p)
		}
	}
	bb, _ := x.Lookup("/bin/busybox")
	if bb.Layer != 0 || bb.Digest != img.Layers[0].Digest || !bb.Executable() {
		t.Errorf("busybox: layer %d digest %s exec %v", bb.Layer, bb.Digest, bb.Executable())
	}
	tool, _ := x.Lookup("/bin/tool")
	if tool.Layer == 0 || tool.Digest != img.Layers[tool.Layer].Digest || tool.Mode&os.ModeSetuid == 0 {
		t.Errorf("tool: layer %d mode %v, want layer 1 setuid", tool.Layer, tool.Mode)
	}
	if sh, _ := x.Lookup("/bin/sh"); sh.Type != image.TypeSymlink || sh.Linkname != "busybox" {
		t.Errorf("/bin/sh = %+v", sh)
	}
	// Second pass: contents come from the right layer entry.
	want := busybox(t)
	got := map[string]int{}
	err := img.ReadFiles(func(f *image.File) bool {
		return f.Path == "bin/busybox" || f.Path == "bin/true" || f.Path == "etc/os-release"
	}, func(f *image.File, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		got[f.Path] = len(b)
		if f.Path != "etc/os-release" && string(b) != string(want) {
			t.Errorf("%s: content differs from /bin/busybox", f.Path)
		}
		if f.Path == "etc/os-release" && strings.Contains(string(b), "NAME=") {
			t.Errorf("os-release from the lower layer: %q", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("ReadFiles visited %v", got)
	}
	if img.Config.User != "65534" {
		t.Errorf("config user %q", img.Config.User)
	}
}

func TestBusyboxOCILayout(t *testing.T) {
	dir := t.TempDir()
	md, err := it.WriteOCILayout(dir, "docker.io/library/busybox:1.37", it.Config{User: "65534"}, busyboxLayers(t)...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Source != image.SourceOCILayout || img.ManifestDigest != md || img.Name != "docker.io/library/busybox:1.37" {
		t.Errorf("source %s manifest %s name %s", img.Source, img.ManifestDigest, img.Name)
	}
	checkBusybox(t, img)
}

func TestBusyboxOCIArchive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bb.tar")
	if err := it.WriteOCIArchive(p, "busybox:1.37", it.Config{User: "65534"}, busyboxLayers(t)...); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Source != image.SourceOCIArchive {
		t.Errorf("source %s", img.Source)
	}
	checkBusybox(t, img)
}

func TestBusyboxDockerArchive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bb.tar")
	ls := busyboxLayers(t)
	// The same layer twice exercises docker's symlinked duplicate layers.
	if err := it.WriteDockerArchive(p, []string{"busybox:1.37"}, it.Config{User: "65534"}, ls[0], ls[1], ls[1]); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Source != image.SourceDockerArchive || img.Ref() != "busybox:1.37" || len(img.Layers) != 3 {
		t.Errorf("source %s ref %s layers %d", img.Source, img.Ref(), len(img.Layers))
	}
	checkBusybox(t, img)
}

func TestCorruptBlobRejected(t *testing.T) {
	dir := t.TempDir()
	if _, err := it.WriteOCILayout(dir, "", it.Config{}, busyboxLayers(t)...); err != nil {
		t.Fatal(err)
	}
	// Flip one byte of the largest blob (the busybox layer).
	var biggest string
	var size int64
	filepath.Walk(filepath.Join(dir, "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() > size {
			biggest, size = p, fi.Size()
		}
		return nil
	})
	b, _ := os.ReadFile(biggest)
	b[len(b)/2] ^= 0xff
	os.WriteFile(biggest, b, 0o644)
	img, err := image.Open(dir)
	if err == nil {
		img.Close()
		t.Fatal("corrupt layer accepted")
	}
	if !errors.Is(err, image.ErrDigestMismatch) {
		t.Errorf("unexpected error: %v", err)
	}
}

func TestEscapesRejected(t *testing.T) {
	cases := []struct {
		name    string
		entries []it.Entry
		want    string // in the error text
	}{
		{"dotdot", []it.Entry{it.File("../../etc/cron.d/evil", 0o644, []byte("x"))}, `entry "../../etc/cron.d/evil"`},
		{"inner dotdot", []it.Entry{it.File("a/../../evil", 0o644, []byte("x"))}, `entry "a/../../evil"`},
		{"absolute", []it.Entry{it.File("/etc/shadow", 0o644, []byte("x"))}, "absolute entry name"},
		{"hardlink out", []it.Entry{it.Hardlink("shadow", "../../../etc/shadow")}, "hardlink target"},
		{"through symlink", []it.Entry{it.Symlink("evil", "../../../../etc"), it.File("evil/cron.d/x", 0o644, []byte("x"))}, `symlink "/evil" -> "../../../../etc" points outside the root`},
		{"nested symlink", []it.Entry{it.Dir("a/"), it.Symlink("a/up", ".."), it.Symlink("a/up2", "up/.."), it.File("a/up2/x", 0o644, nil)}, "points outside the root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ok := it.Layer(it.File("etc/hostname", 0o644, []byte("h\n")))
			if _, err := it.WriteOCILayout(dir, "", it.Config{}, ok, it.Layer(c.entries...)); err != nil {
				t.Fatal(err)
			}
			img, err := image.Open(dir)
			if err == nil {
				img.Close()
				t.Fatal("layer accepted")
			}
			var le *image.LayerError
			if !errors.As(err, &le) || !errors.Is(err, image.ErrEscape) {
				t.Fatalf("error %v is not a LayerError/ErrEscape", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "layer sha256:") {
				t.Errorf("error %q does not name the layer and %q", err, c.want)
			}
		})
	}
	// A symlink pointing out of the root is fine as long as nothing is
	// written through it (absolute targets resolve inside the root).
	dir := t.TempDir()
	if _, err := it.WriteOCILayout(dir, "", it.Config{}, it.Layer(it.Symlink("dangling", "../../../etc"), it.Symlink("abs", "/etc"), it.File("abs/x", 0o644, nil))); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(dir)
	if err != nil {
		t.Fatalf("harmless symlinks rejected: %v", err)
	}
	defer img.Close()
	if !img.Files.IsInImage("/etc/x") || img.Files.IsInImage("/dangling") {
		t.Error("symlink resolution")
	}
}

func TestRootFS(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin/app"), []byte("app"), 0o755)
	os.Symlink("/etc/shadow", filepath.Join(dir, "bin/evil")) // must not be followed on the host
	os.Symlink("app", filepath.Join(dir, "bin/sh"))
	img, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Source != image.SourceRootFS || !img.Files.IsInImage("/bin/sh") || img.Files.IsInImage("/bin/evil") {
		t.Errorf("rootfs index: source %s", img.Source)
	}
	n := 0
	err = img.ReadFiles(func(f *image.File) bool { return true }, func(f *image.File, r io.Reader) error {
		n++
		if _, ok := r.(io.ReaderAt); !ok {
			t.Error("rootfs reader is not an io.ReaderAt")
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Errorf("ReadFiles: %d files, %v", n, err)
	}
}

func TestIsInImageNoAlloc(t *testing.T) {
	dir := t.TempDir()
	if _, err := it.WriteOCILayout(dir, "", it.Config{}, it.Layer(it.File("usr/bin/app", 0o755, []byte("x")))); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if n := testing.AllocsPerRun(100, func() { img.Files.IsInImage("/usr/bin/app") }); n != 0 {
		t.Errorf("IsInImage allocates %v times", n)
	}
}
