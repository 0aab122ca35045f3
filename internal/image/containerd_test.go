package image_test

import (
	"context"
	"slices"
	"testing"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/image"
)

// TestContainerd reads an image from a real containerd content store by
// name, lists a running container, and checks drift lookups through the
// Scanner (needs root and containerd: gated by containertest/testkernel).
func TestContainerd(t *testing.T) {
	env := containertest.New(t)
	ctx := context.Background()
	opts := &image.ContainerdOptions{Namespace: env.Namespace}
	img, err := image.OpenContainerd(ctx, env.ImageName, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Source != image.SourceContainerd || img.ManifestDigest != env.ImageDigest || img.Ref() != env.ImageName {
		t.Errorf("source %s digest %s (want %s) ref %s", img.Source, img.ManifestDigest, env.ImageDigest, img.Ref())
	}
	if !img.Files.IsInImage("/bin/busybox") || !img.Files.IsInImage("/bin/sh") || img.Files.IsInImage("/tmp/dropped") {
		t.Error("file index of the containerd image is wrong")
	}
	// The same through Open("containerd://…") is namespace "default": not there.
	if _, err := image.Open("containerd://" + env.ImageName + "-missing"); err == nil {
		t.Error("missing image opened")
	}

	c := env.Run(t, containertest.Spec{})
	s := image.NewScanner(opts)
	defer s.Close()
	running, err := s.Running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(running, func(r image.RunningContainer) bool { return r.ID == c.ID })
	if i < 0 {
		t.Fatalf("container %s not listed among %d running containers", c.ID, len(running))
	}
	if r := running[i]; r.Image != env.ImageName || r.Namespace != env.Namespace || r.PID == 0 {
		t.Errorf("running container: %+v", r)
	}
	x, err := s.FileIndex(ctx, env.Namespace, env.ImageName)
	if err != nil {
		t.Fatal(err)
	}
	if !x.IsInImage("/bin/busybox") || x.IsInImage("/tmp/evil") {
		t.Error("drift index wrong")
	}
	if y, _ := s.FileIndex(ctx, env.Namespace, env.ImageName); y != x {
		t.Error("file index not cached")
	}
}
