// Package guard keeps a panic in one per-item stage of the agent (an
// event's enrichment or evaluation, an alert's delivery, a response job, a
// prevention decision) from taking the agent down: the panic is recovered,
// counted by stage (vigil_panics_total{stage}), logged with its stack and
// reported as the internal alert "Vigil stage panic" (priority Error, at
// most one per stage per interval, with the count since the last one); the
// stage then goes on with the next item.
package guard

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/metrics"
)

// Stage names: the fixed label set of vigil_panics_total.
const (
	StageState      = "state"      // process and fd table
	StageContainer  = "container"  // container resolution
	StageProfile    = "profile"    // workload profiling and its deviation alerts
	StageEngine     = "engine"     // rules evaluation and the alert of a match
	StageTap        = "tap"        // per-event checks after the rules (drift, trace's printer)
	StageRecord     = "recorder"   // the flight recorder (incident context)
	StageOutput     = "output"     // an output writing an alert
	StageResponse   = "response"   // a rule's response actions
	StagePrevention = "prevention" // a prevention decision turned into an alert
)

// Stages lists every stage.
var Stages = []string{StageState, StageContainer, StageProfile, StageRecord, StageEngine, StageTap, StageOutput, StageResponse, StagePrevention}

// RulePanic is the rule name of the internal alert about a recovered panic.
const RulePanic = "Vigil stage panic"

// DefaultInterval is the least time between two alerts of one stage.
const DefaultInterval = time.Minute

// Options configure a Guard. Every field is optional.
type Options struct {
	// Internal receives the alerts; nil: panics are counted and logged only.
	Internal func(*alert.Alert)
	Hostname string
	// Metrics exports vigil_panics_total (nil: counted privately).
	Metrics *metrics.Registry
	// Logger; nil discards.
	Logger *slog.Logger
	// Interval between two alerts of one stage; 0 means DefaultInterval.
	Interval time.Duration
}

// Guard counts and reports recovered panics. Its methods may be called
// from any goroutine.
type Guard struct {
	opts     Options
	log      *slog.Logger
	counters map[string]*metrics.Counter

	mu    sync.Mutex
	last  map[string]time.Time
	since map[string]uint64
}

// New returns a Guard.
func New(o Options) *Guard {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	g := &Guard{opts: o, log: o.Logger, counters: map[string]*metrics.Counter{},
		last: map[string]time.Time{}, since: map[string]uint64{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	r := o.Metrics
	if r == nil {
		r = metrics.NewRegistry()
	}
	v := r.CounterVec("vigil_panics_total", "Panics recovered in a per-item stage, by stage; the stage went on with the next item.", "stage")
	for _, s := range Stages {
		g.counters[s] = v.With(s)
	}
	return g
}

// Recover is deferred by a stage: it recovers a panic and reports it
// (detail says what was being handled, e.g. "openat event", "output
// http"). It does nothing when there is no panic.
func (g *Guard) Recover(stage, detail string) {
	if r := recover(); r != nil {
		g.Report(stage, detail, r)
	}
}

// Report counts, logs and alerts a panic the caller recovered.
func (g *Guard) Report(stage, detail string, r any) {
	if c := g.counters[stage]; c != nil {
		c.Inc()
	}
	why := strings.ReplaceAll(fmt.Sprint(r), "\n", "; ")
	g.log.Error("panic recovered; the stage goes on with the next item", "stage", stage, "on", detail,
		"panic", why, "stack", string(debug.Stack()))
	now := time.Now()
	g.mu.Lock()
	g.since[stage]++
	if last, ok := g.last[stage]; (ok && now.Sub(last) < g.opts.Interval) || g.opts.Internal == nil {
		g.mu.Unlock()
		return
	}
	n := g.since[stage]
	g.last[stage], g.since[stage] = now, 0
	g.mu.Unlock()
	g.opts.Internal(alert.NewInternal(RulePanic, alert.PriorityError, g.opts.Hostname, now,
		fmt.Sprintf("Vigil stage %s panicked on %s, %d time(s) since the last alert; it goes on with the next item (stage=%s panic=%s)",
			stage, detail, n, stage, why),
		alert.Field{Name: "vigil.stage", Value: stage}, alert.Field{Name: "vigil.panic", Value: why},
		alert.Field{Name: "vigil.panics", Value: n}, alert.Field{Name: "vigil.on", Value: detail}))
}

// Count returns the panics recovered in stage.
func (g *Guard) Count(stage string) uint64 {
	if c := g.counters[stage]; c != nil {
		return c.Value()
	}
	return 0
}
