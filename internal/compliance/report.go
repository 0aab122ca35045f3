package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/posture/finding"
)

// Disclaimer is printed at the top of every report.
const Disclaimer = "This report is evidence for an assessor, not a certification. " +
	"It shows what Vigil could check automatically; controls marked manual or partial need evidence from elsewhere, " +
	"and a passing automated check does not by itself make a control compliant."

// AlertCounter counts alerts carrying any of the given rule tags in
// [since, until). The agent's alert store implements it.
type AlertCounter interface {
	CountAlerts(ctx context.Context, tags []string, since, until time.Time) (int, error)
}

// Inputs is the evidence a report is built from. Every part is optional.
type Inputs struct {
	// Findings of a posture audit; ManifestsAudited says an audit ran
	// (an audit with no findings is evidence too).
	Findings         []finding.Finding
	ManifestsAudited bool
	ManifestSource   string
	// Alerts, when set, is asked for alert counts over [Since, Until).
	Alerts       AlertCounter
	Since, Until time.Time
	// Enforcement lists the capabilities in place (see Capabilities); nil
	// means unknown.
	Enforcement []string
	// Now stamps the report; zero means time.Now().
	Now time.Time
}

// Status of a control.
type Status string

// Statuses.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Partial Status = "partial"
	Manual  Status = "manual"
)

// Statuses lists the statuses in report order.
var Statuses = []Status{Fail, Partial, Pass, Manual}

// Evidence is one piece of evidence for a control.
type Evidence struct {
	Kind   string `json:"kind"` // findings, alerts, enforcement, note
	Detail string `json:"detail"`
}

// Result is the status of one control with its evidence.
type Result struct {
	Control  Control           `json:"control"`
	Status   Status            `json:"status"`
	Evidence []Evidence        `json:"evidence"`
	Findings []finding.Finding `json:"findings,omitempty"`
}

// Report is a framework report.
type Report struct {
	Framework  string         `json:"framework"`
	Name       string         `json:"name"`
	Version    string         `json:"version"`
	Generated  time.Time      `json:"generated"`
	Since      *time.Time     `json:"since,omitempty"`
	Until      *time.Time     `json:"until,omitempty"`
	Disclaimer string         `json:"disclaimer"`
	Summary    map[Status]int `json:"summary"`
	Results    []Result       `json:"results"`
}

