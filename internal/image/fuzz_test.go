package image

import (
	"bytes"
	"errors"
	"testing"

	it "github.com/vigilsec/vigil/internal/image/imagetest"
)

// FuzzApplyLayer feeds arbitrary tar streams (seeded with hostile layers)
// to the layer applier: it must return an error or an index, never panic,
// and never index a path outside the root.
func FuzzApplyLayer(f *testing.F) {
	f.Add(it.Layer(it.File("../x", 0o644, nil)))
	f.Add(it.Layer(it.Symlink("a", "../../.."), it.File("a/b", 0o644, nil)))
	f.Add(it.Layer(it.Dir("d/"), it.Symlink("d/l", "/"), it.Hardlink("h", "d/l/../../etc"), it.File("d/.wh..wh..opq", 0, nil)))
	f.Add(it.Layer(it.Symlink("loop", "loop"), it.File("loop/x", 0o644, nil)))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, layer []byte) {
		x := newIndex()
		err := x.applyLayer(0, "sha256:fuzz", bytes.NewReader(layer))
		var le *LayerError
		if err != nil && errors.As(err, &le) && le.Layer != "sha256:fuzz" {
			t.Fatalf("layer error without the layer: %v", err)
		}
		for p := range x.files {
			if !isCleanRel(p) {
				t.Fatalf("indexed unclean path %q", p)
			}
		}
		x.IsInImage("/a/b/../../etc/passwd")
	})
}
