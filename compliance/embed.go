// Package compliancedata embeds Vigil's compliance mapping files: one YAML
// file per framework mapping Vigil check ids, rule tags (MITRE ATT&CK ids)
// and enforcement capabilities to the framework's controls. Control titles
// are Vigil's own short wording, not the standards' text. Package
// internal/compliance loads them.
package compliancedata

import "embed"

// Files holds the *.yaml mapping files.
//
//go:embed *.yaml
var Files embed.FS
