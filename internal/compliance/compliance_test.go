package compliance

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/posture/audit"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/store"
)

func mapping(t *testing.T) *Mapping {
	t.Helper()
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type fakeAlerts map[string]int

func (f fakeAlerts) CountAlerts(_ context.Context, tags []string, _, _ time.Time) (int, error) {
	n := 0
	for _, t := range tags {
		n += f[t]
	}
	return n, nil
}

// The four frameworks are present, with the control counts of the files.
func TestFrameworks(t *testing.T) {
	m := mapping(t)
	want := map[string]int{"cis-k8s": 44, "hipaa": 35, "nist-800-190": 23, "pci-dss-4.0": 63}
	for id, n := range want {
		fw, err := m.Framework(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(fw.Controls) != n {
			t.Errorf("%s has %d controls, want %d", id, len(fw.Controls), n)
		}
	}
	for alias, id := range map[string]string{"pci": "pci-dss-4.0", "CIS": "cis-k8s", "nist": "nist-800-190", "hipaa": "hipaa"} {
		if fw, err := m.Framework(alias); err != nil || fw.ID != id {
			t.Errorf("alias %s -> %v, %v", alias, fw, err)
		}
	}
	if _, err := m.Framework("sox"); !errors.Is(err, ErrUnknownFramework) {
		t.Errorf("unknown framework: %v", err)
	}
	if got := m.Controls("VGL-RBAC-001"); !contains(got, "cis-k8s:5.1.1") || !contains(got, "pci-dss-4.0:7.2") {
		t.Errorf("VGL-RBAC-001 maps to %v", got)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		doc, msg string
		line     int
	}{
		{"framework: x\nname: X\ncontrols:\n  - {id: a, title: A, checks: [VGL-NOPE-1]}\n", "unknown check id", 4},
		{"framework: x\nname: X\ncontrols:\n  - {id: a, title: A}\n  - {id: a, title: B}\n", "duplicate control id", 5},
		{"framework: x\nname: X\ncontrols:\n  - {id: a, title: A, capabilities: [magic]}\n", "unknown capability", 4},
		{"framework: x\nname: X\nextra: 1\ncontrols:\n  - {id: a, title: A}\n", "unknown key", 3},
		{"framework: x\nname: X\ncontrols:\n  - {id: a\n", "did not find expected", 3},
		{"framework: x\ncontrols: []\n", "required", 1},
	}
	for _, tc := range cases {
		_, err := Parse("m.yaml", []byte(tc.doc))
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want *Error", tc.doc, err)
			continue
		}
		if e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%q: got %v, want line %d %q", tc.doc, e, tc.line, tc.msg)
		}
	}
}

func TestStatuses(t *testing.T) {
	fw := &Framework{ID: "t", Name: "T", Controls: []Control{
		{ID: "checks-clean", Title: "a", Checks: []string{"VGL-WL-001"}},
		{ID: "checks-fail", Title: "b", Checks: []string{"VGL-WL-002"}},
		{ID: "checks-and-caps", Title: "c", Checks: []string{"VGL-WL-001"}, Capabilities: []string{"enforce-network"}},
		{ID: "caps-missing", Title: "d", Capabilities: []string{"enforce-file"}},
		{ID: "tags", Title: "e", Tags: []string{"T1611"}},
		{ID: "manual", Title: "f", Manual: true},
		{ID: "manual-with-checks", Title: "g", Checks: []string{"VGL-WL-001"}, Manual: true},
	}}
	f := finding.Finding{CheckID: "VGL-WL-002", Object: manifest.Ref{Kind: "Pod", Namespace: "a", Name: "p"}}
	in := Inputs{Findings: []finding.Finding{f}, ManifestsAudited: true, ManifestSource: "x",
		Alerts: fakeAlerts{"T1611": 3}, Enforcement: []string{"enforce-network"}}
	r, err := Evaluate(context.Background(), fw, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"checks-clean": Pass, "checks-fail": Fail, "checks-and-caps": Pass, "caps-missing": Manual,
		"tags": Partial, "manual": Manual, "manual-with-checks": Partial}
	for _, res := range r.Results {
		if res.Status != want[res.Control.ID] {
			t.Errorf("%s: %s, want %s (evidence %v)", res.Control.ID, res.Status, want[res.Control.ID], res.Evidence)
		}
	}
	if r.Results[4].Evidence[0].Detail[:1] != "3" {
		t.Errorf("alert evidence %q does not carry the count", r.Results[4].Evidence[0].Detail)
	}
	// Without manifests, check-only controls are manual, not pass.
	r, _ = Evaluate(context.Background(), fw, Inputs{})
	if r.Results[0].Status != Manual || r.Results[1].Status != Manual {
		t.Errorf("without evidence: %s %s, want manual", r.Results[0].Status, r.Results[1].Status)
	}
	// Checks pass but the mapped capability is absent: partial.
	r, _ = Evaluate(context.Background(), fw, Inputs{ManifestsAudited: true, Enforcement: []string{}})
	if r.Results[2].Status != Partial {
		t.Errorf("checks clean, capability absent: %s, want partial", r.Results[2].Status)
	}
}

