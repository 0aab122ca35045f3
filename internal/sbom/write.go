package sbom

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// WriteOptions tunes the writers. Nil means defaults.
type WriteOptions struct {
	ToolVersion string           // vigil version recorded as the creating tool
	Now         func() time.Time // clock (tests)
	UUID        string           // serial number / namespace suffix (tests); random when empty
}

func (o *WriteOptions) defaults() WriteOptions {
	var w WriteOptions
	if o != nil {
		w = *o
	}
	if w.ToolVersion == "" {
		w.ToolVersion = "dev"
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.UUID == "" {
		var b [16]byte
		rand.Read(b[:])
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		w.UUID = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	return w
}

// Property names Vigil adds to CycloneDX components.
const (
	PropLayer     = "vigil:layer"
	PropLocation  = "vigil:location"
	PropSource    = "vigil:source"
	PropEcosystem = "vigil:ecosystem"
	PropGOOS      = "vigil:goos"   // GOOS a Go binary was built for
	PropGOARCH    = "vigil:goarch" // GOARCH a Go binary was built for
)

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// cdxLicense is one entry of a CycloneDX licenses array: a licence by SPDX
// id or by name, or an SPDX expression.
type cdxLicense struct {
	License    *cdxLicenseID `json:"license,omitempty"`
	Expression string        `json:"expression,omitempty"`
}

type cdxLicenseID struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// cdxLicenses writes declared licences: license.id only for a real SPDX
// licence list id, license.name for a single licence without one, else one
// SPDX expression (LicenseRef- for names without ids).
func cdxLicenses(names []string) []cdxLicense {
	l, ok := NormalizeLicenses(names)
	switch {
	case !ok:
		return nil
	case l.ID != "":
		return []cdxLicense{{License: &cdxLicenseID{ID: l.ID}}}
	case !strings.Contains(l.Expression, " ") && l.Refs[l.Expression] != "":
		return []cdxLicense{{License: &cdxLicenseID{Name: l.Refs[l.Expression]}}}
	}
	return []cdxLicense{{Expression: l.Expression}}
}

type cdxComponent struct {
	BOMRef     string        `json:"bom-ref,omitempty"`
	Type       string        `json:"type"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	PURL       string        `json:"purl,omitempty"`
	Licenses   []cdxLicense  `json:"licenses,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxBOM struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Version      int    `json:"version"`
	Metadata     struct {
		Timestamp string `json:"timestamp"`
		Tools     struct {
			Components []cdxComponent `json:"components"`
		} `json:"tools"`
		Component cdxComponent `json:"component"`
	} `json:"metadata"`
	Components   []cdxComponent `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies,omitempty"`
}

// WriteCycloneDX writes s as CycloneDX 1.6 JSON.
func WriteCycloneDX(w io.Writer, s *SBOM, opts *WriteOptions) error {
	o := opts.defaults()
	var bom cdxBOM
	bom.BOMFormat, bom.SpecVersion, bom.Version = "CycloneDX", "1.6", 1
	bom.SerialNumber = "urn:uuid:" + o.UUID
	bom.Metadata.Timestamp = o.Now().UTC().Format(time.RFC3339)
	bom.Metadata.Tools.Components = []cdxComponent{{Type: "application", Name: "vigil", Version: o.ToolVersion}}
	subject := cdxComponent{BOMRef: "subject", Type: "container", Name: s.Subject.Name, Version: s.Subject.ManifestDigest}
	if s.Subject.Source == "rootfs" {
		subject.Type = "file"
	}
	bom.Metadata.Component = subject
	refs := map[string]int{}
	uniq := func(ref string) string {
		refs[ref]++
		if n := refs[ref]; n > 1 {
			return ref + "#" + strconv.Itoa(n)
		}
		return ref
	}
	var deps []string
	bom.Components = []cdxComponent{}
	if d := s.Distro; d != nil && d.ID != "" {
		c := cdxComponent{BOMRef: uniq("os:" + d.ID), Type: "operating-system", Name: d.ID, Version: d.VersionID}
		if d.PrettyName != "" {
			c.Properties = append(c.Properties, cdxProperty{"vigil:pretty-name", d.PrettyName})
		}
		bom.Components = append(bom.Components, c)
		deps = append(deps, c.BOMRef)
	}
	for _, p := range s.Packages {
		c := cdxComponent{BOMRef: uniq(p.PURL), Type: "library", Name: p.Name, Version: p.Version, PURL: p.PURL}
		if p.Type == TypeGolang && p.Name != "stdlib" && p.Location != "" {
			c.Type = "library"
		}
		c.Licenses = cdxLicenses(p.Licenses)
		add := func(k, v string) {
			if v != "" {
				c.Properties = append(c.Properties, cdxProperty{k, v})
			}
		}
		add(PropLayer, p.Layer)
		add(PropLocation, p.Location)
		if p.SourceName != "" {
			add(PropSource, p.SourceName+" "+p.SourceVersion)
		}
		add(PropEcosystem, p.Ecosystem)
		if p.Type == TypeGolang {
			add(PropGOOS, p.OS)
			add(PropGOARCH, p.Arch)
		}
		bom.Components = append(bom.Components, c)
		deps = append(deps, c.BOMRef)
	}
	bom.Dependencies = append(bom.Dependencies, struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	}{"subject", deps})
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&bom); err != nil {
		return fmt.Errorf("write CycloneDX: %w", err)
	}
	return nil
}

