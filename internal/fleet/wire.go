package fleet

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/output"
	"github.com/vigilsec/vigil/internal/rules"
)

// The subjects and names agents and hub share.
const (
	// Stream is the JetStream stream of everything agents send: alerts
	// (prevention decisions are alerts too), heartbeats, rule
	// acknowledgements.
	Stream = "VIGIL"
	// RulesBucket is the JetStream key-value bucket the hub puts rule
	// bundles in; agents watch RulesKey.
	RulesBucket = "vigil_rules"
	RulesKey    = "bundle"
	// ProfilesBucket is the JetStream key-value bucket the hub puts the
	// fleet's merged workload profiles in (ProfileKey); agents watch it.
	ProfilesBucket = "vigil_profiles"

	subjectAlert     = "vigil.alert."
	subjectHeartbeat = "vigil.heartbeat."
	subjectAck       = "vigil.ack."
	subjectIncident  = "vigil.incident."
	subjectProfile   = "vigil.profile."
)

// StreamSubjects are the stream's subjects.
var StreamSubjects = []string{subjectAlert + "*", subjectHeartbeat + "*", subjectAck + "*", subjectIncident + "*", subjectProfile + "*"}

// AlertSubject, HeartbeatSubject and AckSubject are node's subjects: a
// node's credentials let it publish on these only.
func AlertSubject(node string) string     { return subjectAlert + node }
func HeartbeatSubject(node string) string { return subjectHeartbeat + node }
func AckSubject(node string) string       { return subjectAck + node }
func IncidentSubject(node string) string  { return subjectIncident + node }

// ProfileSubject is node's subject for its learned workload profiles (the
// JSON document of internal/profile, each change of one).
func ProfileSubject(node string) string { return subjectProfile + node }

// NodeSubjects are the subjects node may publish on.
func NodeSubjects(node string) []string {
	return []string{AlertSubject(node), HeartbeatSubject(node), AckSubject(node), IncidentSubject(node), ProfileSubject(node)}
}

// SubjectKind splits a stream subject into its kind ("alert",
// "heartbeat", "ack") and node; ok false for any other subject.
func SubjectKind(subject string) (kind, node string, ok bool) {
	rest, found := strings.CutPrefix(subject, "vigil.")
	if !found {
		return "", "", false
	}
	kind, node, ok = strings.Cut(rest, ".")
	return kind, node, ok && node != ""
}

// NodeName turns a host name into a node name usable as one subject token:
// letters, digits, '-' and '_' are kept, anything else becomes '_'.
func NodeName(host string) string {
	b := []byte(host)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// MsgID is the JetStream message id of an alert: its UUID, and for the
// coalescer's update of an alert (same UUID) the UUID and the count, so
// that the update is not taken for a copy of the first.
func MsgID(a *alert.Alert) string {
	if a.Vigil.Update {
		return a.UUID + "+" + strconv.FormatUint(a.Vigil.Count, 10)
	}
	return a.UUID
}

// IncidentMsgID is the message id of an incident: the alert's UUID, and
// whether it is complete (the incident of an alert is sent when its after
// window closes; an agent stopping sends what it has).
func IncidentMsgID(inc *alert.Incident) string {
	if inc.Complete {
		return "incident:" + inc.UUID
	}
	return "incident-partial:" + inc.UUID
}

// Heartbeat is what a node tells the hub about itself every interval.
type Heartbeat struct {
	Node    string    `json:"node"`
	Time    time.Time `json:"time"`
	Version string    `json:"version"`
	// RulesVersion is the version of the hub's rule bundle in force (0:
	// none pushed); RulesSHA256 and PolicySHA256 fingerprint the rule and
	// policy files in force.
	RulesVersion uint64 `json:"rules_version"`
	RulesSHA256  string `json:"rules_sha256"`
	PolicySHA256 string `json:"policy_sha256"`
	// EventsPerSec is the event rate since the last heartbeat.
	EventsPerSec float64 `json:"events_per_sec"`
	// Lost is the sensor's lost events since the start, by reason.
	Lost     map[string]uint64 `json:"lost"`
	RSSBytes uint64            `json:"rss_bytes"`
	// Spooled is the messages waiting in the node's spool, SpoolDropped
	// the messages its spool dropped (full).
	Spooled      int    `json:"spooled"`
	SpoolDropped uint64 `json:"spool_dropped"`
}

// Bundle is a version of the rules the hub distributes: rule files added
// after each node's own.
type Bundle struct {
	Version uint64    `json:"version"`
	Time    time.Time `json:"time"`
	// RollbackOf is the version whose files this one restores (0: none).
	RollbackOf uint64       `json:"rollback_of,omitempty"`
	Files      []BundleFile `json:"files"`
}

// BundleFile is one rules file of a bundle; Name is a base name ending in
// .yaml or .yml.
type BundleFile struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// Ack is a node's answer to a bundle: in force, or refused with the
// positioned errors (the node keeps the rules it had).
type Ack struct {
	Node    string       `json:"node"`
	Version uint64       `json:"version"`
	OK      bool         `json:"ok"`
	Error   string       `json:"error,omitempty"`
	Errors  []Diagnostic `json:"errors,omitempty"`
	Time    time.Time    `json:"time"`
}

// Diagnostic is one positioned error of a refused bundle (rules.Diagnostic
// on the wire).
type Diagnostic struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	Msg  string `json:"msg"`
}

// Diagnostics converts the errors of ds for the wire.
func Diagnostics(ds rules.Diagnostics) []Diagnostic {
	var out []Diagnostic
	for _, d := range ds.Errors() {
		out = append(out, Diagnostic{File: d.File, Line: d.Line, Col: d.Col, Kind: d.Kind, Name: d.Name, Msg: d.Msg})
	}
	return out
}

// InboxPrefix is node's reply-subject prefix: its permissions let it
// subscribe there only, so no node reads another's replies.
func InboxPrefix(node string) string { return "_INBOX_" + node }

// ClientTLS is a mutual-TLS client configuration: the CA that signed the
// server, and this side's certificate and key.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	return output.TLSConfig(output.TLSOptions{CAFile: caFile, CertFile: certFile, KeyFile: keyFile})
}

// CheckBundleFiles rejects a bundle a node could not write as files of its
// pushed-rules directory: no files, a name that is not a base name ending
// in .yaml or .yml, a name twice.
func CheckBundleFiles(files []BundleFile) error {
	if len(files) == 0 {
		return fmt.Errorf("bundle: no files")
	}
	seen := map[string]bool{}
	for i, f := range files {
		n := f.Name
		if n == "" || strings.ContainsAny(n, "/\\\x00") || strings.HasPrefix(n, ".") ||
			!(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			return fmt.Errorf("bundle: files[%d]: name %q: want a base name ending in .yaml or .yml", i, n)
		}
		if seen[n] {
			return fmt.Errorf("bundle: files[%d]: name %q twice", i, n)
		}
		seen[n] = true
	}
	return nil
}
