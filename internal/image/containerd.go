package image

import (
	"errors"
	"fmt"
)

// ContainerdOptions selects the containerd instance. Nil means defaults.
type ContainerdOptions struct {
	Address   string // default /run/containerd/containerd.sock
	Namespace string // default "default"
}

// OpenContainerd opens the image NAME from containerd's content store.
func OpenContainerd(name string, opts *ContainerdOptions) (*Image, error) {
	return nil, fmt.Errorf("open containerd image %s: %w", name, errors.ErrUnsupported)
}
