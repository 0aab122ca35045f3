package console

import (
	"context"
	"errors"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/store"
)

// Source is what the console shows and changes. The standalone agent
// implements it over its own store for its own node (internal/agent); the
// hub implements it over the fleet's store. Every method may be called
// from many goroutines at once.
type Source interface {
	// Alerts returns the alerts q selects, newest first, at most q.Limit.
	Alerts(ctx context.Context, q Query) ([]*alert.Alert, error)
	// Alert returns one alert and its incident (nil when none was
	// recorded); a nil alert and no error when there is no such UUID.
	Alert(ctx context.Context, uuid string) (*alert.Alert, *alert.Incident, error)
	// Hits counts the alerts of each rule per bucket of step from since
	// to until (bucket i starts at since + i*step), most alerts first.
	Hits(ctx context.Context, since, until time.Time, step time.Duration) ([]RuleHits, error)
	// Nodes returns the nodes: for an agent, itself.
	Nodes(ctx context.Context) ([]Node, error)
	// Reports returns the newest limit uploaded reports of kind
	// (ReportPosture, ReportCompliance, ReportImage), newest first.
	Reports(ctx context.Context, kind string, limit int) ([]Report, error)
	// PutReport stores an uploaded report (its JSON body, checked by the
	// console already) and returns its id.
	PutReport(ctx context.Context, kind, name string, body []byte) (int64, error)
	// Subscribe returns the live feed of new alerts (and updates of
	// delivered ones, same UUID) until ctx is done; a subscriber that does
	// not keep up loses alerts, never blocks the source (see Feed).
	Subscribe(ctx context.Context) <-chan *alert.Alert
	// PushRules is the admin's rules action. Data empty: reload the rules
	// in force (the agent reloads its rule files); Data set: distribute
	// that rule file (the hub; an agent answers ErrUnsupported). The
	// result says what is in force; a rule file with errors is an error
	// carrying rules' positioned diagnostics.
	PushRules(ctx context.Context, name string, data []byte) (string, error)
}

// ErrUnsupported is returned by a Source for what it does not do.
var ErrUnsupported = errors.New("not supported by this source")

// Query selects alerts. Zero fields select everything.
type Query struct {
	Since, Until time.Time
	Rule         string
	// Priority, when set, keeps alerts at that priority or more severe.
	Priority *alert.Priority
	// Node (hostname), Namespace, Pod and Image (the container's image
	// reference) match exactly.
	Node, Namespace, Pod, Image string
	// Limit is the most alerts returned, the newest (100 when 0).
	Limit int
}

// RuleHits is one rule's alert count per bucket (the stores' type, of
// internal/store).
type RuleHits = store.RuleHits

// Node is one node as the console shows it.
type Node struct {
	Name     string    `json:"name"`
	Alive    bool      `json:"alive"`
	LastSeen time.Time `json:"last_seen"`
	Version  string    `json:"version"`
	// Rules says which rules are in force (files and count, or the hub's
	// rules version).
	Rules string `json:"rules"`
	// Policies says which prevention policies are in force.
	Policies string `json:"policies"`
	// EventsPerSec over the last interval; Lost is the total of events
	// lost, LostByReason by the sensor's reasons.
	EventsPerSec float64           `json:"events_per_sec"`
	Lost         uint64            `json:"lost"`
	LostByReason map[string]uint64 `json:"lost_by_reason,omitempty"`
	RSSBytes     uint64            `json:"rss_bytes"`
}

// Report kinds.
const (
	ReportPosture    = "posture"    // vigil k8s audit -f json
	ReportCompliance = "compliance" // vigil compliance report -f json
	ReportImage      = "image"      // vigil image scan -f json
)

// Report is one uploaded result (the stores' type, of internal/store).
type Report = store.Report
