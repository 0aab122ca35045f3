package alert

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func sample() *Alert {
	return &Alert{
		UUID:     NewUUID(),
		Time:     time.Date(2026, 11, 27, 10, 0, 0, 1200, time.FixedZone("X", 3600)),
		Rule:     "Read sensitive file untrusted",
		Priority: PriorityWarning,
		Source:   SourceSyscall,
		Hostname: "node-1",
		Output:   "Sensitive file opened (file=/etc/shadow\n\x1b[31m proc=cat\\x)",
		OutputFields: []Field{
			{"fd.name", "/etc/shadow"}, {"proc.pid", int64(42)}, {"user.uid", uint64(0)},
			{"container.image", nil}, {"proc.is_exe_upper_layer", false}, {"proc.args", []string{"a", "b\"c"}},
			{"x.float", 1.5},
		},
		Tags:  []string{"filesystem", "mitre_credential_access"},
		Vigil: Context{Count: 1, Container: &Container{ID: "abcdef012345", Name: "web", Image: "nginx:1"}, Process: []Process{{PID: 42, Comm: "cat", ExePath: "/usr/bin/cat", Args: []string{"/etc/shadow"}}, {PID: 1, Comm: "bash", ExePath: "/bin/bash"}}},
	}
}

func TestJSONFalcoShape(t *testing.T) {
	a := sample()
	b := a.AppendJSON(nil)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	for key, want := range map[string]string{"uuid": "string", "time": "string", "rule": "string", "priority": "string",
		"source": "string", "hostname": "string", "output": "string", "output_fields": "object", "tags": "array", "vigil": "object"} {
		v, ok := m[key]
		if !ok {
			t.Errorf("missing key %q", key)
			continue
		}
		if got := jsonType(v); got != want {
			t.Errorf("%s: type %s, want %s", key, got, want)
		}
	}
	if m["time"] != "2026-11-27T09:00:00.000001200Z" {
		t.Errorf("time = %v", m["time"])
	}
	if _, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil {
		t.Error(err)
	}
	if m["priority"] != "Warning" || m["source"] != "syscall" {
		t.Errorf("priority/source = %v/%v", m["priority"], m["source"])
	}
	of := m["output_fields"].(map[string]any)
	if of["container.image"] != nil || of["proc.pid"] != 42.0 || of["proc.is_exe_upper_layer"] != false || of["fd.name"] != "/etc/shadow" {
		t.Errorf("output_fields = %v", of)
	}
	if _, present := of["container.image"]; !present {
		t.Error("missing field must be present as null")
	}
	// Falco's prefix: the event's local time of day and the priority.
	if want := a.Time.Local().Format("15:04:05.000000000") + ": Warning " + a.Output; m["output"] != want {
		t.Errorf("output = %q, want %q", m["output"], want)
	}
	vig := m["vigil"].(map[string]any)
	if vig["count"] != 1.0 || vig["container"].(map[string]any)["id"] != "abcdef012345" {
		t.Errorf("vigil = %v", vig)
	}
	// Empty tags are still an array.
	a.Tags = nil
	if err := json.Unmarshal(a.AppendJSON(nil), &m); err != nil || jsonType(m["tags"]) != "array" {
		t.Errorf("empty tags: %v %v", m["tags"], err)
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "?"
}

func TestJSONRoundTrip(t *testing.T) {
	a := sample()
	var b Alert
	if err := json.Unmarshal(a.AppendJSON(nil), &b); err != nil {
		t.Fatal(err)
	}
	if again := b.AppendJSON(nil); string(again) != string(a.AppendJSON(nil)) {
		t.Errorf("re-encoded alert differs:\n%s\n%s", again, a.AppendJSON(nil))
	}
	if b.UUID != a.UUID || !b.Time.Equal(a.Time) || b.Rule != a.Rule || b.Priority != a.Priority || b.Output != a.Output ||
		b.ContainerID() != "abcdef012345" || b.ExePath() != "/usr/bin/cat" || len(b.Vigil.Process) != 2 {
		t.Fatalf("round trip: %+v", b)
	}
	if v, _ := b.Field("proc.pid"); v != int64(42) {
		t.Errorf("proc.pid = %#v", v)
	}
	if v, _ := b.Field("proc.args"); len(v.([]string)) != 2 {
		t.Errorf("proc.args = %#v", v)
	}
	if v, ok := b.Field("container.image"); !ok || v != nil {
		t.Errorf("container.image = %#v %v", v, ok)
	}
	if err := json.Unmarshal([]byte(`{"priority":"Bogus"}`), &b); err == nil {
		t.Error("bad priority accepted")
	}
}

func TestJSONStringEscapes(t *testing.T) {
	for _, s := range []string{"plain", "q\"b\\s", "\x00\x01\x1f\x7f", "bad\xff\xfeutf8", "é中\u2028", "\t\r\n"} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		std, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(std, &want)
		if got != want {
			t.Errorf("%q: got %q want %q", s, got, want)
		}
	}
}

func TestTextEscapesControlCharacters(t *testing.T) {
	a := sample()
	a.Vigil.Count = 3
	a.Vigil.LastTime = a.Time.Add(time.Second)
	line := string(a.AppendText(nil))
	if strings.ContainsAny(line, "\n\r\x1b") {
		t.Fatalf("control characters in text form: %q", line)
	}
	want := `2026-11-27T09:00:00.000001200Z: Warning Sensitive file opened (file=/etc/shadow\n\x1b[31m proc=cat\x) (repeated 3 times, last 2026-11-27T09:00:01.000001200Z)`
	if line != want {
		t.Errorf("text:\n got %s\nwant %s", line, want)
	}
	// An output the engine already escaped is shown as it is, not escaped
	// twice (a newline in a file name reads \n, not \\n).
	a.Output = `file=/tmp/a\nb\x1b`
	a.Vigil.Count = 1
	if got := string(a.AppendText(nil)); !strings.HasSuffix(got, ` Warning file=/tmp/a\nb\x1b`) {
		t.Errorf("escaped output escaped again: %s", got)
	}
}

