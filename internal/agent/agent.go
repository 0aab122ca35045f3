package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/console"
	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/imagewatch"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/output"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/progress"
	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/recorder"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/state"
	"github.com/vigilsec/vigil/internal/store"
)

// Rule names of the agent's internal alerts.
const (
	RuleReloadFailed = "Vigil rules reload failed"
)

// Source is an event source: the eBPF sensor, or a test's.
type Source = pipeline.Source

// Options are what the configuration does not cover. nil means defaults.
type Options struct {
	// Logger; default: text to stderr at the configured level.
	Logger *slog.Logger
	// Progress shows Run's start-up steps (nil: nothing); Run ends it
	// when the agent is running or fails to start.
	Progress *progress.Bar
	// Stdout receives the stdout output; default os.Stdout.
	Stdout io.Writer
	// Source replaces the eBPF sensor (tests).
	Source Source
	// NoSignals: Run does not handle SIGHUP (reload) and SIGUSR1 (reopen).
	NoSignals bool
	// DrainTimeout bounds how long shutdown waits for the outputs; default 10s.
	DrainTimeout time.Duration
	// Tap sees every evaluated event after the rules, on the event
	// goroutine (tests record the agent's events as a capture with it); ev
	// is valid only during the call.
	Tap func(ev *event.Event)
}

// Agent is a configured pipeline.
type Agent struct {
	cfg      *config.Config
	opts     Options
	log      *slog.Logger
	hostname string

	reg *metrics.Registry
	// overflow is where every bounded queue reports its drops (metrics,
	// the internal alert queue.RuleOverflow).
	overflow *queue.Overflow
	// guard recovers and reports panics of the per-item stages.
	guard *guard.Guard
	disp  *output.Dispatcher
	store *alertStore // nil when disabled
	coal  *alert.Coalescer
	eng   *engine.Engine
	pipe  *pipeline.Pipeline
	// learner profiles workloads (nil unless profiles.enabled); see
	// profiles.go.
	learner *profile.Learner
	audit   *k8sAudit          // nil unless k8s_audit.enabled
	rec     *recorder.Recorder // flight recorder; nil when recorder.enabled is false
	api     *api.Server
	feed    *console.Feed // the console's live alerts (nil without the console)
	minPri  alert.Priority

	// Set by Run.
	table      *state.Table
	containers *container.Manager
	host       *event.Container
	realSensor *sensor.Sensor

	reloadMu sync.Mutex
	ruleSig  string
	polSig   string // signature of policy.files as last loaded (under reloadMu)

	policies []*policy.Policy // prevention policies (none: prevention off)
	resp     *responder       // response actions of rules (response.go)
	pol      policyState      // guards policies across reloads (policyreload.go)
	gate     gateState        // exec gate admissions (prevention.go)

	// Drift and running-image findings (nil: both off); see images.go.
	images       *imagewatch.Watcher
	imageScanner *image.Scanner

	// Metrics the event goroutine updates (the pipeline counts events,
	// matches and matches below min_priority).
	coalesced   *metrics.Counter
	reloadOK    *metrics.Counter
	reloadErr   *metrics.Counter
	sensorStats atomic.Pointer[sensor.Stats] // snapshot of the stats goroutine (watchSensor)
	// Lost events already reported by an internal alert, and when
	// (watchSensor's goroutine only).
	lostReported uint64
	lostAlertAt  int64
	running      atomic.Bool
	enf          atomic.Pointer[enforce.Enforcer] // set by Run when policies are in force
	// What the node offers (probeHost), and whether the sensor loaded.
	features     atomic.Pointer[[]sensor.Feature]
	sensorLoaded atomic.Bool

	// The fleet client (nil unless hub.url), and the heartbeat's last
	// event count (fleet.go).
	fleet    *fleet.Client
	hbLast   time.Time
	hbEvents uint64
}

