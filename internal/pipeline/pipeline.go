package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/recorder"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/sensor/interest"
	"github.com/vigilsec/vigil/internal/state"
)

// Source is an event source: the eBPF sensor (*sensor.Sensor), a capture
// (CaptureSource) or a test's.
type Source interface {
	// Run calls fn for each event until ctx is done or the source ends,
	// then returns. fn must not keep the event.
	Run(ctx context.Context, fn func(*event.Event)) error
	Close() error
}

// The per-event stages, in order; their names are guard's.
const (
	stState = iota
	stContainer
	stProfile
	stRecord
	stEngine
	stTap
	numStages
)

var stageNames = [numStages]string{guard.StageState, guard.StageContainer, guard.StageProfile, guard.StageRecord, guard.StageEngine, guard.StageTap}

// Options configure a Pipeline. Every field is optional.
type Options struct {
	// Types the caller asked for; nil or empty is every type. Events of
	// other types (what the table consumes, state.Consumes) stop after Table.
	Types []event.Type
	// Table enriches events with process and fd context (nil: events keep
	// the context they came with, as a capture's do).
	Table *state.Table
	// Containers resolves the container of each event; without it events
	// get Host, or keep their own container when Host is nil too.
	Containers *container.Manager
	Host       *event.Container
	// Profiler records each container event into its workload's profile
	// and raises deviation alerts (nil: no profiling). Its event types
	// join the sensor's interest (SensorOptions, InterestFor).
	Profiler *profile.Learner
	// Recorder records each event of Types (after enrichment, before the
	// rules) for the incidents of alerts (nil: no flight recorder).
	Recorder *recorder.Recorder
	// Engine evaluates the rules (nil: no evaluation, as for trace).
	Engine *engine.Engine
	// MinPriority drops matches of rules less severe (nil: none dropped).
	MinPriority *alert.Priority
	// OnAlert receives the alert of each match at or above MinPriority, on
	// the event goroutine; ev and m are valid only during the call.
	OnAlert func(ev *event.Event, m *engine.Match, al *alert.Alert)
	// Tap sees every event of Types after evaluation (trace's printer,
	// the drift check); ev is valid only during the call.
	Tap func(ev *event.Event)
	// Guard recovers and reports a panic in a stage (nil: one that
	// reports to Internal).
	Guard *guard.Guard
	// Internal receives the internal alerts of the default Guard.
	Internal func(*alert.Alert)
	// Hostname of internal alerts.
	Hostname string
	// Metrics registers the pipeline's counters (nil: not exported; the
	// counters still count).
	Metrics *metrics.Registry
	// Logger; nil discards.
	Logger *slog.Logger
}

// Pipeline runs events through the stages. Build it with New.
type Pipeline struct {
	opts  Options
	log   *slog.Logger
	types []event.Type // as asked, nil: all
	want  event.TypeSet

	cur     *event.Event // the event being evaluated (for onMatch)
	matchFn func(*engine.Match)

	guard       *guard.Guard
	evByType    [event.NumTypes]*metrics.Counter
	matches     *metrics.CounterVec
	matchByRule map[string]*metrics.Counter // event goroutine only
	belowMin    *metrics.Counter

	// started holds the containers whose container event was made
	// (event goroutine only; bounded by maxStarted).
	started map[string]struct{}
}

// maxStarted bounds the containers remembered as started; past it the set
// starts over (a container whose pid 1 execs again after that gets a
// second container event).
const maxStarted = 8192

