package image_test

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
)

func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// openBlobs writes an OCI layout with the given blobs and opens it.
func openBlobs(t *testing.T, blobs ...it.Blob) (*image.Image, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "img")
	if _, err := it.WriteOCILayoutBlobs(dir, "example.com/layers:1", it.Config{}, blobs...); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(dir)
	if err == nil {
		t.Cleanup(func() { img.Close() })
	}
	return img, err
}

// bigLayer has enough content that cutting its blob lands inside an entry.
func bigLayer() []byte {
	var body bytes.Buffer
	for i := 0; body.Len() < 200<<10; i++ {
		body.WriteString("line of text that is not very compressible ")
		body.WriteString(strings.Repeat(string(rune('a'+i%26)), i%97))
		body.WriteByte('\n')
	}
	return it.Layer(it.File("etc/hostname", 0o644, []byte("box\n")), it.File("usr/share/big.txt", 0o644, body.Bytes()))
}

// Item 4: zstd layers are read, and every layer's uncompressed content is
// checked against the config's diff_id.
func TestZstdLayersAndDiffIDs(t *testing.T) {
	base := it.Layer(it.File("etc/os-release", 0o644, []byte("ID=debian\n")))
	top := it.Layer(it.File("usr/bin/tool", 0o755, []byte("#!/bin/sh\n")))
	img, err := openBlobs(t, it.Blob{Tar: base},
		it.Blob{Tar: top, Data: zstdOf(t, top), MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/os-release", "usr/bin/tool"} {
		if _, ok := img.Files.Lookup(p); !ok {
			t.Errorf("%s missing", p)
		}
	}
	var got string
	err = img.ReadFiles(func(f *image.File) bool { return f.Path == "usr/bin/tool" }, func(f *image.File, r io.Reader) error {
		b, err := io.ReadAll(r)
		got = string(b)
		return err
	})
	if err != nil || got != "#!/bin/sh\n" {
		t.Errorf("read from the zstd layer: %q %v", got, err)
	}

	// A diff_id that does not match the uncompressed content (the blob
	// digest itself is right) is a digest mismatch naming the layer.
	wrong := "sha256:" + strings.Repeat("0", 64)
	for _, b := range []it.Blob{
		{Tar: top, DiffID: wrong},
		{Tar: top, Data: zstdOf(t, top), MediaType: "application/vnd.oci.image.layer.v1.tar+zstd", DiffID: wrong},
		{Tar: top, Data: top, MediaType: "application/vnd.oci.image.layer.v1.tar", DiffID: wrong},
	} {
		_, err := openBlobs(t, it.Blob{Tar: base}, b)
		if !errors.Is(err, image.ErrDigestMismatch) || !strings.Contains(err.Error(), "layer 1") || !strings.Contains(err.Error(), "diff_id is "+wrong) {
			t.Errorf("wrong diff_id (%s): %v", b.MediaType, err)
		}
	}
}

// Item 7: a truncated layer names its layer and says it is truncated; a
// layer labelled gzip that is not says so.
func TestTruncatedAndMislabelledLayers(t *testing.T) {
	base := it.Layer(it.File("etc/os-release", 0o644, []byte("ID=debian\n")))
	big := bigLayer()
	gz := it.Gzip(big)
	for _, tc := range []struct {
		name string
		blob it.Blob
		want []string
	}{
		{"gzip cut in the middle", it.Blob{Tar: big, Data: gz[:len(gz)/2]}, []string{"layer 1", "truncated"}},
		{"gzip cut in its header", it.Blob{Tar: big, Data: gz[:5]}, []string{"layer 1", "truncated"}},
		{"plain tar cut inside an entry", it.Blob{Tar: big, Data: big[:len(big)/2], MediaType: "application/vnd.oci.image.layer.v1.tar"}, []string{"layer 1", "truncated"}},
		{"zstd cut", it.Blob{Tar: big, Data: func() []byte { z := zstdOf(t, big); return z[:len(z)/2] }(), MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}, []string{"layer 1", "truncated"}},
		{"labelled gzip, is a plain tar", it.Blob{Tar: big, Data: big}, []string{"layer 1", "labelled application/vnd.oci.image.layer.v1.tar+gzip (gzip) but the blob is uncompressed data"}},
		{"labelled gzip, is zstd", it.Blob{Tar: big, Data: zstdOf(t, big)}, []string{"layer 1", "(gzip) but the blob is zstd data"}},
		{"labelled zstd, is gzip", it.Blob{Tar: big, MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}, []string{"layer 1", "(zstd) but the blob is gzip data"}},
	} {
		_, err := openBlobs(t, it.Blob{Tar: base}, tc.blob)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to contain %q", tc.name, err, w)
			}
		}
		if !errors.Is(err, image.ErrBadBlob) {
			t.Errorf("%s: %v does not match ErrBadBlob", tc.name, err)
		}
	}
}
