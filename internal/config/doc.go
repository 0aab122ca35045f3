// Package config is Vigil's configuration: one YAML file
// (/etc/vigil/vigil.yaml by default) and its drop-ins (config.d/*.yaml
// beside it, in name order) decoded into a documented Config, then the
// VIGIL_* environment variables.
//
// DefaultConfig returns the defaults; Load reads the file and its drop-ins
// over them and applies the environment, key by key, reporting every
// problem of every source at once (Errors: file:line:col, the dotted key, a
// message without Go type names), unknown keys included; Set applies one
// "key=value" override (what command-line flags and VIGIL_* use, with keys
// equal to the YAML keys; a bad value changes nothing); Validate reports
// every problem at once, with the position of the offending key in the file
// that set it. DecodeYAML reads any other configuration file of Vigil (a
// struct with yaml tags: `vigil hub --config`) by the same decoder, with
// the same Errors, and Positions to place the problems found after. ParseDuration is the one duration syntax (Go's units and d
// for days) of the configuration and the command line. Markdown renders the
// reference documentation (docs/config.md) from the struct's doc tags and
// the defaults, so the documentation cannot drift from the code (a test
// checks it).
package config
