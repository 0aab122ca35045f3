package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/posture/finding"
)

// The exit statuses of every scanner (image scan|verify|sbom, k8s audit,
// compliance report, replay, policy validate, rules validate).
const (
	exitClean    = 0 // ran; nothing at or above --fail-on
	exitFailed   = 1 // could not run: bad flags, unreadable input, I/O
	exitFindings = 3 // ran; a finding at or above --fail-on
)

// failOnNone is the --fail-on value that never fails on findings.
const failOnNone = "none"

// reportFlags is the command-line contract every scanner shares:
// -f/--format (the first of formats is the default), -o/--output (a file
// written with mode 0600, never through a planted symlink; "-" or empty is
// standard output) and --fail-on SEVERITY (info, low, medium, high,
// critical or none), which turns findings at or above it into exit status 3.
type reportFlags struct {
	cmdName string
	formats []string
	format  string
	output  string
	failOn  string
	// sarifBase is --sarif-base, on commands with a sarif format: the
	// directory SARIF result URIs are relative to (default: the working
	// directory).
	sarifBase string
	// threshold is --fail-on parsed by check; fail is false for none.
	threshold finding.Severity
	fail      bool
}

// addReportFlags adds -f, -o and, unless failOnDefault is "" (a command
// without findings, like image sbom), --fail-on to cmd.
func addReportFlags(cmd *cobra.Command, failOnDefault string, formats ...string) *reportFlags {
	r := &reportFlags{cmdName: cmd.Name(), formats: formats}
	fl := cmd.Flags()
	fl.StringVarP(&r.format, "format", "f", formats[0], "output format: "+strings.Join(formats, ", "))
	fl.StringVarP(&r.output, "output", "o", "", "write to this file instead of standard output")
	if slices.Contains(formats, "sarif") {
		fl.StringVar(&r.sarifBase, "sarif-base", "", "with -f sarif: the directory result URIs are relative to, usually the repository's root (default: the working directory)")
	}
	if failOnDefault != "" {
		fl.StringVar(&r.failOn, "fail-on", failOnDefault,
			"exit 3 when a finding has this severity or higher: info, low, medium, high, critical, or none")
	}
	return r
}

// check validates -f and --fail-on; call it first, so that a bad flag is
// exit status 1 before any work.
func (r *reportFlags) check() error {
	if !slices.Contains(r.formats, r.format) {
		return fmt.Errorf("--format: unknown format %q (want %s)", r.format, strings.Join(r.formats, ", "))
	}
	r.fail = false
	if r.failOn != "" && !strings.EqualFold(r.failOn, failOnNone) {
		s, err := finding.ParseSeverity(r.failOn)
		if err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
		r.threshold, r.fail = s, true
	}
	return nil
}

// open returns the report's writer and the function that finishes it
// (commits the -o file, or discards it when err is not nil).
func (r *reportFlags) open(cmd *cobra.Command) (io.Writer, func(error) error, error) {
	return outputFile(cmd, r.output)
}

// verdict returns nil, or an error with exit status 3 when one of sevs is
// at or above --fail-on; what names the findings ("vulnerabilities").
func (r *reportFlags) verdict(what string, sevs ...finding.Severity) error {
	if !r.fail {
		return nil
	}
	n := 0
	for _, s := range sevs {
		if s >= r.threshold {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return withExitCode(exitFindings, fmt.Errorf("%s: %d %s at or above %s", r.cmdName, n, what, r.threshold))
}

// vulnSeverity maps a vulnerability or secret severity (CRITICAL, HIGH,
// MEDIUM, LOW, NONE, UNKNOWN; any case) to the one severity scale.
func vulnSeverity(s string) finding.Severity {
	switch strings.ToUpper(s) {
	case "CRITICAL":
		return finding.Critical
	case "HIGH":
		return finding.High
	case "MEDIUM":
		return finding.Medium
	case "LOW":
		return finding.Low
	}
	return finding.Info
}

// prioritySeverity maps a Falco priority to the one severity scale:
// Emergency, Alert and Critical are critical; Error high; Warning medium;
// Notice low; Informational and Debug info.
func prioritySeverity(p alert.Priority) finding.Severity {
	switch {
	case p.AtLeast(alert.PriorityCritical):
		return finding.Critical
	case p.AtLeast(alert.PriorityError):
		return finding.High
	case p.AtLeast(alert.PriorityWarning):
		return finding.Medium
	case p.AtLeast(alert.PriorityNotice):
		return finding.Low
	}
	return finding.Info
}