// New builds an agent from a validated configuration: outputs, store (its
// directory is created), rules (rules that do not compile are skipped with
// an internal alert, or are an error with rules.on_error: fail), engine,
// metrics and the HTTP endpoint. It needs no privilege; Run does.
func New(cfg *config.Config, opts *Options) (*Agent, error) {
	if err := prepareHubRules(cfg); err != nil {
		return nil, err
	}
	l, err := load(cfg)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, minPri: cfg.Rules.MinPriority}
	if opts != nil {
		a.opts = *opts
	}
	if a.opts.DrainTimeout <= 0 {
		a.opts.DrainTimeout = 10 * time.Second
	}
	a.log = a.opts.Logger
	if a.log == nil {
		var lvl slog.Level
		_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
		a.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	a.hostname = cfg.Hostname
	if a.hostname == "" {
		a.hostname, _ = os.Hostname()
	}
	a.reg = metrics.NewRegistry()
	a.overflow = queue.NewOverflow(queue.OverflowOptions{Interval: cfg.Outputs.OverflowAlertInterval,
		Hostname: a.hostname, Logger: a.log})
	a.overflow.Register(a.reg)
	a.guard = guard.New(guard.Options{Internal: a.deliver, Hostname: a.hostname, Metrics: a.reg, Logger: a.log})

	rs := l.rules
	for _, d := range rs.Diags.Warnings() {
		a.log.Warn("rules", "warning", d.Error())
	}
	a.ruleSig = rulesSignature(cfg.Rules.Files)
	a.polSig = rulesSignature(cfg.Policy.Files)
	a.policies = l.policies
	a.eng = engine.New(rs, &engine.Options{Hostname: a.hostname, StateMaxEntries: cfg.Rules.StateMaxKeys,
		StateMaxBytes: cfg.Rules.StateMaxMB << 20})
	a.log.Info("rules loaded", "rules", len(rs.Rules), "files", len(rs.Files))

	if err := a.buildOutputs(); err != nil {
		return nil, err
	}
	a.learner = a.newLearner() // before the fleet, which hands it the hub's profiles
	if cfg.Hub.URL != "" {
		if err := a.newFleet(); err != nil {
			a.closeSinks()
			return nil, err
		}
	}
	if cfg.Store.Enabled {
		a.store = newAlertStore(cfg.Store, a.overflow, a.log, a.raiseInternal)
	}
	a.coal = alert.NewCoalescer(cfg.Dedup.Window, cfg.Dedup.Rules, a.deliver)
	if cfg.HTTP.Enabled {
		tok := l.token
		if l.tokenWarning != "" {
			a.log.Warn(l.tokenWarning)
		}
		var q api.Querier
		if a.store != nil {
			q = a.store
		}
		opts := api.Options{Addr: cfg.HTTP.Listen, Token: tok, Metrics: a.reg.Handler(), Store: q, Health: a.health,
			MaxConns: fdBudget(cfg.HTTP.MaxConnections, a.log), TLS: l.tls}
		if con := a.newConsole(l); con != nil {
			opts.Console = con
		}
		a.api = api.New(opts)
		if tok == "" {
			a.log.Info("alerts API disabled: no token configured (http.token_file)")
		}
	}
	a.rec = a.newRecorder()
	a.pipe = pipeline.New(pipeline.Options{Types: eventTypes(cfg.Sensor.EventTypes), Engine: a.eng, Profiler: a.learner, Recorder: a.rec,
		MinPriority: &a.minPri, OnAlert: a.onAlert, Tap: a.tap, Guard: a.guard, Hostname: a.hostname,
		Metrics: a.reg, Logger: a.log})
	if a.audit, err = a.newK8sAudit(rs); err != nil {
		a.closeSinks()
		return nil, err
	}
	a.newImageWatch()
	a.registerMetrics()
	a.registerHostMetrics()
	a.resp = newResponder(a.reg, cfg.DryRun, a.overflow)
	a.registerImageMetrics()
	a.reportBroken(rs)
	return a, nil
}

func (a *Agent) buildOutputs() error {
	o := &a.cfg.Outputs
	a.disp = output.NewDispatcher(output.Options{Overflow: a.overflow, Guard: a.guard, Logger: a.log})
	fail := func(err error) error {
		a.disp.Close(context.Background())
		return fmt.Errorf("outputs: %w", err)
	}
	format := func(s string) output.Format { f, _ := output.ParseFormat(s); return f }
	if s := o.Stdout; s.Enabled {
		w := a.opts.Stdout
		if w == nil {
			w = os.Stdout
		}
		a.disp.Add(output.NewWriter("stdout", w, format(s.Format)), s.MinPriority, s.QueueSize)
	}
	if f := o.File; f.Enabled {
		out, err := output.NewFile(output.FileOptions{Path: f.Path, Format: format(f.Format),
			MaxSize: int64(f.MaxSizeMB) << 20, MaxBackups: f.MaxBackups})
		if err != nil {
			return fail(err)
		}
		a.disp.Add(out, f.MinPriority, f.QueueSize)
	}
	if s := o.Syslog; s.Enabled {
		a.disp.Add(output.NewSyslog(output.SyslogOptions{Network: s.Network, Address: s.Address,
			Facility: config.Facilities[s.Facility], AppName: s.AppName, Hostname: a.hostname, Format: format(s.Format)}),
			s.MinPriority, s.QueueSize)
	}
	if h := o.HTTP; h.Enabled {
		out, err := output.NewHTTP(httpOutputOptions(h))
		if err != nil {
			return fail(err)
		}
		a.disp.Add(out, h.MinPriority, h.QueueSize)
	}
	if p := o.Program; p.Enabled {
		a.disp.Add(output.NewProgram(output.ProgramOptions{Command: p.Command, Format: format(p.Format), Stderr: os.Stderr}),
			p.MinPriority, p.QueueSize)
	}
	return nil
}

