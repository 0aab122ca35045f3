package alert

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/vigilsec/vigil/internal/jsontext"
)

// Incident is the context of an alert: the events of its process ancestry
// (and the children they started) recorded before the alert and, for a
// window, after it, oldest first. The flight recorder (internal/recorder)
// builds it; the store keeps it with the alert (by UUID); `vigil alerts
// show` and the console print it.
type Incident struct {
	// UUID is the alert's.
	UUID string `json:"uuid"`
	// Complete is false while the after window is open (the incident
	// holds the events before the alert only), true once it closed.
	Complete bool `json:"complete"`
	// Truncated: events were left out (the per-incident cap).
	Truncated bool            `json:"truncated,omitempty"`
	Events    []IncidentEvent `json:"events"`
}

// IncidentEvent is one event of an incident, as recorded.
type IncidentEvent struct {
	Time int64  `json:"time"` // ns since the epoch
	Type string `json:"type"` // event type name (execve, openat, connect...)
	PID  uint32 `json:"pid"`
	PPID uint32 `json:"ppid"`
	Comm string `json:"comm"`
	// What: the exec's path and arguments, the file's name, the
	// connection's addresses.
	What string `json:"what"`
	Ret  int64  `json:"ret"`
	// Alert marks the event that raised the alert.
	Alert bool `json:"alert,omitempty"`

	// json is the event's JSON form with Alert false, when WithJSON made
	// it: AppendIncidentJSON copies it instead of encoding the event again.
	json []byte
}

// WithJSON returns e (Alert false) carrying its JSON form, encoded once
// here: the flight recorder's events are each in many incidents (every
// alert of a busy process tree takes the same recent events), and each
// incident is encoded for the store and the hub.
func (e IncidentEvent) WithJSON() IncidentEvent {
	e.Alert, e.json = false, nil
	e.json = appendIncidentEvent(nil, &e)
	return e
}

// JSONSize is the length of the event's JSON form made by WithJSON (0:
// none).
func (e *IncidentEvent) JSONSize() int { return len(e.json) }

// MarshalIncident returns inc's JSON form (the store's column, the API's
// body, the fleet's message): AppendIncidentJSON.
func MarshalIncident(inc *Incident) ([]byte, error) { return AppendIncidentJSON(nil, inc), nil }

// AppendIncidentJSON appends inc's JSON form to b, as encoding/json would
// write the struct (keys in field order, omitempty kept), without
// reflection: the agent writes one per alert for its store and its hub.
func AppendIncidentJSON(b []byte, inc *Incident) []byte {
	b = append(b, `{"uuid":`...)
	b = jsontext.AppendString(b, inc.UUID)
	b = append(b, `,"complete":`...)
	b = strconv.AppendBool(b, inc.Complete)
	if inc.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	b = append(b, `,"events":`...)
	if inc.Events == nil {
		b = append(b, "null"...)
	} else {
		n := 2
		for i := range inc.Events {
			n += max(len(inc.Events[i].json), 160) + 1
		}
		b = slices.Grow(b, n)
		b = append(b, '[')
		for i := range inc.Events {
			if i > 0 {
				b = append(b, ',')
			}
			if e := &inc.Events[i]; e.json != nil && !e.Alert {
				b = append(b, e.json...)
			} else {
				b = appendIncidentEvent(b, e)
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendIncidentEvent(b []byte, e *IncidentEvent) []byte {
	b = append(b, `{"time":`...)
	b = strconv.AppendInt(b, e.Time, 10)
	b = append(b, `,"type":`...)
	b = jsontext.AppendString(b, e.Type)
	b = append(b, `,"pid":`...)
	b = strconv.AppendUint(b, uint64(e.PID), 10)
	b = append(b, `,"ppid":`...)
	b = strconv.AppendUint(b, uint64(e.PPID), 10)
	b = append(b, `,"comm":`...)
	b = jsontext.AppendString(b, e.Comm)
	b = append(b, `,"what":`...)
	b = jsontext.AppendString(b, e.What)
	b = append(b, `,"ret":`...)
	b = strconv.AppendInt(b, e.Ret, 10)
	if e.Alert {
		b = append(b, `,"alert":true`...)
	}
	return append(b, '}')
}

// UnmarshalIncident reads an incident's JSON form.
func UnmarshalIncident(b []byte) (*Incident, error) {
	inc := new(Incident)
	if err := json.Unmarshal(b, inc); err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	return inc, nil
}
