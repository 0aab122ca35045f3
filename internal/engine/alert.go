package engine

import (
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
)

// MaxAncestry bounds the process ancestry an alert carries (vigil.process).
const MaxAncestry = 8

// Alert builds the alert of the match for ev, the event it matched: the one
// constructor of rule alerts, used by `vigil run` and `vigil replay` alike,
// so the same match always gives the same alert and, through
// alert.AppendJSON, the same bytes. Output fields are sorted by name, with
// evt.time (the event time in ns, the %evt.time of Falco's output prefix)
// added as Falco does; the UUID is derived from the match (alert.EventUUID).
// ev's process and container context is copied: the alert does not keep ev.
func (m *Match) Alert(ev *event.Event) *alert.Alert {
	r := m.Rule
	fields := make([]alert.Field, 0, len(m.Fields)+1)
	for _, f := range m.Fields {
		fields = append(fields, alert.Field{Name: f.Name, Value: f.Value})
	}
	return EventAlert(ev, EventAlertSpec{Rule: r.Name, Priority: r.Priority, Source: r.Source, Hostname: m.Hostname,
		Time: m.Time, Output: m.Output, Fields: fields, Tags: r.Tags})
}

// EventAlertSpec is what an alert about an event says; EventAlert adds the
// event's context.
type EventAlertSpec struct {
	Rule     string
	Priority alert.Priority
	Source   string // "" is alert.SourceSyscall
	Hostname string
	Time     int64 // ns since the epoch (the event's time)
	Output   string
	Fields   []alert.Field // taken over (sorted in place); evt.time is set to Time
	Tags     []string
}

// EventAlert is the one constructor of alerts about an event: rule matches
// (Match.Alert) and the findings of other detectors on the event path
// (profile deviations). Output fields are sorted by name with evt.time
// added; the UUID is derived from the rule and the event
// (alert.EventUUID); ev's process ancestry (at most MaxAncestry) and
// container context are copied: the alert does not keep ev.
func EventAlert(ev *event.Event, s EventAlertSpec) *alert.Alert {
	al := &alert.Alert{
		UUID: alert.EventUUID(s.Hostname, s.Rule, s.Time, ev.TID, uint16(ev.Type)),
		Time: time.Unix(0, s.Time), Rule: s.Rule, Priority: s.Priority, Source: s.Source,
		Hostname: s.Hostname, Output: s.Output, Tags: s.Tags, Vigil: alert.Context{Count: 1},
	}
	if al.Source == "" {
		al.Source = alert.SourceSyscall
	}
	al.OutputFields = s.Fields
	hasTime := false
	for i := range al.OutputFields {
		if al.OutputFields[i].Name == "evt.time" {
			hasTime = true
			al.OutputFields[i].Value = uint64(s.Time)
		}
	}
	if !hasTime {
		al.OutputFields = append(al.OutputFields, alert.Field{Name: "evt.time", Value: uint64(s.Time)})
	}
	sortFields(al.OutputFields)
	if ct := ev.Container; ct != nil && ct.ID != "" && ct.ID != "host" {
		al.Vigil.Container = &alert.Container{ID: ct.ID, Name: ct.Name, Image: ct.Image,
			PodNamespace: ct.PodNamespace, PodName: ct.PodName}
	}
	for p := ev.Proc; p != nil && len(al.Vigil.Process) < MaxAncestry; p = p.Parent {
		al.Vigil.Process = append(al.Vigil.Process, alert.Process{PID: p.PID, Comm: p.Comm, ExePath: p.ExePath,
			Args: append([]string(nil), p.Args...)})
	}
	if len(al.Vigil.Process) == 0 && ev.PID != 0 {
		al.Vigil.Process = []alert.Process{{PID: ev.PID, Comm: ev.Comm}}
	}
	return al
}

// sortFields sorts by name (insertion sort: outputs have a few fields).
func sortFields(fs []alert.Field) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Name < fs[j-1].Name; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}
