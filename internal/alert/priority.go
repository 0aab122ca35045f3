package alert

import (
	"fmt"
	"strings"
)

// Priority is an alert's severity, with Falco's names and the syslog
// severity numbering: Emergency (0) is the most severe, Debug (7) the least.
type Priority int8

// Priorities, most severe first.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// String returns the priority's name as Falco writes it in JSON ("Warning").
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "Debug"
	}
	return priorityNames[p]
}

// AtLeast reports whether p is as severe as min or more.
func (p Priority) AtLeast(min Priority) bool { return p <= min }

// ParsePriority parses a priority name, case-insensitively. It accepts Falco's
// spellings and aliases: "info" and "informational", "warn" and "warning".
func ParsePriority(s string) (Priority, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "emergency", "emerg":
		return PriorityEmergency, nil
	case "alert":
		return PriorityAlert, nil
	case "critical", "crit":
		return PriorityCritical, nil
	case "error", "err":
		return PriorityError, nil
	case "warning", "warn":
		return PriorityWarning, nil
	case "notice":
		return PriorityNotice, nil
	case "informational", "info":
		return PriorityInformational, nil
	case "debug":
		return PriorityDebug, nil
	}
	return PriorityDebug, fmt.Errorf("unknown priority %q (want one of emergency, alert, critical, error, warning, notice, informational, debug)", s)
}

// MarshalText implements encoding.TextMarshaler (used by YAML and JSON).
func (p Priority) MarshalText() ([]byte, error) { return []byte(strings.ToLower(p.String())), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
