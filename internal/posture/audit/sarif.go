package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/vigilsec/vigil/internal/posture/finding"
)

// SARIFOptions configures WriteSARIF.
type SARIFOptions struct {
	// Base is the directory result URIs are relative to (--sarif-base,
	// usually the repository's root); empty means the working directory.
	// A file outside it is written as an absolute file:// URI.
	Base string
	// ToolVersion is tool.driver.version.
	ToolVersion string
}

// sarifBaseID names Base in originalUriBaseIds and in each result's
// artifactLocation.uriBaseId (GitHub and the SARIF spec's examples use it).
const sarifBaseID = "SRCROOT"

// checkHelpURI is where each check is documented (helpUri).
const checkHelpURI = "https://github.com/vigilsec/vigil/blob/main/docs/posture.md#check-reference"

// fingerprintKey names Vigil's partialFingerprints entry: a hash of the
// check, the object and the field, so an alert keeps its identity when
// lines move and GitHub does not open it again.
const fingerprintKey = "vigilFinding/v1"

// SARIF 2.1.0 subset.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                   `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult               `json:"results"`
	Invocations        []sarifInvocation           `json:"invocations,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string    `json:"level"`
	Message sarifText `json:"message"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	HelpURI              string         `json:"helpUri"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration map[string]any `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifArtifactLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
	Region           *sarifRegion     `json:"region,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

func sarifLevel(s finding.Severity) string {
	switch {
	case s >= finding.High:
		return "error"
	case s == finding.Medium:
		return "warning"
	}
	return "note"
}

var securitySeverity = map[finding.Severity]string{finding.Critical: "9.5", finding.High: "8.0", finding.Medium: "5.5", finding.Low: "3.0", finding.Info: "0.0"}

// escapePath percent-encodes each segment of a slash-separated path for a
// URI (spaces, '#', '?', '%', ':' and non-ASCII are encoded; '/' is kept).
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
	}
	return strings.Join(segs, "/")
}

// fileURI is the file:// URI of an absolute path; dir adds the trailing "/"
// a base URI needs.
func fileURI(abs string, dir bool) string {
	u := "file://" + escapePath(filepath.ToSlash(abs))
	if dir && !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// artifact returns the location of file: relative to base (an absolute
// directory) with uriBaseId, or an absolute file URI when file is outside.
func artifact(base, file string) sarifArtifactLoc {
	abs, err := filepath.Abs(file)
	if err != nil {
		return sarifArtifactLoc{URI: escapePath(filepath.ToSlash(file))}
	}
	rel, err := filepath.Rel(base, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return sarifArtifactLoc{URI: fileURI(abs, false)}
	}
	return sarifArtifactLoc{URI: escapePath(filepath.ToSlash(rel)), URIBaseID: sarifBaseID}
}

// WriteSARIF writes the report as a SARIF 2.1.0 log that GitHub code
// scanning accepts: every check as a rule (descriptions, help link,
// security-severity), each finding as a result with its file (relative to
// opts.Base) and line, a line-independent partial fingerprint, and load
// errors as tool execution notifications.
func (r *Report) WriteSARIF(w io.Writer, opts SARIFOptions) error {
	base := opts.Base
	if base == "" {
		base = "."
	}
	base, err := filepath.Abs(base)
	if err != nil {
		return fmt.Errorf("sarif base: %w", err)
	}
	cat := Catalog()
	idx := map[string]int{}
	driver := sarifDriver{Name: "vigil", Version: opts.ToolVersion, InformationURI: "https://github.com/vigilsec/vigil"}
	for i, c := range cat {
		idx[c.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID: c.ID, Name: camel(c.Title), ShortDescription: sarifText{Text: c.Title},
			FullDescription:      sarifText{Text: c.Title + ". Fix: " + c.Fix},
			HelpURI:              checkHelpURI,
			Help:                 sarifText{Text: c.Fix, Markdown: "**" + c.ID + "** " + c.Title + "\n\nFix: " + c.Fix},
			DefaultConfiguration: map[string]any{"level": sarifLevel(c.Severity)},
			Properties:           map[string]any{"security-severity": securitySeverity[c.Severity], "tags": []string{"security", "kubernetes"}},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{},
		OriginalURIBaseIDs: map[string]sarifArtifactLoc{sarifBaseID: {URI: fileURI(base, true)}}}
	for _, f := range r.Findings {
		fqn := strings.TrimSuffix(f.Object.String()+"."+f.Field, ".")
		loc := sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: fqn, Kind: "object"}}}
		if f.File != "" && !strings.HasPrefix(f.File, "<") {
			p := &sarifPhysical{ArtifactLocation: artifact(base, f.File)}
			if f.Line > 0 {
				p.Region = &sarifRegion{StartLine: f.Line}
			}
			loc.PhysicalLocation = p
		}
		props := map[string]any{"object": f.Object, "severity": f.Severity.String()}
		if f.Field != "" {
			props["field"] = f.Field
		}
		if len(f.Controls) > 0 {
			props["controls"] = f.Controls
		}
		sum := sha256.Sum256([]byte(f.CheckID + "\x00" + fqn))
		run.Results = append(run.Results, sarifResult{RuleID: f.CheckID, RuleIndex: idx[f.CheckID], Level: sarifLevel(f.Severity),
			Message: sarifText{Text: f.Message + ". Fix: " + f.Fix}, Locations: []sarifLocation{loc},
			PartialFingerprints: map[string]string{fingerprintKey: hex.EncodeToString(sum[:16])}, Properties: props})
	}
	inv := sarifInvocation{ExecutionSuccessful: true}
	for _, e := range r.Errors {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "error", Message: sarifText{Text: e}})
	}
	run.Invocations = []sarifInvocation{inv}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("write sarif: %w", err)
	}
	return nil
}
