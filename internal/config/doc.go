// Package config is Vigil's configuration: one YAML file
// (/etc/vigil/vigil.yaml by default) decoded into a documented Config.
//
// DefaultConfig returns the defaults; Load reads a file over them, rejecting
// unknown keys with file:line:col; Set applies one "key=value" override (what
// command-line flags use, with keys equal to the YAML keys); Validate reports
// every problem at once, with the position of the offending key when the
// value came from the file. Markdown renders the reference documentation
// (docs/config.md) from the struct's doc tags and the defaults, so the
// documentation cannot drift from the code (a test checks it).
package config
