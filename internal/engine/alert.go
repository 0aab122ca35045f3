package engine

import (
	"encoding/json"
	"time"
)

// Alert is the JSON shape of an alert, the same as Falco's json_output:
// keys in this (alphabetical) order, output prefixed with the event time
// and the priority, output_fields with null for missing values.
type Alert struct {
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Time         string         `json:"time"`
}

// Alert converts the match to Falco's alert shape.
func (m *Match) Alert() *Alert {
	t := time.Unix(0, m.Time)
	a := &Alert{
		Hostname:     m.Hostname,
		Output:       t.Format("15:04:05.000000000") + ": " + m.Rule.Priority.String() + " " + m.Output,
		OutputFields: make(map[string]any, len(m.Fields)),
		Priority:     m.Rule.Priority.String(),
		Rule:         m.Rule.Name,
		Source:       m.Rule.Source,
		Tags:         m.Rule.Tags,
		Time:         t.UTC().Format("2006-01-02T15:04:05.000000000Z"),
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	for _, f := range m.Fields {
		a.OutputFields[f.Name] = f.Value
	}
	return a
}

// JSON encodes the alert as one line of JSON (no trailing newline). Map
// keys are sorted, so the same match always encodes to the same bytes.
func (m *Match) JSON() ([]byte, error) {
	return json.Marshal(m.Alert())
}