func TestParsePriority(t *testing.T) {
	for p := PriorityEmergency; p <= PriorityDebug; p++ {
		got, err := ParsePriority(strings.ToUpper(p.String()))
		if err != nil || got != p {
			t.Errorf("%s: %v %v", p, got, err)
		}
	}
	if p, _ := ParsePriority("info"); p != PriorityInformational {
		t.Error("info alias")
	}
	if _, err := ParsePriority("loud"); err == nil {
		t.Error("bad priority accepted")
	}
	if !PriorityCritical.AtLeast(PriorityWarning) || PriorityNotice.AtLeast(PriorityWarning) {
		t.Error("AtLeast")
	}
}

func TestNAIsNotHTMLEscaped(t *testing.T) {
	a := sample()
	a.Output = "user=<NA> & more"
	a.OutputFields = []Field{{"user.name", "<NA>"}}
	b := string(a.AppendJSON(nil))
	if !strings.Contains(b, `Warning user=<NA> & more"`) || !strings.Contains(b, `"user.name":"<NA>"`) {
		t.Errorf("escaped beyond JSON: %s", b)
	}
}

func TestEventUUID(t *testing.T) {
	u := EventUUID("h", "r", 1, 2, 3)
	if len(u) != 36 || u[14] != '8' || strings.Count(u, "-") != 4 || u != EventUUID("h", "r", 1, 2, 3) {
		t.Fatalf("uuid %s", u)
	}
	for _, v := range []string{EventUUID("h2", "r", 1, 2, 3), EventUUID("h", "r2", 1, 2, 3), EventUUID("h", "r", 2, 2, 3),
		EventUUID("h", "r", 1, 3, 3), EventUUID("h", "r", 1, 2, 4)} {
		if v == u {
			t.Errorf("collision %s", v)
		}
	}
}

func TestUUID(t *testing.T) {
	u := NewUUID()
	if len(u) != 36 || u[14] != '4' || strings.Count(u, "-") != 4 || u == NewUUID() {
		t.Fatalf("uuid %s", u)
	}
}

func TestCoalescer(t *testing.T) {
	var mu sync.Mutex
	var updates []*Alert
	now := time.Unix(1000, 0)
	c := NewCoalescer(10*time.Second, map[string]time.Duration{"noisy-off": 0}, func(a *Alert) {
		mu.Lock()
		updates = append(updates, a)
		mu.Unlock()
	})
	c.now = func() time.Time { return now }
	mk := func(rule, ctr, exe string) *Alert {
		a := sample()
		a.UUID = NewUUID()
		a.Rule = rule
		a.Vigil.Container = &Container{ID: ctr}
		a.Vigil.Process = []Process{{ExePath: exe}}
		return a
	}
	first := mk("r", "c1", "/bin/cat")
	if !c.Offer(first) {
		t.Fatal("first alert must be delivered")
	}
	for i := 0; i < 4; i++ {
		if c.Offer(mk("r", "c1", "/bin/cat")) {
			t.Fatal("duplicate delivered inside window")
		}
	}
	// Different container, exe, rule: delivered.
	if !c.Offer(mk("r", "c2", "/bin/cat")) || !c.Offer(mk("r", "c1", "/bin/dd")) || !c.Offer(mk("r2", "c1", "/bin/cat")) {
		t.Fatal("distinct alert suppressed")
	}
	// Per-rule 0 disables.
	if !c.Offer(mk("noisy-off", "c1", "/bin/cat")) || !c.Offer(mk("noisy-off", "c1", "/bin/cat")) {
		t.Fatal("per-rule off")
	}
	c.Flush(false)
	if len(updates) != 0 {
		t.Fatal("window not closed yet")
	}
	now = now.Add(11 * time.Second)
	c.Flush(false)
	if len(updates) != 1 {
		t.Fatalf("updates = %d, want 1 (only the window with duplicates)", len(updates))
	}
	u := updates[0]
	if u.UUID != first.UUID || u.Vigil.Count != 5 || !u.Vigil.Update || first.Vigil.Count != 1 {
		t.Fatalf("update %+v", u.Vigil)
	}
	if c.Len() != 0 {
		t.Fatal("entries left")
	}
	// New window: delivered at once again.
	if !c.Offer(mk("r", "c1", "/bin/cat")) {
		t.Fatal("new window")
	}
}

// TestPodSurvivesJSON: the pod of an alert's container survives its JSON
// form (the store keeps alerts as JSON; the console and `vigil alerts`
// read them back).
func TestPodSurvivesJSON(t *testing.T) {
	a := &Alert{UUID: NewUUID(), Time: time.Unix(1700000000, 0), Rule: "R", Priority: PriorityWarning, Source: SourceSyscall,
		Vigil: Context{Count: 1, Container: &Container{ID: "c0ffee000001", Name: "web", Image: "nginx:1.27", PodNamespace: "shop", PodName: "web-0"}}}
	var b Alert
	if err := b.UnmarshalJSON(a.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	if c := b.Vigil.Container; c == nil || *c != *a.Vigil.Container {
		t.Fatalf("container after JSON: %+v, want %+v", c, a.Vigil.Container)
	}
}