// Evaluate builds the report of framework fw from in.
//
// A control is: fail when a mapped check has findings; pass when every kind
// of evidence mapped to it was available and clean (checks audited with no
// finding, a mapped capability in place) and it is not marked manual;
// partial when some evidence supports it but not all of it could be
// gathered, when the only evidence is alert monitoring, or when the control
// is marked manual; manual when Vigil has no evidence for it.
func Evaluate(ctx context.Context, fw *Framework, in Inputs) (*Report, error) {
	now := in.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	r := &Report{Framework: fw.ID, Name: fw.Name, Version: fw.Version, Generated: now, Disclaimer: Disclaimer, Summary: map[Status]int{}}
	if in.Alerts != nil {
		s, u := in.Since, in.Until
		r.Since, r.Until = &s, &u
	}
	byCheck := map[string][]finding.Finding{}
	for _, f := range in.Findings {
		byCheck[f.CheckID] = append(byCheck[f.CheckID], f)
	}
	for _, c := range fw.Controls {
		res := Result{Control: c}
		var (
			mapped, available int
			failed, weak      bool
		)
		if len(c.Checks) > 0 {
			mapped++
			if in.ManifestsAudited {
				available++
				var n int
				var ids []string
				for _, id := range c.Checks {
					fs := byCheck[id]
					if len(fs) > 0 {
						ids = append(ids, fmt.Sprintf("%s×%d", id, len(fs)))
					}
					n += len(fs)
					res.Findings = append(res.Findings, fs...)
				}
				if n > 0 {
					failed = true
					res.Evidence = append(res.Evidence, Evidence{"findings", fmt.Sprintf("%d finding(s) in %s: %s", n, in.ManifestSource, strings.Join(ids, ", "))})
				} else {
					res.Evidence = append(res.Evidence, Evidence{"findings", fmt.Sprintf("checks %s found nothing in %s", strings.Join(c.Checks, ", "), in.ManifestSource)})
				}
			} else {
				res.Evidence = append(res.Evidence, Evidence{"note", "manifests not audited (checks " + strings.Join(c.Checks, ", ") + ")"})
			}
		}
		if len(c.Tags) > 0 {
			mapped++
			if in.Alerts != nil {
				n, err := in.Alerts.CountAlerts(ctx, c.Tags, in.Since, in.Until)
				if err != nil {
					return nil, fmt.Errorf("compliance report: count alerts for %s: %w", c.ID, err)
				}
				available++
				weak = true
				res.Evidence = append(res.Evidence, Evidence{"alerts", fmt.Sprintf("%d alert(s) tagged %s between %s and %s", n, strings.Join(c.Tags, "/"), in.Since.Format(time.RFC3339), in.Until.Format(time.RFC3339))})
			} else {
				res.Evidence = append(res.Evidence, Evidence{"note", "no alert store given (rule tags " + strings.Join(c.Tags, ", ") + ")"})
			}
		}
		if len(c.Capabilities) > 0 {
			mapped++
			if in.Enforcement != nil {
				var have []string
				for _, k := range c.Capabilities {
					if slices.Contains(in.Enforcement, k) {
						have = append(have, k)
					}
				}
				if len(have) > 0 {
					available++
					res.Evidence = append(res.Evidence, Evidence{"enforcement", "in place: " + strings.Join(have, ", ")})
				} else {
					res.Evidence = append(res.Evidence, Evidence{"enforcement", "none of " + strings.Join(c.Capabilities, ", ") + " is in place"})
				}
			} else {
				res.Evidence = append(res.Evidence, Evidence{"note", "enforcement state not given (capabilities " + strings.Join(c.Capabilities, ", ") + ")"})
			}
		}
		switch {
		case failed:
			res.Status = Fail
		case mapped == 0:
			res.Status = Manual
			res.Evidence = append(res.Evidence, Evidence{"note", "no automated evidence: the assessor collects it"})
		case available == 0:
			res.Status = Manual
		case available < mapped || weak || c.Manual:
			res.Status = Partial
		default:
			res.Status = Pass
		}
		if c.Manual && res.Status != Manual {
			res.Evidence = append(res.Evidence, Evidence{"note", "Vigil covers only part of this control"})
		}
		r.Summary[res.Status]++
		r.Results = append(r.Results, res)
	}
	return r, nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write compliance json: %w", err)
	}
	return nil
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

// WriteMarkdown writes the report as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s: Vigil compliance evidence\n\n", r.Name, r.Version)
	fmt.Fprintf(&b, "> **%s**\n\n", r.Disclaimer)
	fmt.Fprintf(&b, "Generated %s.", r.Generated.Format(time.RFC3339))
	if r.Since != nil {
		fmt.Fprintf(&b, " Alert period %s to %s.", r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339))
	}
	b.WriteString("\n\n| status | controls |\n|---|---|\n")
	for _, s := range Statuses {
		fmt.Fprintf(&b, "| %s | %d |\n", s, r.Summary[s])
	}
	b.WriteString("\n| control | title | status | evidence |\n|---|---|---|---|\n")
	for _, res := range r.Results {
		var ev []string
		for _, e := range res.Evidence {
			ev = append(ev, e.Kind+": "+e.Detail)
		}
		fmt.Fprintf(&b, "| %s | %s | **%s** | %s |\n", mdEscape(res.Control.ID), mdEscape(res.Control.Title), res.Status, mdEscape(strings.Join(ev, "; ")))
	}
	var failing []Result
	for _, res := range r.Results {
		if len(res.Findings) > 0 {
			failing = append(failing, res)
		}
	}
	if len(failing) > 0 {
		b.WriteString("\n## Findings behind failed controls\n")
		for _, res := range failing {
			fmt.Fprintf(&b, "\n### %s %s\n\n", res.Control.ID, res.Control.Title)
			for _, f := range res.Findings {
				fmt.Fprintf(&b, "- `%s` %s `%s` `%s`: %s\n", f.CheckID, f.Severity, f.Object, f.Field, f.Message)
			}
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write compliance markdown: %w", err)
	}
	return nil
}

