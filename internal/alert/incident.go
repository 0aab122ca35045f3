package alert

import (
	"encoding/json"
	"fmt"
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
}

// MarshalIncident returns inc's JSON form (the store's column, the API's
// body).
func MarshalIncident(inc *Incident) ([]byte, error) { return json.Marshal(inc) }

// UnmarshalIncident reads an incident's JSON form.
func UnmarshalIncident(b []byte) (*Incident, error) {
	inc := new(Incident)
	if err := json.Unmarshal(b, inc); err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	return inc, nil
}
