package alert

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestAppendIncidentJSON: the hand-written encoder writes what
// encoding/json reads back as the same incident, and the same keys as
// encoding/json writes (attacker-controlled strings included).
func TestAppendIncidentJSON(t *testing.T) {
	for _, inc := range []*Incident{
		{UUID: "u1"},
		{UUID: "u2", Complete: true, Truncated: true, Events: []IncidentEvent{}},
		{UUID: "u3\"<x>", Complete: true, Events: []IncidentEvent{
			{Time: -5, Type: "execve", PID: 1, PPID: 0, Comm: "sh\x00", What: "/bin/cat \"/etc/shadow\" \u2028 <script>\xff", Ret: -2},
			{Time: 1 << 62, Type: "openat", PID: 4294967295, PPID: 7, Comm: "cat", What: "/etc/shadow", Ret: 3, Alert: true}}},
	} {
		got := AppendIncidentJSON(nil, inc)
		var back, want map[string]any
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		std, _ := json.Marshal(inc)
		json.Unmarshal(std, &want)
		if !reflect.DeepEqual(back, want) {
			t.Errorf("hand-written %s\nencoding/json %s", got, std)
		}
		dec, err := UnmarshalIncident(got)
		if err != nil {
			t.Fatal(err)
		}
		if inc.Events == nil && dec.Events != nil || len(dec.Events) != len(inc.Events) {
			t.Errorf("events back: %+v", dec.Events)
		}
	}
}

// TestIncidentEventWithJSON: an incident of events carrying their JSON
// form (WithJSON) encodes as the same incident without it, the event
// marked as the alert's included (its form has no alert flag).
func TestIncidentEventWithJSON(t *testing.T) {
	evs := []IncidentEvent{
		{Time: -5, Type: "execve", PID: 1, Comm: "sh\x00", What: "/bin/cat \"/etc/shadow\" \u2028 <script>\xff", Ret: -2},
		{Time: 1 << 62, Type: "openat", PID: 4294967295, PPID: 7, Comm: "cat", What: "/etc/shadow", Ret: 3, Alert: true},
		{Time: 9, Type: "connect", PID: 3, PPID: 1, Comm: "curl", What: "10.0.0.1:443"},
	}
	plain := &Incident{UUID: "u", Complete: true, Events: evs}
	cached := &Incident{UUID: "u", Complete: true}
	for _, e := range evs {
		c := e.WithJSON()
		if c.JSONSize() == 0 || c.Alert {
			t.Fatalf("WithJSON(%+v) = %+v", e, c)
		}
		c.Alert = e.Alert
		cached.Events = append(cached.Events, c)
	}
	want, got := AppendIncidentJSON(nil, plain), AppendIncidentJSON(nil, cached)
	if string(got) != string(want) {
		t.Errorf("with cached events %s\nwithout %s", got, want)
	}
}
