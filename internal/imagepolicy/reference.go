package imagepolicy

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// Reference is a parsed, normalised image reference.
type Reference struct {
	Registry   string // "docker.io", "gcr.io", "localhost:5000"
	Repository string // "library/alpine"
	Tag        string // "" when absent
	Digest     string // "sha256:…" when pinned
}

// Name returns registry/repository.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// String returns the full normalised reference.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// ParseReference parses and normalises an image reference with
// github.com/distribution/reference, the parser registries and Docker use:
// "alpine" → docker.io/library/alpine, "index.docker.io/x/y" →
// docker.io/x/y. A digest must be well-formed for its algorithm (64 hex
// digits for sha256, 128 for sha512); anything else is an error.
func ParseReference(s string) (Reference, error) {
	var r Reference
	in := strings.TrimSpace(s)
	if in == "" {
		return r, fmt.Errorf("image reference %q: empty", s)
	}
	named, err := reference.ParseNormalizedNamed(in)
	if err != nil {
		return r, fmt.Errorf("image reference %q: %w", s, err)
	}
	r.Registry, r.Repository = reference.Domain(named), reference.Path(named)
	if r.Registry == "index.docker.io" || r.Registry == "registry-1.docker.io" {
		r.Registry = "docker.io"
	}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		if err := d.Digest().Validate(); err != nil {
			return r, fmt.Errorf("image reference %q: digest %q: %w", s, d.Digest(), err)
		}
		r.Digest = d.Digest().String()
	}
	return r, nil
}

// Pinned reports whether image is a valid reference pinned by a
// well-formed digest (sha256 or sha512); a malformed digest is no pin.
func Pinned(image string) bool {
	r, err := ParseReference(image)
	return err == nil && r.Digest != ""
}

// registryAllowed reports whether name (registry/repository) is under one
// of the allowed prefixes, matching whole path components only.
func registryAllowed(name string, allowed []string) (string, bool) {
	for _, a := range allowed {
		a = normalizePrefix(a)
		if name == a || strings.HasPrefix(name, a+"/") {
			return a, true
		}
	}
	return "", false
}

func normalizePrefix(a string) string {
	a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), "/")
	for _, hub := range []string{"index.docker.io", "registry-1.docker.io"} {
		if a == hub || strings.HasPrefix(a, hub+"/") {
			a = "docker.io" + a[len(hub):]
		}
	}
	return a
}