// New returns a pipeline; it starts nothing.
func New(o Options) *Pipeline {
	p := &Pipeline{opts: o, log: o.Logger, matchByRule: map[string]*metrics.Counter{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if len(o.Types) > 0 {
		p.types = append([]event.Type(nil), o.Types...)
		p.want = event.TypeSetOf(o.Types...)
	} else {
		p.want = event.AllTypes()
	}
	p.matchFn = p.onMatch
	r := o.Metrics
	if r == nil {
		r = metrics.NewRegistry() // private: counts without exporting
	}
	ev := r.CounterVec("vigil_events_total", "Events received from the sensor, by type.", "type")
	for t := event.Type(0); t < event.NumTypes; t++ {
		p.evByType[t] = ev.With(t.String())
	}
	p.matches = r.CounterVec("vigil_rule_matches_total", "Rule matches, by rule and priority (before noise control).", "rule", "priority")
	p.belowMin = r.Counter("vigil_alerts_below_min_priority_total", "Matches discarded by rules.min_priority.")
	p.guard = o.Guard
	if p.guard == nil {
		p.guard = guard.New(guard.Options{Internal: o.Internal, Hostname: o.Hostname, Metrics: r, Logger: p.log})
	}
	return p
}

// SetContext sets the enrichment stages (see Options.Table, Containers and
// Host); it must be called before events flow and before SensorOptions.
func (p *Pipeline) SetContext(table *state.Table, containers *container.Manager, host *event.Container) {
	p.opts.Table, p.opts.Containers, p.opts.Host = table, containers, host
}

// BelowMin counts matches (and other findings) dropped by MinPriority.
func (p *Pipeline) BelowMin() *metrics.Counter { return p.belowMin }

// SensorTypes returns the types to ask the sensor for: the types asked for
// (nil: every type) plus, with a process table, what it consumes
// (state.Consumes).
func (p *Pipeline) SensorTypes() []event.Type {
	if p.types == nil {
		return nil
	}
	out := append([]event.Type(nil), p.types...)
	if p.opts.Table != nil {
		for t := event.Type(1); t < event.NumTypes; t++ {
			if state.Consumes.Has(t) && !p.want.Has(t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// SensorOptions returns the sensor options for this pipeline: base (ring
// size, filters) with Types set to SensorTypes. It is the one place where
// what the sensor sends is derived from the pipeline (the types asked for,
// what the process table needs and the rules in force, Engine.Ruleset()).
//
// When the caller asked for every type and an engine evaluates rules (vigil
// run), the sensor gets Interest instead: it reports only what the rules
// in force and the process table need, and filters opens in the kernel.
func (p *Pipeline) SensorOptions(base sensor.Options) *sensor.Options {
	o := base
	o.Types = p.SensorTypes()
	if p.opts.Engine != nil {
		if in, ok := p.InterestFor(p.opts.Engine.Ruleset()); ok {
			o.Types, o.Interest = nil, &in
		}
	}
	return &o
}

// InterestFor returns what the sensor must report for rs (see
// interest.Of): the rules' types, plus what the process table consumes
// when there is one, and the in-kernel open filter. ok is false when the
// caller narrowed the types (they are what the sensor reports) or there is
// no engine (trace streams every type asked for). The agent calls it again
// on each rules reload (sensor.SetInterest) before swapping the rules in.
func (p *Pipeline) InterestFor(rs *rules.Ruleset) (in sensor.Interest, ok bool) {
	if p.types != nil || p.opts.Engine == nil || rs == nil {
		return sensor.Interest{}, false
	}
	var base event.TypeSet
	if p.opts.Table != nil {
		base = state.Consumes
	}
	in = interest.Of(rs, base)
	if p.opts.Profiler != nil {
		in = interest.With(in, profile.Types, p.opts.Profiler.Roots())
	}
	return in, true
}

// Wants reports whether events of type t go past the process table.
func (p *Pipeline) Wants(t event.Type) bool { return p.want.Has(t) }

// Recorder returns the pipeline's flight recorder (nil without one).
func (p *Pipeline) Recorder() *recorder.Recorder { return p.opts.Recorder }

// Engine returns the pipeline's engine (nil without rules).
func (p *Pipeline) Engine() *engine.Engine { return p.opts.Engine }

// Events returns the number of events of type t handled.
func (p *Pipeline) Events(t event.Type) uint64 {
	if t >= event.NumTypes {
		return 0
	}
	return p.evByType[t].Value()
}

// Panics returns the panics recovered in stage (a guard.Stage* name).
func (p *Pipeline) Panics(stage string) uint64 { return p.guard.Count(stage) }

// Run feeds the source's events through the pipeline until ctx is done or
// the source ends.
func (p *Pipeline) Run(ctx context.Context, src Source) error { return src.Run(ctx, p.Handle) }

// Handle runs one event through the stages. It allocates nothing for an
// event that matches no rule.
func (p *Pipeline) Handle(ev *event.Event) {
	if ev.Type < event.NumTypes {
		p.evByType[ev.Type].Inc()
	}
	p.from(ev, stState)
}

// from runs the stages from st on; a panic in one is recovered and the
// event goes on to the next.
func (p *Pipeline) from(ev *event.Event, st int) {
	defer p.recoverStage(ev, &st)
	for ; st < numStages; st++ {
		switch st {
		case stState:
			if p.opts.Table != nil {
				p.opts.Table.Apply(ev)
			}
			if !p.Wants(ev.Type) {
				// An exec not asked for may still start a container whose
				// container event is.
				if p.opts.Containers != nil && isExec(ev.Type) && p.Wants(event.TypeContainer) {
					ev.Container = p.opts.Containers.Resolve(ev.CgroupID, ev.PID)
					p.containerStarted(ev)
				}
				return
			}
		case stContainer:
			if p.opts.Containers != nil {
				ev.Container = p.opts.Containers.Resolve(ev.CgroupID, ev.PID)
				if isExec(ev.Type) && p.Wants(event.TypeContainer) {
					p.containerStarted(ev)
				}
			} else if p.opts.Host != nil {
				ev.Container = p.opts.Host
			}
		case stProfile:
			if p.opts.Profiler != nil {
				p.opts.Profiler.Observe(ev)
			}
		case stRecord:
			if p.opts.Recorder != nil {
				p.opts.Recorder.Record(ev)
			}
		case stEngine:
			if p.opts.Engine != nil {
				p.cur = ev
				p.opts.Engine.Evaluate(ev, p.matchFn)
				p.cur = nil
			}
		case stTap:
			if p.opts.Tap != nil {
				p.opts.Tap(ev)
			}
		}
	}
}

// isContainerStart reports whether ev is the exec of a container's first
// process: a successful exec, in a container, of the process that is pid 1
// of its pid namespace.
func isContainerStart(ev *event.Event) bool {
	return isExec(ev.Type) && ev.Ret == 0 && ev.Proc != nil && ev.Proc.IDs.VPID == 1 && ev.Container != nil && ev.Container.Type != container.TypeHost
}

func isExec(t event.Type) bool { return t == event.TypeExecve || t == event.TypeExecveat }

// containerStarted evaluates and taps the container event of ev's
// container when ev starts it (isContainerStart), once per container: ev's
// context (process, container, time) with type container. Only live
// enrichment (a container manager and a process table) makes it; a capture
// carries the container events it recorded.
func (p *Pipeline) containerStarted(ev *event.Event) {
	if !isContainerStart(ev) {
		return
	}
	id := ev.Container.FullID
	if id == "" {
		id = ev.Container.ID
	}
	if _, ok := p.started[id]; ok {
		return
	}
	if p.started == nil || len(p.started) >= maxStarted {
		p.started = make(map[string]struct{})
	}
	p.started[id] = struct{}{}
	c := *ev
	c.Type = event.TypeContainer
	c.Exec = nil
	p.evByType[event.TypeContainer].Inc()
	p.from(&c, stEngine)
}

func (p *Pipeline) recoverStage(ev *event.Event, st *int) {
	r := recover()
	if r == nil {
		return
	}
	stage := *st
	p.cur = nil
	p.guard.Report(stageNames[stage], ev.Type.String()+" event", r)
	if stage == stState && !p.Wants(ev.Type) {
		return
	}
	if stage+1 < numStages {
		p.from(ev, stage+1)
	}
}

// onMatch turns an engine match into an alert (on the event goroutine).
func (p *Pipeline) onMatch(m *engine.Match) {
	c, ok := p.matchByRule[m.Rule.Name]
	if !ok {
		c = p.matches.With(m.Rule.Name, m.Rule.Priority.String())
		p.matchByRule[m.Rule.Name] = c
	}
	c.Inc()
	if p.opts.MinPriority != nil && !m.Rule.Priority.AtLeast(*p.opts.MinPriority) {
		p.belowMin.Inc()
		return
	}
	if p.opts.OnAlert == nil {
		return
	}
	ev := p.cur
	p.opts.OnAlert(ev, m, m.Alert(ev))
}

// CaptureSource reads a capture (JSON lines written by `vigil trace
// --json`, see event.CaptureReader) as a Source.
type CaptureSource struct {
	rd *event.CaptureReader
}

// NewCaptureSource reads a capture from r; name is used in errors.
func NewCaptureSource(r io.Reader, name string) *CaptureSource {
	rd := event.NewCaptureReader(r)
	rd.Name = name
	return &CaptureSource{rd: rd}
}

// Run calls fn for each event in order; it returns nil at the end of the
// capture, the reader's positioned error on a bad line.
func (c *CaptureSource) Run(ctx context.Context, fn func(*event.Event)) error {
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		var ev event.Event
		if err := c.rd.Next(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		fn(&ev)
	}
}

// Close does nothing: the caller owns the reader.
func (c *CaptureSource) Close() error { return nil }
