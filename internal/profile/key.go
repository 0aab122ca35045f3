package profile

import (
	"fmt"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// KeyBy says what a workload is: "image" (the container's image
// repository, the default) or "label:NAME" (the value of the pod label, or
// else container label, NAME; containers without it are keyed by image).
type KeyBy string

// KeyImage keys workloads by image repository.
const KeyImage KeyBy = "image"

// ParseKeyBy checks a key setting ("" is KeyImage).
func ParseKeyBy(s string) (KeyBy, error) {
	switch {
	case s == "" || s == string(KeyImage):
		return KeyImage, nil
	case strings.HasPrefix(s, "label:") && len(s) > len("label:"):
		return KeyBy(s), nil
	}
	return "", fmt.Errorf("profile key %q: want image or label:NAME (e.g. label:app)", s)
}

// Of returns the workload key of a container: "image:REPOSITORY" or
// "label:NAME=VALUE". ok is false for the host and for containers whose
// metadata is not known (no image yet).
func (k KeyBy) Of(c *event.Container) (key string, ok bool) {
	if c == nil || c.ID == "" || c.ID == "host" || !c.MetadataKnown {
		return "", false
	}
	if name, isLabel := strings.CutPrefix(string(k), "label:"); isLabel {
		if v, ok := c.PodLabels[name]; ok && v != "" {
			return "label:" + name + "=" + v, true
		}
		if v, ok := c.Labels[name]; ok && v != "" {
			return "label:" + name + "=" + v, true
		}
	}
	repo := c.Repository
	if repo == "" {
		repo = imageRepository(c.Image)
	}
	if repo == "" {
		return "", false
	}
	return "image:" + repo, true
}

// imageRepository is ref without its digest and tag.
func imageRepository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}
