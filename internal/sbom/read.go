package sbom

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotSBOM is returned by Read for JSON that is neither CycloneDX nor SPDX.
var ErrNotSBOM = errors.New("not a CycloneDX or SPDX JSON document")

// Read parses a CycloneDX or SPDX JSON document (as written by this package
// or by other tools) back into an SBOM. Packages are rebuilt from purls.
func Read(r io.Reader) (*SBOM, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read SBOM: %w", err)
	}
	var probe struct {
		BOMFormat   string `json:"bomFormat"`
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("read SBOM: %w: %w", ErrNotSBOM, err)
	}
	switch {
	case probe.BOMFormat == "CycloneDX":
		return readCycloneDX(b)
	case strings.HasPrefix(probe.SPDXVersion, "SPDX-2"):
		return readSPDX(b)
	}
	return nil, fmt.Errorf("read SBOM: %w", ErrNotSBOM)
}

func readCycloneDX(b []byte) (*SBOM, error) {
	var bom cdxBOM
	if err := json.Unmarshal(b, &bom); err != nil {
		return nil, fmt.Errorf("read CycloneDX: %w", err)
	}
	s := &SBOM{Subject: Subject{Name: bom.Metadata.Component.Name, Source: "sbom", ManifestDigest: bom.Metadata.Component.Version}}
	for _, c := range bom.Components {
		if c.Type == "operating-system" {
			s.Distro = &Distro{ID: c.Name, VersionID: c.Version}
			continue
		}
		p, ok := fromPURL(c.PURL)
		if !ok {
			continue
		}
		if c.Name != "" {
			p.Name = c.Name
		}
		for _, l := range c.Licenses {
			switch {
			case l.Expression != "":
				p.Licenses = append(p.Licenses, l.Expression)
			case l.License != nil && l.License.ID != "":
				p.Licenses = append(p.Licenses, l.License.ID)
			case l.License != nil && l.License.Name != "":
				p.Licenses = append(p.Licenses, l.License.Name)
			}
		}
		var src struct{ epoch, version, release string }
		for _, pr := range c.Properties {
			switch pr.Name {
			case PropLayer:
				p.Layer = pr.Value
			case PropLocation:
				p.Location = pr.Value
			case PropEcosystem:
				p.Ecosystem = pr.Value
			case PropSource:
				n, v, _ := strings.Cut(pr.Value, " ")
				p.SourceName, p.SourceVersion = n, v
			case PropGOOS:
				p.OS = pr.Value
			case PropGOARCH:
				p.Arch = pr.Value
			// Trivy's SBOMs: the source package's name, and its version
			// split into epoch, version and release.
			case "aquasecurity:trivy:SrcName":
				p.SourceName = pr.Value
			case "aquasecurity:trivy:SrcVersion":
				src.version = pr.Value
			case "aquasecurity:trivy:SrcRelease":
				src.release = pr.Value
			case "aquasecurity:trivy:SrcEpoch":
				src.epoch = pr.Value
			}
		}
		if src.version != "" {
			p.SourceVersion = withEpoch(src.epoch, joinRelease(src.version, src.release))
		}
		s.Packages = append(s.Packages, p)
	}
	fillEcosystems(s)
	return s, nil
}

func readSPDX(b []byte) (*SBOM, error) {
	var doc spdxDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read SPDX: %w", err)
	}
	s := &SBOM{Subject: Subject{Name: doc.Name, Source: "sbom"}}
	for _, sp := range doc.Packages {
		if sp.PrimaryPackagePurpose == "OPERATING_SYSTEM" {
			s.Distro = &Distro{ID: sp.Name, VersionID: sp.VersionInfo, PrettyName: sp.Comment}
			continue
		}
		for _, ref := range sp.ExternalRefs {
			if ref.Type != "purl" {
				continue
			}
			p, ok := fromPURL(ref.Locator)
			if !ok {
				continue
			}
			if sp.Name != "" {
				p.Name = sp.Name
			}
			if sp.LicenseDeclared != "" && sp.LicenseDeclared != "NOASSERTION" && sp.LicenseDeclared != "NONE" {
				p.Licenses = []string{sp.LicenseDeclared}
			}
			// Vigil keeps the names as declared in a comment.
			if v, ok := strings.CutPrefix(sp.LicenseComments, "declared: "); ok {
				p.Licenses = strings.Split(v, "; ")
			}
			for _, note := range strings.Split(sp.Comment, "; ") {
				if v, ok := strings.CutPrefix(note, "layer: "); ok {
					p.Layer = v
				}
				if v, ok := strings.CutPrefix(note, "location: "); ok {
					p.Location = v
				}
			}
			s.Packages = append(s.Packages, p)
		}
	}
	fillEcosystems(s)
	return s, nil
}

// fromPURL rebuilds a package from its purl (deb/apk upstream qualifiers
// give the source package).
func fromPURL(s string) (Package, bool) {
	u, ok := ParsePURL(s)
	if !ok {
		return Package{}, false
	}
	p := Package{Type: u.Type, Name: u.Name, Version: withEpoch(u.Qualifiers["epoch"], u.Version), PURL: s, Arch: u.Qualifiers["arch"]}
	switch u.Type {
	case TypeGolang:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
	case TypeNPM:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
	case TypeDeb, TypeAPK:
		if up := u.Qualifiers["upstream"]; up != "" {
			n, v, _ := strings.Cut(up, "@")
			p.SourceName, p.SourceVersion = n, v
		}
	case TypeMaven:
		if u.Namespace != "" {
			p.Name = u.Namespace + ":" + u.Name
		}
	case TypeComposer:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
	case TypeRPM:
		if up := u.Qualifiers["upstream"]; up != "" {
			p.SourceName = up
		}
	case TypePyPI, TypeCargo, TypeGem:
	default:
		return Package{}, false
	}
	return p, true
}

// withEpoch puts a package epoch (the purl "epoch" qualifier, or Trivy's
// SrcEpoch property) in front of a Debian-style version that lacks one:
// without it, "1:2.3-4" would compare as "2.3-4" and every fix carrying the
// epoch would look missing. Epoch 0 is the default and is left out.
func withEpoch(epoch, version string) string {
	if epoch == "" || epoch == "0" || version == "" || strings.Contains(version, ":") {
		return version
	}
	return epoch + ":" + version
}

// joinRelease appends an RPM-style release to a version ("2.3" + "4").
func joinRelease(version, release string) string {
	if release == "" {
		return version
	}
	return version + "-" + release
}

// fillEcosystems derives missing OSV ecosystems from the purl's distro
// qualifier or the document's operating system.
func fillEcosystems(s *SBOM) {
	for i := range s.Packages {
		p := &s.Packages[i]
		if p.Ecosystem != "" {
			continue
		}
		d := s.Distro
		if u, ok := ParsePURL(p.PURL); ok {
			if dq := u.Qualifiers["distro"]; dq != "" {
				id, ver, _ := strings.Cut(dq, "-")
				d = &Distro{ID: id, VersionID: ver}
			} else if d == nil && u.Namespace != "" && (p.Type == TypeDeb || p.Type == TypeAPK) {
				d = &Distro{ID: u.Namespace}
			}
		}
		p.Ecosystem = Ecosystem(p.Type, d)
	}
	if s.Packages == nil {
		s.Packages = []Package{}
	}
}
