package rules

import (
	"fmt"

	"github.com/vigilsec/vigil/internal/alert"
)

// Priority is a rule's severity. It is the alert's priority (package alert
// owns the names, the order and the parsing), so a match's priority is the
// alert's without conversion.
type Priority = alert.Priority

// Priorities, most severe first.
const (
	PriorityEmergency     = alert.PriorityEmergency
	PriorityAlert         = alert.PriorityAlert
	PriorityCritical      = alert.PriorityCritical
	PriorityError         = alert.PriorityError
	PriorityWarning       = alert.PriorityWarning
	PriorityNotice        = alert.PriorityNotice
	PriorityInformational = alert.PriorityInformational
	PriorityDebug         = alert.PriorityDebug
)

// ParsePriority parses a priority name, case-insensitively, with Falco's
// spellings ("info" for informational).
func ParsePriority(s string) (Priority, error) {
	p, err := alert.ParsePriority(s)
	if err != nil {
		return -1, fmt.Errorf("invalid priority %q (want emergency, alert, critical, error, warning, notice, informational or debug)", s)
	}
	return p, nil
}