type spdxPackage struct {
	Name                  string            `json:"name"`
	SPDXID                string            `json:"SPDXID"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	LicenseConcluded      string            `json:"licenseConcluded"`
	LicenseDeclared       string            `json:"licenseDeclared"`
	LicenseComments       string            `json:"licenseComments,omitempty"`
	CopyrightText         string            `json:"copyrightText"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	Comment               string            `json:"comment,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

type spdxDoc struct {
	SPDXVersion       string `json:"spdxVersion"`
	DataLicense       string `json:"dataLicense"`
	SPDXID            string `json:"SPDXID"`
	Name              string `json:"name"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	DocumentDescribes []string           `json:"documentDescribes"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
	// ExtractedLicenses defines every LicenseRef- the packages use.
	ExtractedLicenses []spdxExtractedLicense `json:"hasExtractedLicensingInfos,omitempty"`
}

type spdxExtractedLicense struct {
	LicenseID     string `json:"licenseId"`
	ExtractedText string `json:"extractedText"`
	Name          string `json:"name,omitempty"`
	Comment       string `json:"comment,omitempty"`
}

var spdxIDBad = regexp.MustCompile(`[^A-Za-z0-9.\-]+`)

// WriteSPDX writes s as SPDX 2.3 JSON.
func WriteSPDX(w io.Writer, s *SBOM, opts *WriteOptions) error {
	o := opts.defaults()
	var doc spdxDoc
	doc.SPDXVersion, doc.DataLicense, doc.SPDXID = "SPDX-2.3", "CC0-1.0", "SPDXRef-DOCUMENT"
	doc.Name = s.Subject.Name
	doc.DocumentNamespace = "https://vigil.dev/spdxdocs/" + spdxIDBad.ReplaceAllString(s.Subject.Name, "-") + "-" + o.UUID
	doc.CreationInfo.Created = o.Now().UTC().Format(time.RFC3339)
	doc.CreationInfo.Creators = []string{"Tool: vigil-" + o.ToolVersion}
	subject := spdxPackage{Name: s.Subject.Name, SPDXID: "SPDXRef-Subject", VersionInfo: s.Subject.ManifestDigest,
		DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION",
		CopyrightText: "NOASSERTION", PrimaryPackagePurpose: "CONTAINER"}
	if s.Subject.Source == "rootfs" {
		subject.PrimaryPackagePurpose = "FILE"
	}
	doc.Packages = append(doc.Packages, subject)
	doc.DocumentDescribes = []string{subject.SPDXID}
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", subject.SPDXID})
	if d := s.Distro; d != nil && d.ID != "" {
		p := spdxPackage{Name: d.ID, SPDXID: "SPDXRef-OS", VersionInfo: d.VersionID, DownloadLocation: "NOASSERTION",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
			PrimaryPackagePurpose: "OPERATING_SYSTEM", Comment: d.PrettyName}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{subject.SPDXID, "CONTAINS", p.SPDXID})
	}
	refs := map[string]bool{}
	for i, pk := range s.Packages {
		p := spdxPackage{
			Name: pk.Name, SPDXID: fmt.Sprintf("SPDXRef-Package-%s-%d", spdxIDBad.ReplaceAllString(pk.Type+"-"+pk.Name, "-"), i+1),
			VersionInfo: pk.Version, DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION",
			LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION", PrimaryPackagePurpose: "LIBRARY",
			ExternalRefs: []spdxExternalRef{{"PACKAGE-MANAGER", "purl", pk.PURL}},
		}
		if lic, ok := NormalizeLicenses(pk.Licenses); ok {
			p.LicenseDeclared = lic.Expression
			p.LicenseComments = "declared: " + strings.Join(pk.Licenses, "; ")
			for _, r := range lic.sortedRefs() {
				if !refs[r] {
					refs[r] = true
					doc.ExtractedLicenses = append(doc.ExtractedLicenses, spdxExtractedLicense{LicenseID: r,
						ExtractedText: lic.Refs[r], Name: lic.Refs[r], Comment: "licence name as declared by the package; no SPDX licence list id"})
				}
			}
		}
		if pk.SourceName != "" {
			p.SourceInfo = "built from source package " + pk.SourceName + " " + pk.SourceVersion
		}
		var notes []string
		if pk.Layer != "" {
			notes = append(notes, "layer: "+pk.Layer)
		}
		if pk.Location != "" {
			notes = append(notes, "location: "+pk.Location)
		}
		p.Comment = strings.Join(notes, "; ")
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{subject.SPDXID, "CONTAINS", p.SPDXID})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("write SPDX: %w", err)
	}
	return nil
}
