package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/leaks"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/posture/netpol"
	"github.com/vigilsec/vigil/internal/posture/rbac"
	"github.com/vigilsec/vigil/internal/posture/workload"
	"github.com/vigilsec/vigil/internal/secrets"
	"github.com/vigilsec/vigil/internal/termtext"
)

// ControlMapper gives the compliance controls a check id maps to, as
// "FRAMEWORK:CONTROL" strings. internal/compliance implements it.
type ControlMapper interface {
	Controls(checkID string) []string
}

// Options configures Run. A nil *Options means defaults.
type Options struct {
	Workload workload.Options
	// Mapper, when set, fills Finding.Controls.
	Mapper ControlMapper
	// Secrets scans manifest values for secrets (VGL-SEC-001); nil means
	// the built-in rules.
	Secrets *secrets.Scanner
}

// Report is the result of an audit.
type Report struct {
	Findings []finding.Finding `json:"findings"`
	Objects  int               `json:"objects"`
	Notes    []string          `json:"notes,omitempty"`
	Errors   []string          `json:"errors,omitempty"`
	Summary  map[string]int    `json:"summary"`
}

// Catalog lists every posture check, sorted by id.
func Catalog() []finding.Check {
	var out []finding.Check
	out = append(out, rbac.Checks...)
	out = append(out, workload.Checks...)
	out = append(out, netpol.Checks...)
	out = append(out, leaks.Checks...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Run audits an inventory with every check.
func Run(inv *manifest.Inventory, opts *Options) *Report {
	if opts == nil {
		opts = &Options{}
	}
	r := &Report{Objects: len(inv.Objects), Summary: map[string]int{}}
	inv.IndexLines()
	r.Findings = append(r.Findings, rbac.Audit(inv)...)
	r.Findings = append(r.Findings, workload.Audit(inv, &opts.Workload)...)
	r.Findings = append(r.Findings, netpol.Audit(inv)...)
	r.Findings = append(r.Findings, leaks.Audit(inv, opts.Secrets)...)
	finding.Sort(r.Findings)
	for i := range r.Findings {
		if opts.Mapper != nil {
			r.Findings[i].Controls = opts.Mapper.Controls(r.Findings[i].CheckID)
		}
		r.Summary[r.Findings[i].Severity.String()]++
	}
	for _, n := range inv.Notes {
		r.Notes = append(r.Notes, n.String())
	}
	for _, n := range rbac.New(inv).Notes {
		r.Notes = append(r.Notes, n)
	}
	for _, e := range inv.Errors {
		r.Errors = append(r.Errors, e.Error())
	}
	return r
}

// AtLeast reports whether any finding has severity s or higher.
func (r *Report) AtLeast(s finding.Severity) bool {
	for _, f := range r.Findings {
		if f.Severity >= s {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write audit json: %w", err)
	}
	return nil
}

// WriteTable writes a human-readable table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := termtext.NewTable(w, "SEVERITY", "CHECK", "OBJECT", "FIELD", "LOCATION", "MESSAGE")
	for _, f := range r.Findings {
		tw.Row(strings.ToUpper(f.Severity.String()), f.CheckID, f.Object.String(), f.Field, location(f), f.Message)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write audit table: %w", err)
	}
	var sums []string
	for i := finding.Critical; i >= finding.Info; i-- {
		if n := r.Summary[i.String()]; n > 0 {
			sums = append(sums, fmt.Sprintf("%d %s", n, i))
		}
	}
	// Legend: one line per check that fired, with its fix and controls.
	seen := map[string]bool{}
	var legend []finding.Finding
	for _, f := range r.Findings {
		if !seen[f.CheckID] {
			seen[f.CheckID] = true
			legend = append(legend, f)
		}
	}
	sort.Slice(legend, func(i, j int) bool { return legend[i].CheckID < legend[j].CheckID })
	if len(legend) > 0 {
		fmt.Fprintln(w, "\nCHECKS")
	}
	for _, f := range legend {
		fmt.Fprintf(w, "%s  %s. Fix: %s", f.CheckID, f.Title, f.Fix)
		if len(f.Controls) > 0 {
			fmt.Fprintf(w, " Controls: %s", strings.Join(f.Controls, ", "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%d objects, %d findings (%s)\n", r.Objects, len(r.Findings), strings.Join(sums, ", "))
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", termtext.String(n))
	}
	for _, e := range r.Errors {
		fmt.Fprintln(w, "error:", termtext.String(fmt.Sprint(e)))
	}
	return nil
}

// location is a finding's file:line for the table ("-" when it has none).
func location(f finding.Finding) string {
	switch {
	case f.File == "":
		return "-"
	case f.Line > 0:
		return f.File + ":" + strconv.Itoa(f.Line)
	}
	return f.File
}

// camel turns a title into a SARIF rule name ("Privileged container" ->
// "PrivilegedContainer").
func camel(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}