// closeSinks closes the outputs and the store (New failed or Run ended).
func (a *Agent) closeSinks() {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.DrainTimeout)
	defer cancel()
	if err := a.disp.Close(ctx); err != nil {
		a.log.Warn("close outputs", "err", err)
	}
	if a.fleet != nil {
		// After the outputs: the hub output has drained into the client;
		// what the spool holds is sent now if the hub is there (bounded),
		// else on the next start.
		a.fleet.Flush(ctx)
		a.fleet.Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Warn("close store", "err", err)
		}
	}
}

func (a *Agent) health() error {
	if !a.running.Load() {
		return errors.New("starting or stopping")
	}
	return a.gateHealth()
}

// Registry returns the agent's metrics registry.
func (a *Agent) Registry() *metrics.Registry { return a.reg }

// Store returns the alert store (nil when disabled).
func (a *Agent) Store() *store.Store {
	if a.store == nil {
		return nil
	}
	return a.store.get()
}

// Outputs returns the outputs' counters.
func (a *Agent) Outputs() []output.Stats { return a.disp.Stats() }

// Ruleset returns the rules in force.
func (a *Agent) Ruleset() *rules.Ruleset { return a.eng.Ruleset() }

// reloadFailed logs a failed reload of what ("rules", "policy"; kept names
// the things kept in force) and raises the internal alert rule saying the
// previous ones stay in force.
func (a *Agent) reloadFailed(rule, what, kept string, err error) {
	a.log.Error(what+" reload failed; keeping the "+kept+" in force", "err", err)
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	a.deliver(alert.NewInternal(rule, alert.PriorityError, a.hostname, time.Now(),
		"Vigil "+what+" reload failed, the previous "+kept+" stay in force (error="+msg+")",
		alert.Field{Name: "vigil.error", Value: msg}))
}

// Reload loads the rules again and swaps them in. On error the rules in
// force stay, the error is logged, raised as an internal alert and
// returned. A panic while reloading is such an error too (see guardReload).
func (a *Agent) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	return a.guardReload(a.reload)
}

// errReloadPanic matches the error of a reload that panicked.
var errReloadPanic = errors.New("internal error")

// guardReload runs a reload step; a panic in it becomes a failed reload
// (counted, logged with its stack, raised as the internal alert, the rules
// and policies in force kept) instead of ending the agent.
func (a *Agent) guardReload(step func() error) (err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		// Where: the first frame outside the runtime (the panicking code).
		where := "unknown"
		pcs := make([]uintptr, 16)
		frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
		for {
			f, more := frames.Next()
			if !strings.HasPrefix(f.Function, "runtime.") {
				where = fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
				break
			}
			if !more {
				break
			}
		}
		err = fmt.Errorf("reload: %w: panic: %v at %s", errReloadPanic, p, where)
		a.log.Error("reload panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		a.reloadErr.Inc()
		a.reloadFailed(RuleReloadFailed, "rules", "rules and policies", err)
	}()
	return step()
}

// reload is Reload's work, under reloadMu.
func (a *Agent) reload() error {
	polErr := a.reloadPolicies()
	a.ruleSig = rulesSignature(a.cfg.Rules.Files)
	// A reload with errors keeps the rules in force whatever on_error says:
	// they are complete, the new set would not be.
	rs, err := loadRules(a.cfg.Rules, config.RulesOnErrorFail)
	if err != nil {
		a.reloadErr.Inc()
		a.reloadFailed(RuleReloadFailed, "rules", "rules", err)
		return errors.Join(err, polErr)
	}
	if a.realSensor != nil {
		// The sensor reports what the new rules need before they are in.
		if in, ok := a.pipe.InterestFor(rs); ok {
			if err := a.realSensor.SetInterest(in); err != nil {
				a.log.Warn("sensor interest not updated; the previous one stays", "err", err)
			}
		}
	}
	a.eng.Swap(rs)
	if a.audit != nil {
		a.audit.eng.Swap(rs)
	}
	a.reloadOK.Inc()
	a.log.Info("rules reloaded", "rules", len(rs.Rules))
	return polErr
}

