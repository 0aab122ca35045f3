package finding

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// Severity orders findings. The zero value is Info.
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var sevNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(sevNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return sevNames[s]
}

// ParseSeverity reads "info", "low", "medium", "high" or "critical"
// (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range sevNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
}

// MarshalText writes the severity name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Check describes one check id.
type Check struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Fix      string   `json:"fix"`
	// Profile names the Pod Security Standards profile a workload check
	// belongs to ("baseline", "restricted"), empty for other checks.
	Profile string `json:"profile,omitempty"`
}

// Finding is one failed check on one object.
type Finding struct {
	CheckID  string       `json:"check_id"`
	Severity Severity     `json:"severity"`
	Title    string       `json:"title"`
	Object   manifest.Ref `json:"object"`
	Field    string       `json:"field,omitempty"`
	Message  string       `json:"message"`
	Fix      string       `json:"fix"`
	File     string       `json:"file,omitempty"`
	Line     int          `json:"line,omitempty"`
	Controls []string     `json:"controls,omitempty"`
}

// New builds a finding of check c on object o.
func New(c Check, o *manifest.Object, field, msg string) Finding {
	f := Finding{CheckID: c.ID, Severity: c.Severity, Title: c.Title, Field: field, Message: msg, Fix: c.Fix}
	if o != nil {
		f.Object = o.Ref()
		f.File = o.Source.File
		f.Line = o.FieldLine(field)
	}
	return f
}

// Sort orders findings by severity (highest first), then check id, object
// and field, so output is stable.
func Sort(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.CheckID != b.CheckID {
			return a.CheckID < b.CheckID
		}
		if a.Object.Kind != b.Object.Kind {
			return a.Object.Kind < b.Object.Kind
		}
		if a.Object.Namespace != b.Object.Namespace {
			return a.Object.Namespace < b.Object.Namespace
		}
		if a.Object.Name != b.Object.Name {
			return a.Object.Name < b.Object.Name
		}
		return a.Field < b.Field
	})
}
