package rules

import (
	"fmt"
	"strings"
)

// Priority is a rule's severity, from Emergency (most severe, 0) to Debug.
type Priority int8

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

// String returns the name Falco prints in alerts ("Warning").
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "Unknown"
	}
	return priorityNames[p]
}

// ParsePriority parses a priority name, case-insensitively ("info" is
// accepted for informational).
func ParsePriority(s string) (Priority, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if l == "info" {
		return PriorityInformational, nil
	}
	for i, n := range priorityNames {
		if strings.ToLower(n) == l {
			return Priority(i), nil
		}
	}
	return -1, fmt.Errorf("invalid priority %q (want emergency, alert, critical, error, warning, notice, informational or debug)", s)
}