// raiseInternal delivers an internal alert (source internal, tag
// vigil_internal) about the agent itself.
func (a *Agent) raiseInternal(rule string, pri alert.Priority, output string, fields ...alert.Field) {
	a.deliver(alert.NewInternal(rule, pri, a.hostname, time.Now(), output, fields...))
}

// deliver hands an alert to the outputs and the store. It never blocks.
func (a *Agent) deliver(al *alert.Alert) {
	a.disp.Send(al)
	if a.store != nil {
		a.store.Add(al)
	}
	if a.feed != nil {
		a.feed.Publish(al)
	}
}

// onAlert takes the alert of a match (on the event goroutine): response
// actions, noise control, delivery.
func (a *Agent) onAlert(ev *event.Event, m *engine.Match, al *alert.Alert) {
	if len(m.Rule.Actions) > 0 {
		if a.rec != nil {
			a.rec.Alert(ev, al)
		}
		a.respond(ev, m.Rule.Actions, al) // delivered after the actions, never coalesced
		return
	}
	if !a.coal.Offer(al) {
		a.coalesced.Inc()
		return
	}
	if a.rec != nil {
		a.rec.Alert(ev, al)
	}
	a.deliver(al)
}

// tap sees each evaluated event: the drift check of execs, Options.Tap.
func (a *Agent) tap(ev *event.Event) {
	if a.images != nil {
		a.images.CheckExec(ev)
	}
	if a.opts.Tap != nil {
		a.opts.Tap(ev)
	}
}

// handle is the per-event callback, on the source's goroutine: the
// pipeline, then the sensor's counters.
func (a *Agent) handle(ev *event.Event) {
	a.pipe.Handle(ev)
}

// RuleEventsLost is the rule name of the internal alert about events the
// sensor lost.
const RuleEventsLost = "Vigil sensor events lost"

// lostAlertInterval is the least time between two RuleEventsLost alerts;
// the first loss is reported within a second (watchSensor's tick).
const lostAlertInterval = 10 * time.Second

// watchSensor snapshots the sensor's counters every second (for /metrics)
// and raises RuleEventsLost when events were lost since the last alert.
func (a *Agent) watchSensor(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			st := a.realSensor.Stats()
			a.sensorStats.Store(&st)
			a.checkLost(&st, now.UnixNano())
		}
	}
}

// checkLost raises an internal alert when the sensor lost events since the
// last alert, at most every lostAlertInterval: how many, by reason, and the
// types that lost most (the tiers say which were shed first).
func (a *Agent) checkLost(st *sensor.Stats, now int64) {
	if st.Lost <= a.lostReported || now-a.lostAlertAt < int64(lostAlertInterval) {
		return
	}
	n := st.Lost - a.lostReported
	a.lostReported, a.lostAlertAt = st.Lost, now
	full, shed, bad := st.ByReason(sensor.ReasonRingbufFull), st.ByReason(sensor.ReasonShed), st.ByReason(sensor.ReasonDecodeFailed)
	byType := lostByType(st, 5)
	a.deliver(alert.NewInternal(RuleEventsLost, alert.PriorityCritical, a.hostname, time.Unix(0, now),
		fmt.Sprintf("Vigil sensor lost %d events: detection may have missed activity (ringbuf_full=%d shed=%d decode_failed=%d total=%d types=%s)",
			n, full, shed, bad, st.Lost, byType),
		alert.Field{Name: "vigil.lost", Value: n}, alert.Field{Name: "vigil.ringbuf_full", Value: full},
		alert.Field{Name: "vigil.shed", Value: shed}, alert.Field{Name: "vigil.decode_failed", Value: bad},
		alert.Field{Name: "vigil.total_lost", Value: st.Lost}, alert.Field{Name: "vigil.lost_types", Value: byType}))
}

