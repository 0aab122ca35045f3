package sbom

import (
	"net/url"
	"sort"
	"strings"
)

// Package types (purl types).
const (
	TypeDeb    = "deb"
	TypeAPK    = "apk"
	TypeGolang = "golang"
	TypeNPM    = "npm"
	TypePyPI   = "pypi"
)

// Package is one software package found in an image.
type Package struct {
	Type          string   `json:"type"`
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	SourceName    string   `json:"sourceName,omitempty"`    // dpkg Source:, apk origin
	SourceVersion string   `json:"sourceVersion,omitempty"` // dpkg "Source: name (version)"
	Arch          string   `json:"arch,omitempty"`
	Licenses      []string `json:"licenses,omitempty"`
	PURL          string   `json:"purl"`
	Ecosystem     string   `json:"ecosystem,omitempty"` // OSV ecosystem, e.g. "Debian:12"
	Layer         string   `json:"layer,omitempty"`     // digest of the layer it came from
	Location      string   `json:"location,omitempty"`  // file that declared it
}

// Distro is the distribution from os-release.
type Distro struct {
	ID         string `json:"id"`
	VersionID  string `json:"versionID,omitempty"`
	Codename   string `json:"codename,omitempty"`
	PrettyName string `json:"prettyName,omitempty"`
}

// Subject describes what the SBOM is of.
type Subject struct {
	Name           string `json:"name"`   // image reference or path
	Source         string `json:"source"` // image.Source* kind
	ManifestDigest string `json:"manifestDigest,omitempty"`
}

// SBOM is the inventory of one image.
type SBOM struct {
	Subject  Subject   `json:"subject"`
	Distro   *Distro   `json:"distro,omitempty"`
	Packages []Package `json:"packages"`
}

// sortPackages orders packages by type, name, version and location.
func sortPackages(ps []Package) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Location < b.Location
	})
}

// Ecosystem returns the OSV ecosystem of a package type in distro d.
func Ecosystem(typ string, d *Distro) string {
	switch typ {
	case TypeDeb:
		if d == nil {
			return "Debian"
		}
		switch d.ID {
		case "ubuntu":
			return "Ubuntu:" + d.VersionID
		default:
			if d.VersionID == "" {
				return "Debian"
			}
			major, _, _ := strings.Cut(d.VersionID, ".")
			return "Debian:" + major
		}
	case TypeAPK:
		if d == nil || d.VersionID == "" {
			return "Alpine"
		}
		parts := strings.SplitN(d.VersionID, ".", 3)
		if len(parts) >= 2 {
			return "Alpine:v" + parts[0] + "." + parts[1]
		}
		return "Alpine:v" + d.VersionID
	case TypeGolang:
		return "Go"
	case TypeNPM:
		return "npm"
	case TypePyPI:
		return "PyPI"
	}
	return ""
}

// purlEscape percent-encodes a purl component, keeping unreserved
// characters.
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		const hexd = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// PURL builds a package URL. namespace may contain "/" separators; each
// segment is escaped. Qualifiers are sorted by key and empty ones dropped.
func PURL(typ, namespace, name, version string, qualifiers ...[2]string) string {
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(typ)
	b.WriteByte('/')
	if namespace != "" {
		for _, seg := range strings.Split(namespace, "/") {
			b.WriteString(purlEscape(seg))
			b.WriteByte('/')
		}
	}
	b.WriteString(purlEscape(name))
	if version != "" {
		b.WriteByte('@')
		b.WriteString(purlEscape(version))
	}
	sort.Slice(qualifiers, func(i, j int) bool { return qualifiers[i][0] < qualifiers[j][0] })
	sep := byte('?')
	for _, q := range qualifiers {
		if q[1] == "" {
			continue
		}
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(q[0])
		b.WriteByte('=')
		b.WriteString(purlEscape(q[1]))
	}
	return b.String()
}

// ParsedPURL is a decoded package URL.
type ParsedPURL struct {
	Type, Namespace, Name, Version string
	Qualifiers                     map[string]string
}

// ParsePURL decodes a package URL.
func ParsePURL(s string) (ParsedPURL, bool) {
	rest, ok := strings.CutPrefix(s, "pkg:")
	if !ok {
		return ParsedPURL{}, false
	}
	var p ParsedPURL
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		p.Qualifiers = map[string]string{}
		for _, kv := range strings.Split(rest[i+1:], "&") {
			k, v, _ := strings.Cut(kv, "=")
			if uv, err := url.PathUnescape(v); err == nil {
				v = uv
			}
			p.Qualifiers[strings.ToLower(k)] = v
		}
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		p.Version, _ = url.PathUnescape(rest[i+1:])
		rest = rest[:i]
	}
	typ, path, ok := strings.Cut(strings.Trim(rest, "/"), "/")
	if !ok || typ == "" || path == "" {
		return ParsedPURL{}, false
	}
	p.Type = strings.ToLower(typ)
	segs := strings.Split(path, "/")
	for i, sg := range segs {
		if u, err := url.PathUnescape(sg); err == nil {
			segs[i] = u
		}
	}
	p.Name = segs[len(segs)-1]
	p.Namespace = strings.Join(segs[:len(segs)-1], "/")
	return p, true
}
