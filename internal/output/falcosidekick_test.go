package output

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// falcosidekick's input contract, written down from its types.FalcoPayload
// (falcosecurity/falcosidekick, types/types.go) and FalcoPayload.Check:
//
//	UUID         string                 `json:"uuid,omitempty"`
//	Output       string                 `json:"output"`
//	Priority     PriorityType           `json:"priority"`   // a string, see sidekickPriorities
//	Rule         string                 `json:"rule"`
//	Time         time.Time              `json:"time"`       // RFC 3339
//	OutputFields map[string]interface{} `json:"output_fields"`
//	Source       string                 `json:"source"`
//	Tags         []string               `json:"tags,omitempty"`
//	Hostname     string                 `json:"hostname,omitempty"`
//
// Check rejects a payload whose priority is not one of the names below
// (case-insensitive), whose rule is empty, whose time is zero or whose
// output_fields is empty. Every other key is ignored (the "vigil" object is
// dropped), and the handler gives the payload a new UUID.
type sidekickPayload struct {
	UUID         string         `json:"uuid,omitempty"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags,omitempty"`
	Hostname     string         `json:"hostname,omitempty"`
}

// sidekickKinds is the JSON kind of each key FalcoPayload reads.
var sidekickKinds = map[string]string{"uuid": "string", "output": "string", "priority": "string", "rule": "string",
	"time": "string", "output_fields": "object", "source": "string", "tags": "array", "hostname": "string"}

var sidekickPriorities = []string{"emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"}

// sidekickDecode decodes body as falcosidekick does and applies its Check.
func sidekickDecode(t *testing.T, body []byte) sidekickPayload {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, body)
	}
	for k, kind := range sidekickKinds {
		v, ok := raw[k]
		if !ok {
			t.Errorf("key %q missing", k)
			continue
		}
		got := map[byte]string{'"': "string", '{': "object", '[': "array"}[bytes.TrimSpace(v)[0]]
		if got != kind {
			t.Errorf("key %q: want a JSON %s, got %s", k, kind, v)
		}
	}
	var p sidekickPayload
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("falcosidekick would reject the body: %v", err)
	}
	okPri := false
	for _, n := range sidekickPriorities {
		okPri = okPri || strings.EqualFold(p.Priority, n)
	}
	if !okPri || p.Rule == "" || p.Time.IsZero() || len(p.OutputFields) == 0 {
		t.Fatalf("falcosidekick's Check fails (priority %q, rule %q, time %v, %d output fields)",
			p.Priority, p.Rule, p.Time, len(p.OutputFields))
	}
	return p
}

// TestHTTPFalcosidekickContract sends a first alert, then the coalescer's
// update of it, through the HTTP output, decodes both as falcosidekick does
// (which keeps only FalcoPayload's keys and replaces uuid) and checks that
// Vigil's context survives in output_fields and that the update is
// distinguishable from a second identical alert.
func TestHTTPFalcosidekickContract(t *testing.T) {
	rec := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(rec.handler))
	defer srv.Close()
	h, err := NewHTTP(HTTPOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	first := testAlert(7)
	first.Vigil.Action = "kill pid=7: killed"
	first.Vigil.Container = &alert.Container{ID: "0123456789ab", Name: "web", Image: "nginx:1"}
	var updates []*alert.Alert
	c := alert.NewCoalescer(time.Hour, nil, func(a *alert.Alert) { updates = append(updates, a) })
	if !c.Offer(first) {
		t.Fatal("coalescer held back the first alert")
	}
	for range 2 {
		again := *first
		again.UUID = alert.NewUUID()
		again.Time = first.Time.Add(time.Second)
		if c.Offer(&again) {
			t.Fatal("coalescer delivered a repeat")
		}
	}
	c.Flush(true)
	if len(updates) != 1 {
		t.Fatalf("coalescer emitted %d updates, want 1", len(updates))
	}
	ctx := context.Background()
	for _, a := range []*alert.Alert{first, updates[0]} {
		if err := h.Write(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if rec.count() != 2 {
		t.Fatalf("%d requests, want 2", rec.count())
	}
	got := make([]sidekickPayload, 2)
	for i := range got {
		got[i] = sidekickDecode(t, rec.bodies[i])
		got[i].UUID = "replaced by falcosidekick"
	}
	want := []map[string]any{
		{"vigil.count": 1.0, "vigil.update": false, "vigil.last_time": nil},
		{"vigil.count": 3.0, "vigil.update": true, "vigil.last_time": first.Time.Add(time.Second).UTC().Format(alert.TimeFormat)},
	}
	for i, p := range got {
		of := p.OutputFields
		for k, v := range want[i] {
			if !reflect.DeepEqual(of[k], v) {
				t.Errorf("alert %d: output_fields[%q] = %#v, want %#v", i, k, of[k], v)
			}
		}
		if of["vigil.action"] != "kill pid=7: killed" || of["vigil.container.id"] != "0123456789ab" ||
			of["vigil.uuid"] != first.UUID {
			t.Errorf("alert %d: context lost: action %#v container %#v uuid %#v (want %s)", i,
				of["vigil.action"], of["vigil.container.id"], of["vigil.uuid"], first.UUID)
		}
		if of["fd.name"] != "/etc/shadow" {
			t.Errorf("alert %d: rule field fd.name = %#v", i, of["fd.name"])
		}
	}
	if reflect.DeepEqual(got[0], got[1]) {
		t.Error("the update reaches falcosidekick identical to the first alert")
	}

	// A host process: vigil.container.id is "host" (as Falco's container.id)
	// and vigil.action is null.
	host := testAlert(8)
	if err := h.Write(ctx, host); err != nil {
		t.Fatal(err)
	}
	p := sidekickDecode(t, rec.bodies[2])
	if v, ok := p.OutputFields["vigil.action"]; !ok || v != nil {
		t.Errorf("host alert: vigil.action = %#v (present %v), want null", v, ok)
	}
	if p.OutputFields["vigil.container.id"] != "host" {
		t.Errorf("host alert: vigil.container.id = %#v, want host", p.OutputFields["vigil.container.id"])
	}
}

// TestContextFieldsRoundTrip: decoding the JSON form and encoding it again
// gives the same bytes (the context fields are not doubled), and a rule
// field of a context field's name does not appear twice.
func TestContextFieldsRoundTrip(t *testing.T) {
	a := testAlert(1)
	a.Vigil.Count, a.Vigil.Update, a.Vigil.LastTime = 4, true, a.Time.Add(time.Minute)
	a.OutputFields = append(a.OutputFields, alert.Field{Name: "vigil.count", Value: "a rule's own"},
		alert.Field{Name: "vigil.action.kill", Value: "killed"})
	b1 := a.AppendJSON(nil)
	if n := bytes.Count(b1, []byte(`"vigil.count":`)); n != 1 {
		t.Fatalf("vigil.count written %d times: %s", n, b1)
	}
	var back alert.Alert
	if err := json.Unmarshal(b1, &back); err != nil {
		t.Fatal(err)
	}
	if b2 := back.AppendJSON(nil); !bytes.Equal(b1, b2) {
		t.Fatalf("round trip changed the bytes:\n%s\n%s", b1, b2)
	}
	var m map[string]any
	_ = json.Unmarshal(b1, &m)
	of := m["output_fields"].(map[string]any)
	if of["vigil.count"] != 4.0 || of["vigil.action.kill"] != "killed" {
		t.Errorf("output_fields: %v", of)
	}
}
