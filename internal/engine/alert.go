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
	al := &alert.Alert{
		UUID: alert.EventUUID(m.Hostname, r.Name, m.Time, ev.TID, uint16(ev.Type)),
		Time: time.Unix(0, m.Time), Rule: r.Name, Priority: r.Priority, Source: r.Source,
		Hostname: m.Hostname, Output: m.Output, Tags: r.Tags, Vigil: alert.Context{Count: 1},
	}
	if al.Source == "" {
		al.Source = alert.SourceSyscall
	}
	al.OutputFields = make([]alert.Field, 0, len(m.Fields)+1)
	hasTime := false
	for _, f := range m.Fields {
		if f.Name == "evt.time" {
			hasTime = true
			al.OutputFields = append(al.OutputFields, alert.Field{Name: f.Name, Value: uint64(m.Time)})
			continue
		}
		al.OutputFields = append(al.OutputFields, alert.Field{Name: f.Name, Value: f.Value})
	}
	if !hasTime {
		al.OutputFields = append(al.OutputFields, alert.Field{Name: "evt.time", Value: uint64(m.Time)})
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