var statusColor = map[Status]string{Pass: "#2e7d32", Fail: "#c62828", Partial: "#ef6c00", Manual: "#607d8b"}

type chartBar struct {
	Label       Status
	Count       int
	Y, W, TextX int
	Color       string
}

// chart lays out the summary bar chart.
func (r *Report) chart() []chartBar {
	maxN := 1
	for _, s := range Statuses {
		maxN = max(maxN, r.Summary[s])
	}
	var bars []chartBar
	for i, s := range Statuses {
		w := r.Summary[s] * 360 / maxN
		bars = append(bars, chartBar{Label: s, Count: r.Summary[s], Y: 10 + i*34, W: w, TextX: 90 + w + 6, Color: statusColor[s]})
	}
	return bars
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"color": func(s Status) string { return statusColor[s] },
	"rfc":   func(t time.Time) string { return t.Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{{.R.Name}} {{.R.Version}}: Vigil compliance evidence</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
.disclaimer{border-left:6px solid #ef6c00;background:#fff3e0;padding:.8em 1em;font-weight:600}
table{border-collapse:collapse;width:100%;margin-top:1em}
th,td{border:1px solid #ddd;padding:.4em .6em;text-align:left;vertical-align:top;font-size:.92em}
th{background:#f5f5f5}
.st{color:#fff;border-radius:4px;padding:.1em .5em;font-weight:700;white-space:nowrap}
ul{margin:0;padding-left:1.2em}
code{font-size:.9em}
</style>
</head>
<body>
<h1>{{.R.Name}} {{.R.Version}}: Vigil compliance evidence</h1>
<p class="disclaimer">{{.R.Disclaimer}}</p>
<p>Generated {{rfc .R.Generated}}.{{if .R.Since}} Alert period {{rfc .R.Since.UTC}} to {{rfc .R.Until.UTC}}.{{end}} {{len .R.Results}} controls.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="560" height="150" role="img" aria-label="Controls by status">
{{range .Bars}}<text x="80" y="{{.Y}}" dy="17" text-anchor="end" font-size="14">{{.Label}}</text>
<rect x="90" y="{{.Y}}" width="{{.W}}" height="24" fill="{{.Color}}"></rect>
<text x="{{.TextX}}" y="{{.Y}}" dy="17" font-size="14">{{.Count}}</text>
{{end}}</svg>
<table>
<thead><tr><th>Control</th><th>Title</th><th>Status</th><th>Evidence</th></tr></thead>
<tbody>
{{range .R.Results}}<tr id="c-{{.Control.ID}}"><td><code>{{.Control.ID}}</code></td><td>{{.Control.Title}}</td><td><span class="st" style="background:{{color .Status}}">{{.Status}}</span></td><td><ul>{{range .Evidence}}<li><b>{{.Kind}}</b>: {{.Detail}}</li>{{end}}{{range .Findings}}<li><code>{{.CheckID}}</code> {{.Object}} <code>{{.Field}}</code>: {{.Message}}</li>{{end}}</ul></td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`))

// WriteHTML writes a self-contained HTML page (inline CSS and SVG chart, no
// external assets).
func (r *Report) WriteHTML(w io.Writer) error {
	if err := htmlTmpl.Execute(w, struct {
		R    *Report
		Bars []chartBar
	}{r, r.chart()}); err != nil {
		return fmt.Errorf("write compliance html: %w", err)
	}
	return nil
}
