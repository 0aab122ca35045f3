package imagepolicy

import (
	"fmt"
	"regexp"
	"strings"
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

var (
	digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$`)
	tagRE    = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	pathRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
)

// ParseReference parses and normalises an image reference the way Docker
// does: "alpine" → docker.io/library/alpine, "index.docker.io/x/y" →
// docker.io/x/y.
func ParseReference(s string) (Reference, error) {
	var r Reference
	rest := strings.TrimSpace(s)
	if rest == "" {
		return r, fmt.Errorf("image reference %q: empty", s)
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
		if !digestRE.MatchString(r.Digest) {
			return r, fmt.Errorf("image reference %q: invalid digest %q", s, r.Digest)
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "/") {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE.MatchString(r.Tag) {
			return r, fmt.Errorf("image reference %q: invalid tag %q", s, r.Tag)
		}
	}
	first, remainder, hasSlash := strings.Cut(rest, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.Registry, r.Repository = strings.ToLower(first), remainder
	} else {
		r.Registry, r.Repository = "docker.io", rest
	}
	if r.Registry == "index.docker.io" || r.Registry == "registry-1.docker.io" {
		r.Registry = "docker.io"
	}
	if r.Registry == "docker.io" && !strings.Contains(r.Repository, "/") {
		r.Repository = "library/" + r.Repository
	}
	if !pathRE.MatchString(r.Repository) {
		return r, fmt.Errorf("image reference %q: invalid repository %q", s, r.Repository)
	}
	return r, nil
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