// lostByType names the (at most) max types with the most lost events since
// the start, as "type:count,...", most first.
func lostByType(st *sensor.Stats, max int) string {
	type tc struct {
		t event.Type
		n uint64
	}
	var all []tc
	for t := event.Type(1); t < event.NumTypes; t++ {
		var n uint64
		for r := sensor.Reason(0); r < sensor.NumReasons; r++ {
			if r.Lost() {
				n += st.Drops[r][t]
			}
		}
		if n > 0 {
			all = append(all, tc{t, n})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	var b strings.Builder
	for i, x := range all {
		if i == max {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%v:%d", x.t, x.n)
	}
	return b.String()
}

// eventTypes turns the configured names and categories into types (nil:
// every type). config.Validate has rejected unknown names already.
func eventTypes(names []string) []event.Type {
	if len(names) == 0 {
		return nil
	}
	s, _ := event.ParseTypes(names...)
	return s.Types()
}

// containerOptions maps the configured sockets onto the runtimes.
func containerOptions(socks []string, log *slog.Logger, ov *queue.Overflow) container.Options {
	o := container.SocketOptions(socks)
	o.Logger, o.Overflow = log, ov
	return o
}

// Run runs the pipeline until ctx is done, then shuts down in order and
// returns. It closes the outputs and the store: an Agent runs once.
func (a *Agent) Run(ctx context.Context) (err error) {
	defer a.closeSinks()
	bar := a.opts.Progress
	defer bar.Done()
	bar.Stage("starting")
	// Released a first time now, while little else runs: the page cache
	// then holds the binary by small pages, so the release once start-up
	// is done is not undone by the large folios that busy goroutines
	// (the garbage collector, the runtime's own code) fault back in
	// between its unmapping and its page cache drop.
	_, _ = releaseBinaryPages()

	// Listen first: a busy port fails the start before the sensor loads.
	var ln net.Listener
	if a.api != nil {
		mode, _ := a.cfg.HTTP.SocketFileMode() // validated
		if ln, err = api.Listen(a.cfg.HTTP.Listen, mode); err != nil {
			return fmt.Errorf("agent: http: %w", err)
		}
		defer ln.Close()
	}

	a.table, err = state.New(state.Config{})
	if err != nil {
		a.log.Warn("process table disabled", "err", err)
		a.table = nil
	}
	a.host = &event.Container{ID: "host", Type: "host", MetadataKnown: true}
	bar.Stage("connecting to container runtimes")
	if cm, err := container.New(containerOptions(a.cfg.Containers.Sockets, a.log, a.overflow)); err != nil {
		a.log.Warn("container context disabled", "err", err)
	} else {
		a.containers = cm
		a.host = cm.Host()
		if a.learner != nil {
			a.learner.SetResolver(cm.Resolve) // held events of containers described since
		}
	}
	a.pipe.SetContext(a.table, a.containers, a.host)

	src := a.opts.Source
	if src == nil {
		bar.Stage("loading the sensor")
		a.probeHost()
		s, err := sensor.New(a.pipe.SensorOptions(sensor.Options{RingBytes: a.cfg.Sensor.RingSizeMB << 20,
			CriticalRingBytes: a.cfg.Sensor.CriticalRingSizeMB << 20, ExcludeSelf: true,
			SyscallSets: a.learner != nil}))
		if err != nil {
			// A node without what the sensor needs still gets the rest.
			a.log.Error("sensor cannot load: running without events (see the doctor lines above)", "err", err)
			src = noEvents{}
		} else {
			a.realSensor = s
			a.sensorLoaded.Store(true)
			if a.learner != nil {
				var own func(uint64) bool
				if a.containers != nil {
					own = func(cg uint64) bool { return !a.containers.SharedCgroup(cg) }
				}
				a.learner.SetSyscallSets(s, own)
			}
			src = s
			if m := s.Missing(); len(m) > 0 {
				a.log.Warn("sensor: some tracepoints are missing", "missing", m)
			}
			if err := s.FilterError(); err != nil {
				a.log.Warn("sensor: the kernel refused the in-kernel filters; every open and connect is reported", "err", err)
			}
			if in := s.Interest(); in.Types.Len() > 0 {
				a.log.Info("sensor interest", "types", in.Types.String(), "opens", in.Open.String(), "connects", in.Connects.String())
			}
		}
	}
	defer src.Close()
	// Seeded once the sensor is attached: no process is missed between.
	if a.table != nil {
		bar.Stage("reading the process table")
		if err := a.table.Seed(); err != nil {
			a.log.Warn("process table seed", "err", err)
		}
	}

	var enf *enforce.Enforcer
	if len(a.policies) > 0 {
		bar.Stage("starting prevention")
		enf, err = enforce.New(a.preventionOptions())
		if err != nil {
			return fmt.Errorf("agent: prevention: %w", err)
		}
		a.enf.Store(enf)
		defer enf.Close()
	}

	// Background components live until the sinks are closed.
	bg, stopBG := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	goBG := func(name string, fn func(context.Context) error) {
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			if err := fn(bg); err != nil {
				a.log.Error(name+" stopped", "err", err)
			}
		}()
	}
	goBG("queue overflow", func(ctx context.Context) error { return a.overflow.Run(ctx, a.deliver) })
	if a.store != nil {
		goBG("store", a.store.run)
	}
	if a.containers != nil {
		goBG("containers", a.containers.Run)
	}
	if a.api != nil {
		goBG("http", func(ctx context.Context) error { return a.api.Serve(ctx, ln) })
	}
	coalCtx, stopCoal := context.WithCancel(context.Background())
	coalDone := make(chan struct{})
	go func() {
		defer close(coalDone)
		_ = a.coal.Run(coalCtx)
	}()
	if a.realSensor != nil {
		goBG("sensor stats", a.watchSensor)
	}
	if a.learner != nil {
		ps := &profileSync{a: a}
		if st := a.Store(); st != nil {
			ps.load(ctx, st) // stored profiles in force before the first event
		}
		goBG("profiles", ps.run)
	}
	goBG("rules watch", a.watchRules)
	if a.fleet != nil {
		goBG("hub", a.runFleet)
	}
	goBG("policy watch", a.watchPolicies)
	if !a.opts.NoSignals {
		goBG("signals", a.handleSignals)
	}
	if a.table != nil {
		goBG("process sweep", func(ctx context.Context) error {
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					a.table.Sweep(4096)
				}
			}
		})
	}

	if a.images != nil {
		defer a.imageScanner.Close()
		goBG("images", a.images.Run)
	}
	if enf != nil {
		goBG("prevention", func(ctx context.Context) error { return a.runPrevention(ctx, enf) })
	}

	stopAudit := func() {}
	if a.audit != nil {
		if stopAudit, err = a.audit.start(a); err != nil {
			stopCoal()
			<-coalDone
			stopBG()
			bgWG.Wait()
			return err
		}
	}
	if a.rec != nil {
		goBG("recorder", a.expireIncidents)
	}
	stopResp := a.startResponse()
	// Released once start-up is done (see releaseBinaryPages).
	if n, err := releaseBinaryPages(); err != nil {
		a.log.Debug("binary pages kept mapped", "err", err)
	} else {
		a.log.Debug("binary pages released", "bytes", n)
	}
	a.running.Store(true)
	bar.Done()
	a.log.Info("agent running", "rules", len(a.eng.Ruleset().Rules), "outputs", len(a.disp.Stats()))
	runErr := src.Run(ctx, a.handle)
	a.running.Store(false)
	// Detach the sensor first: nothing new comes in.
	if err := src.Close(); err != nil {
		a.log.Warn("close sensor", "err", err)
	}
	stopAudit()
	stopResp()
	if a.rec != nil {
		a.rec.Close() // open incidents go to the store before it stops
	}
	stopCoal()
	<-coalDone
	// Flush outputs (bounded) before the store stops, then the rest.
	dctx, cancel := context.WithTimeout(context.Background(), a.opts.DrainTimeout)
	if err := a.disp.Close(dctx); err != nil {
		a.log.Warn("close outputs", "err", err)
	}
	cancel()
	stopBG()
	bgWG.Wait()
	a.log.Info("agent stopped", "outputs", a.disp.Stats())
	if runErr != nil {
		return fmt.Errorf("agent: event source: %w", runErr)
	}
	return nil
}

func (a *Agent) watchRules(ctx context.Context) error {
	if !a.cfg.Rules.Watch || len(a.cfg.Rules.Files) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(a.cfg.Rules.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.reloadMu.Lock()
			changed := rulesSignature(a.cfg.Rules.Files) != a.ruleSig
			a.reloadMu.Unlock()
			if changed {
				a.log.Info("rule files changed, reloading")
				_ = a.Reload()
			}
		}
	}
}

func (a *Agent) handleSignals(ctx context.Context) error {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-ch:
			switch s {
			case syscall.SIGHUP:
				a.log.Info("SIGHUP: reloading rules")
				_ = a.Reload()
			case syscall.SIGUSR1:
				a.log.Info("SIGUSR1: reopening outputs")
				if err := a.disp.Reopen(); err != nil {
					a.log.Error("reopen outputs", "err", err)
				}
			}
		}
	}
}
