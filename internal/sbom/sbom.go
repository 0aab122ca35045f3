package sbom

import (
	"sort"
	"strings"

	"github.com/package-url/packageurl-go"
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
	Arch          string   `json:"arch,omitempty"`          // dpkg/apk architecture; GOARCH of a Go binary
	OS            string   `json:"os,omitempty"`            // GOOS of a Go binary
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
	case TypeCargo:
		return "crates.io"
	case TypeComposer:
		return "Packagist"
	case TypeGem:
		return "RubyGems"
	case TypeMaven:
		return "Maven"
	case TypeRPM:
		if d == nil {
			return ""
		}
		switch d.ID {
		case "rhel":
			return "Red Hat"
		case "rocky":
			return "Rocky Linux"
		case "almalinux":
			return "AlmaLinux"
		case "opensuse-leap", "opensuse-tumbleweed", "opensuse":
			return "openSUSE"
		case "sles", "sled":
			return "SUSE"
		case "mariner", "azurelinux":
			return "Azure Linux"
		}
		return ""
	}
	return ""
}

// PURL builds a package URL with github.com/package-url/packageurl-go.
// namespace may contain "/" separators. Qualifiers are sorted by key and
// empty ones dropped.
func PURL(typ, namespace, name, version string, qualifiers ...[2]string) string {
	sort.Slice(qualifiers, func(i, j int) bool { return qualifiers[i][0] < qualifiers[j][0] })
	var qs packageurl.Qualifiers
	for _, q := range qualifiers {
		if q[1] != "" {
			qs = append(qs, packageurl.Qualifier{Key: q[0], Value: q[1]})
		}
	}
	return packageurl.NewPackageURL(typ, namespace, name, version, qs, "").ToString()
}

// PyPIPURLName is a Python project's name as the purl specification writes
// it: lower case, "_" replaced by "-", dots kept ("ruamel.yaml"). Matching
// against advisories uses NormalizePyPI (PEP 503) instead.
func PyPIPURLName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// ParsedPURL is a decoded package URL.
type ParsedPURL struct {
	Type, Namespace, Name, Version string
	Qualifiers                     map[string]string
}

// ParsePURL decodes a package URL with packageurl-go.
func ParsePURL(s string) (ParsedPURL, bool) {
	u, err := packageurl.FromString(s)
	if err != nil || u.Name == "" {
		return ParsedPURL{}, false
	}
	return ParsedPURL{Type: u.Type, Namespace: u.Namespace, Name: u.Name, Version: u.Version, Qualifiers: u.Qualifiers.Map()}, true
}
