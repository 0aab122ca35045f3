package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/jsontext"
	"github.com/vigilsec/vigil/internal/termtext"
)

// TimeFormat is the form of "time": RFC 3339 in UTC with nine fractional
// digits, as Falco writes it.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// OutputTimeFormat is the form of the event time that prefixes "output" in
// the JSON form, as Falco writes it: the local time of day with nanoseconds.
const OutputTimeFormat = "15:04:05.000000000"

// AppendJSON appends the alert's Falco JSON form to b, without a trailing
// newline. Keys: uuid, time, rule, priority, source, hostname, output
// (prefixed with the event's local time of day and the priority, as Falco
// does: "12:34:56.789012345: Warning ..."), output_fields (an object, null
// for missing values), tags (always an array), vigil (Vigil's context).
// Strings are escaped as JSON requires and no more ("<NA>" stays as it is).
// It does not use reflection; it is the one encoder of the JSON form (the
// outputs, the store, `vigil alerts`, the HTTP API and `vigil replay`).
func (a *Alert) AppendJSON(b []byte) []byte {
	b = append(b, `{"uuid":`...)
	b = appendString(b, a.UUID)
	b = append(b, `,"time":"`...)
	b = a.Time.UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","rule":`...)
	b = appendString(b, a.Rule)
	b = append(b, `,"priority":"`...)
	b = append(b, a.Priority.String()...)
	b = append(b, `","source":`...)
	b = appendString(b, a.Source)
	b = append(b, `,"hostname":`...)
	b = appendString(b, a.Hostname)
	b = append(b, `,"output":"`...)
	b = a.Time.Local().AppendFormat(b, OutputTimeFormat)
	b = append(b, ": "...)
	b = append(b, a.Priority.String()...)
	b = append(b, ' ')
	mark := len(b)
	b = appendString(b, a.Output) // "..." : drop its opening quote
	b = append(b[:mark], b[mark+1:]...)
	b = append(b, `,"output_fields":{`...)
	fields := a.OutputFields
	if !sort.SliceIsSorted(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name }) {
		fields = append([]Field(nil), fields...) // sorted copy: the alert is immutable
		sort.SliceStable(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	}
	var ctxBuf [len(ContextFieldNames)]Field
	ctx := a.contextFields(&ctxBuf)
	last, first := "", true
	put := func(f *Field) {
		if !first && f.Name == last {
			return // a name once, as in a JSON object
		}
		if !first {
			b = append(b, ',')
		}
		first, last = false, f.Name
		b = appendString(b, f.Name)
		b = append(b, ':')
		b = appendValue(b, f.Value)
	}
	for i, j := 0, 0; i < len(fields) || j < len(ctx); {
		switch {
		case j < len(ctx) && (i == len(fields) || ctx[j].Name <= fields[i].Name):
			put(&ctx[j]) // the context's field wins over a rule's of the same name
			j++
		default:
			put(&fields[i])
			i++
		}
	}
	b = append(b, `},"tags":[`...)
	for i, t := range a.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t)
	}
	b = append(b, `],"vigil":{"count":`...)
	b = strconv.AppendUint(b, a.Vigil.Count, 10)
	if a.Vigil.Update {
		b = append(b, `,"update":true`...)
	}
	if !a.Vigil.LastTime.IsZero() {
		b = append(b, `,"last_time":"`...)
		b = a.Vigil.LastTime.UTC().AppendFormat(b, TimeFormat)
		b = append(b, '"')
	}
	if a.Vigil.Action != "" {
		b = append(b, `,"action":`...)
		b = appendString(b, a.Vigil.Action)
	}
	if c := a.Vigil.Container; c != nil {
		b = append(b, `,"container":{"id":`...)
		b = appendString(b, c.ID)
		b = append(b, `,"name":`...)
		b = appendString(b, c.Name)
		b = append(b, `,"image":`...)
		b = appendString(b, c.Image)
		if c.PodName != "" {
			b = append(b, `,"pod_namespace":`...)
			b = appendString(b, c.PodNamespace)
			b = append(b, `,"pod_name":`...)
			b = appendString(b, c.PodName)
		}
		b = append(b, '}')
	}
	if len(a.Vigil.Process) > 0 {
		b = append(b, `,"process":[`...)
		for i := range a.Vigil.Process {
			p := &a.Vigil.Process[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"pid":`...)
			b = strconv.AppendUint(b, uint64(p.PID), 10)
			b = append(b, `,"comm":`...)
			b = appendString(b, p.Comm)
			b = append(b, `,"exepath":`...)
			b = appendString(b, p.ExePath)
			b = append(b, `,"args":[`...)
			for j, s := range p.Args {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, s)
			}
			b = append(b, "]}"...)
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

// ContextFieldNames are the output fields AppendJSON derives from Vigil's
// context, in name order, so that consumers that keep only Falco's keys
// (falcosidekick replaces "uuid" and drops "vigil") still see them:
//
//	vigil.action        what prevention did (null when nothing)
//	vigil.container.id  the container id, "host" for host processes
//	vigil.count         how many identical alerts this one stands for
//	vigil.last_time     the last coalesced occurrence (null when count is 1)
//	vigil.update        true on the update of an alert already delivered
//	vigil.uuid          Vigil's UUID: an update carries the first alert's
var ContextFieldNames = [...]string{"vigil.action", "vigil.container.id", "vigil.count", "vigil.last_time",
	"vigil.update", "vigil.uuid"}

// contextFields fills buf with the fields named by ContextFieldNames.
func (a *Alert) contextFields(buf *[len(ContextFieldNames)]Field) []Field {
	var action, last any
	if a.Vigil.Action != "" {
		action = a.Vigil.Action
	}
	if !a.Vigil.LastTime.IsZero() {
		last = contextTime(a.Vigil.LastTime)
	}
	vals := [len(ContextFieldNames)]any{action, a.ContainerID(), a.Vigil.Count, last, a.Vigil.Update, a.UUID}
	for i := range buf {
		buf[i] = Field{Name: ContextFieldNames[i], Value: vals[i]}
	}
	return buf[:]
}

// contextTime is a time written in TimeFormat (UTC).
type contextTime time.Time

func (t contextTime) String() string { return time.Time(t).UTC().Format(TimeFormat) }

func isContextField(name string) bool {
	for _, n := range ContextFieldNames {
		if n == name {
			return true
		}
	}
	return false
}

// MarshalJSON returns the alert's Falco JSON form.
func (a *Alert) MarshalJSON() ([]byte, error) { return a.AppendJSON(nil), nil }

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']')
	case fmt.Stringer:
		return appendString(b, x.String())
	}
	return appendString(b, fmt.Sprint(v))
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte { return jsontext.AppendString(dst, s) }

// AppendText appends the alert's one-line text form to b, without a
// trailing newline:
//
//	2026-11-27T10:00:00.000000000Z: Warning <output> (rule=R container=C count=N)
//
// Control characters and invalid UTF-8 in the output are escaped (\n, \t,
// \xNN; see termtext) so that one alert is always one line. Backslashes are
// not: the engine escaped the field values as it formatted the output, and
// escaping them again would show a newline in a file name as \\n.
func (a *Alert) AppendText(b []byte) []byte {
	b = a.Time.UTC().AppendFormat(b, TimeFormat)
	b = append(b, ": "...)
	b = append(b, a.Priority.String()...)
	b = append(b, ' ')
	b = termtext.Append(b, a.Output)
	if a.Vigil.Count > 1 {
		b = append(b, " (repeated "...)
		b = strconv.AppendUint(b, a.Vigil.Count, 10)
		b = append(b, " times"...)
		if !a.Vigil.LastTime.IsZero() {
			b = append(b, ", last "...)
			b = a.Vigil.LastTime.UTC().AppendFormat(b, TimeFormat)
		}
		b = append(b, ')')
	}
	if a.Vigil.Action != "" {
		b = append(b, " action="...)
		b = termtext.Append(b, a.Vigil.Action)
	}
	return b
}

// wire is the decoding form of the JSON.
type wire struct {
	UUID         string                     `json:"uuid"`
	Time         time.Time                  `json:"time"`
	Rule         string                     `json:"rule"`
	Priority     string                     `json:"priority"`
	Source       string                     `json:"source"`
	Hostname     string                     `json:"hostname"`
	Output       string                     `json:"output"`
	OutputFields map[string]json.RawMessage `json:"output_fields"`
	Tags         []string                   `json:"tags"`
	Vigil        struct {
		Count     uint64     `json:"count"`
		Update    bool       `json:"update"`
		LastTime  time.Time  `json:"last_time"`
		Action    string     `json:"action"`
		Container *Container `json:"container"`
		Process   []struct {
			PID     uint32   `json:"pid"`
			Comm    string   `json:"comm"`
			ExePath string   `json:"exepath"`
			Args    []string `json:"args"`
		} `json:"process"`
	} `json:"vigil"`
}

// UnmarshalJSON parses the Falco JSON form (as AppendJSON writes it, or as
// Falco writes it). Output fields come back sorted by name; numbers become
// int64, uint64 or float64, arrays of strings []string.
func (a *Alert) UnmarshalJSON(data []byte) error {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("decode alert: %w", err)
	}
	p, err := ParsePriority(w.Priority)
	if err != nil {
		return fmt.Errorf("decode alert: %w", err)
	}
	*a = Alert{UUID: w.UUID, Time: w.Time, Rule: w.Rule, Priority: p, Source: w.Source,
		Hostname: w.Hostname, Output: trimOutputPrefix(w.Output, p), Tags: w.Tags}
	names := make([]string, 0, len(w.OutputFields))
	for k := range w.OutputFields {
		if isContextField(k) {
			continue // derived from "vigil"; AppendJSON writes them again
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		a.OutputFields = append(a.OutputFields, Field{Name: k, Value: decodeValue(w.OutputFields[k])})
	}
	a.Vigil = Context{Count: w.Vigil.Count, Update: w.Vigil.Update, LastTime: w.Vigil.LastTime,
		Action: w.Vigil.Action, Container: w.Vigil.Container}
	for _, p := range w.Vigil.Process {
		a.Vigil.Process = append(a.Vigil.Process, Process{PID: p.PID, Comm: p.Comm, ExePath: p.ExePath, Args: p.Args})
	}
	return nil
}

// UnmarshalIndex parses from the Falco JSON form only what identifies and
// indexes an alert: UUID, Time, Rule, Priority, Source, Hostname and the
// context's Count, Update and Container. The rest of a (output, output
// fields, tags, ancestry) is left empty: a is partial, for a store that
// keeps the JSON as it came and indexes these (the hub), at a fraction of
// UnmarshalJSON's cost.
func (a *Alert) UnmarshalIndex(data []byte) error {
	var w struct {
		UUID     string    `json:"uuid"`
		Time     time.Time `json:"time"`
		Rule     string    `json:"rule"`
		Priority string    `json:"priority"`
		Source   string    `json:"source"`
		Hostname string    `json:"hostname"`
		Vigil    struct {
			Count     uint64     `json:"count"`
			Update    bool       `json:"update"`
			Container *Container `json:"container"`
		} `json:"vigil"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("decode alert: %w", err)
	}
	p, err := ParsePriority(w.Priority)
	if err != nil {
		return fmt.Errorf("decode alert: %w", err)
	}
	*a = Alert{UUID: w.UUID, Time: w.Time, Rule: w.Rule, Priority: p, Source: w.Source, Hostname: w.Hostname,
		Vigil: Context{Count: w.Vigil.Count, Update: w.Vigil.Update, Container: w.Vigil.Container}}
	return nil
}

// trimOutputPrefix removes the "HH:MM:SS.nnnnnnnnn: Priority " prefix
// AppendJSON (and Falco) put before the output.
func trimOutputPrefix(s string, p Priority) string {
	n := len(OutputTimeFormat)
	if len(s) < n+2 || s[n:n+2] != ": " {
		return s
	}
	for i := 0; i < n; i++ {
		c := s[i]
		if OutputTimeFormat[i] == ':' || OutputTimeFormat[i] == '.' {
			if c != OutputTimeFormat[i] {
				return s
			}
		} else if c < '0' || c > '9' {
			return s
		}
	}
	rest := s[n+2:]
	if ps := p.String() + " "; strings.HasPrefix(rest, ps) {
		return rest[len(ps):]
	}
	return s
}

func decodeValue(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case 't', 'f':
		return raw[0] == 't'
	case '[':
		var ss []string
		if json.Unmarshal(raw, &ss) == nil {
			return ss
		}
		var anys []any
		_ = json.Unmarshal(raw, &anys)
		return anys
	}
	s := string(raw)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return u
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	var x any
	_ = json.Unmarshal(raw, &x)
	return x
}