func goatFindings(t *testing.T) []finding.Finding {
	t.Helper()
	dir := shareddata.KubernetesGoat(t)
	inv, _ := manifest.Load(dir)
	return audit.Run(inv, nil).Findings
}

// Every framework report over the goat lists every control with a status,
// in JSON, Markdown and HTML; the HTML parses and has the chart.
func TestReportsOverGoat(t *testing.T) {
	m := mapping(t)
	fs := goatFindings(t)
	for _, fw := range m.Frameworks {
		t.Run(fw.ID, func(t *testing.T) {
			r, err := Evaluate(context.Background(), fw, Inputs{Findings: fs, ManifestsAudited: true, ManifestSource: "goat",
				Alerts: fakeAlerts{"T1611": 2, "T1059": 5}, Since: time.Unix(0, 0), Until: time.Unix(3600, 0), Enforcement: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Results) != len(fw.Controls) {
				t.Fatalf("%d results for %d controls", len(r.Results), len(fw.Controls))
			}
			total := 0
			for _, res := range r.Results {
				switch res.Status {
				case Pass, Fail, Partial, Manual:
				default:
					t.Errorf("%s has status %q", res.Control.ID, res.Status)
				}
				if len(res.Evidence) == 0 {
					t.Errorf("%s has no evidence line", res.Control.ID)
				}
			}
			for _, n := range r.Summary {
				total += n
			}
			if total != len(fw.Controls) || r.Summary[Fail] == 0 {
				t.Errorf("summary %v", r.Summary)
			}

			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != len(fw.Controls) || back.Disclaimer == "" {
				t.Fatalf("JSON round trip: %v", err)
			}
			var md bytes.Buffer
			if err := r.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			for _, c := range fw.Controls {
				if !strings.Contains(md.String(), "| "+c.ID+" |") {
					t.Errorf("markdown lacks control %s", c.ID)
				}
			}
			if !strings.Contains(md.String(), "not a certification") {
				t.Error("markdown lacks the disclaimer")
			}
			var html bytes.Buffer
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			checkHTML(t, html.Bytes(), fw, r)
		})
	}
}

// checkHTML parses the page (HTML-tolerant XML decoder) and checks the
// table rows, the inline SVG chart and that nothing external is loaded.
func checkHTML(t *testing.T, page []byte, fw *Framework, r *Report) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	rows, rects, svgs := 0, 0, 0
	var stack []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("HTML does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e.Name.Local)
			switch e.Name.Local {
			case "tr":
				rows++
			case "svg":
				svgs++
			case "rect":
				rects++
			case "script", "link", "img", "iframe":
				t.Errorf("page loads external content: <%s>", e.Name.Local)
			}
			for _, a := range e.Attr {
				if (a.Name.Local == "src" || a.Name.Local == "href") && a.Value != "" {
					t.Errorf("external reference %s=%q", a.Name.Local, a.Value)
				}
				if strings.Contains(a.Value, "ZgotmplZ") {
					t.Errorf("template rejected a value in %s", a.Name.Local)
				}
			}
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if rows != len(fw.Controls)+1 {
		t.Errorf("%d table rows, want %d controls + header", rows, len(fw.Controls))
	}
	if svgs != 1 || rects != len(Statuses) {
		t.Errorf("chart: %d svg, %d bars", svgs, rects)
	}
	if !bytes.Contains(page, []byte("not a certification")) {
		t.Error("HTML lacks the disclaimer")
	}
}

func TestStoreCounter(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	mk := func(uuid string, at time.Time, tags ...string) *alert.Alert {
		return &alert.Alert{UUID: uuid, Time: at, Rule: "r", Priority: alert.PriorityWarning, Source: "syscall", Output: "o", Tags: tags}
	}
	if err := st.Insert(context.Background(), []*alert.Alert{
		mk("1", base.Add(time.Hour), "container", "mitre_privilege_escalation", "T1611"),
		mk("2", base.Add(2*time.Hour), "T1059.004"),
		mk("3", base.Add(3*time.Hour), "T10590"),
		mk("4", base.Add(-time.Hour), "T1611"),
	}); err != nil {
		t.Fatal(err)
	}
	c := &StoreCounter{Store: st}
	for _, tc := range []struct {
		tags []string
		want int
	}{{[]string{"T1611"}, 1}, {[]string{"t1059"}, 1}, {[]string{"T1611", "T1059"}, 2}, {[]string{"T1003"}, 0}} {
		n, err := c.CountAlerts(context.Background(), tc.tags, base, base.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("%v: %d alerts, want %d", tc.tags, n, tc.want)
		}
	}
}

// Every posture check maps to controls of at least two frameworks.
func TestEveryCheckIsMapped(t *testing.T) {
	m := mapping(t)
	for _, c := range audit.Catalog() {
		fws := map[string]bool{}
		for _, ctl := range m.Controls(c.ID) {
			fw, _, _ := strings.Cut(ctl, ":")
			fws[fw] = true
		}
		if len(fws) < 2 {
			t.Errorf("%s maps to %d framework(s)", c.ID, len(fws))
		}
	}
}
