package alert

import (
	"crypto/rand"
	"time"
)

// SourceSyscall is the Falco source of alerts raised from syscall events.
const SourceSyscall = "syscall"

// SourceInternal is the source of alerts Vigil raises about itself (queue
// overflows, rule reload failures).
const SourceInternal = "internal"

// Alert is one rule match, ready for delivery.
type Alert struct {
	UUID     string
	Time     time.Time // when the event happened; written as RFC 3339 UTC with nanoseconds
	Rule     string
	Priority Priority
	Source   string // "syscall" for rules on events, "internal" for Vigil's own alerts
	Hostname string
	// Output is the rule's output line with the fields substituted.
	Output string
	// OutputFields are the fields the output references, in order, with
	// typed values (see Field).
	OutputFields []Field
	Tags         []string
	Vigil        Context
}

// Field is one output field. Value is nil (missing, written as null),
// string, bool, int64, uint64, int, float64 or []string.
type Field struct {
	Name  string
	Value any
}

// Context is Vigil's own context for an alert, written under "vigil".
type Context struct {
	// Count is how many identical alerts this one stands for: 1 for a fresh
	// alert; more in the update the coalescer sends when its window closes.
	Count uint64
	// Update marks the update of an alert already delivered (same UUID):
	// Count and LastTime are the news.
	Update bool
	// LastTime is the time of the last coalesced occurrence (zero when
	// Count is 1).
	LastTime time.Time
	// Action is what prevention did ("", "killed", "denied", "dry-run: kill").
	Action string
	// Container is the container context; nil for host processes.
	Container *Container
	// Process is the process that raised the alert, then its ancestors,
	// nearest first.
	Process []Process
}

// Container is the container context of an alert.
type Container struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Image string `json:"image"`
	// Pod namespace and name when the container belongs to a Kubernetes pod.
	PodNamespace string `json:"pod_namespace"`
	PodName      string `json:"pod_name"`
}

// Process is one process in an alert's ancestry.
type Process struct {
	PID     uint32
	Comm    string
	ExePath string
	Args    []string
}

// ContainerID returns the alert's container id, "host" when none.
func (a *Alert) ContainerID() string {
	if a.Vigil.Container == nil || a.Vigil.Container.ID == "" {
		return "host"
	}
	return a.Vigil.Container.ID
}

// ExePath returns the executable path of the process that raised the alert,
// "" when unknown.
func (a *Alert) ExePath() string {
	if len(a.Vigil.Process) == 0 {
		return ""
	}
	return a.Vigil.Process[0].ExePath
}

// Field returns the value of the output field named name.
func (a *Alert) Field(name string) (any, bool) {
	for i := range a.OutputFields {
		if a.OutputFields[i].Name == name {
			return a.OutputFields[i].Value, true
		}
	}
	return nil, false
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b[:])
}
