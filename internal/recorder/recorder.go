package recorder

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/metrics"
)

// Options configure a Recorder; zero values mean the defaults shown.
type Options struct {
	// Window is how far back a ring keeps events (30s).
	Window time.Duration
	// MaxEvents is the most events one ring keeps (512).
	MaxEvents int
	// MaxBytes caps the memory of all rings together (32 MiB), counted
	// as a fixed size per event plus its strings.
	MaxBytes int64
	// MaxRings is the most containers and host process trees recorded at
	// once (4096); the ring written least recently goes first.
	MaxRings int
	// After is how long after an alert its incident keeps collecting
	// events (5s; negative: none, the incident is complete at once).
	After time.Duration
	// MaxPending is the most incidents collecting events at once (256);
	// beyond, the oldest is closed early.
	MaxPending int
	// MaxIncidentEvents is the most events of one incident (256).
	MaxIncidentEvents int
	// Sink receives each incident: at the alert (Complete false, the
	// events before it) and when its after window closes (Complete true).
	// It must not block; it owns the incident. Nil: incidents are built
	// and dropped (benchmarks).
	Sink func(*alert.Incident)
	// Metrics registers the recorder's metrics (nil: counted only).
	Metrics *metrics.Registry
}

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = 30 * time.Second
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 512
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 32 << 20
	}
	if o.MaxRings <= 0 {
		o.MaxRings = 4096
	}
	if o.After == 0 {
		o.After = 5 * time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 256
	}
	if o.MaxIncidentEvents <= 0 {
		o.MaxIncidentEvents = 256
	}
}

// Eviction reasons (the label of vigil_recorder_evictions_total).
const (
	EvictAge   = "age"   // older than Window
	EvictCount = "count" // the ring held MaxEvents
	EvictBytes = "bytes" // all rings held MaxBytes
	EvictRing  = "ring"  // the ring was dropped for a new one (MaxRings)
)

// entry is one recorded event: what an incident prints, with references to
// the event's own strings (the sensor allocates them per event).
type entry struct {
	time      int64
	typ       event.Type
	pid, ppid uint32
	ret       int64
	comm      string
	what      string   // exe path, file name
	args      []string // exec arguments
	addr      event.SockAddr
	local     event.SockAddr
	size      int64
	// ev is the entry as an incident prints it, with its JSON form: made
	// when a first incident takes the entry, then copied into the others
	// (a busy process tree's alerts take the same recent events; encoding
	// them anew for each was most of what --hub cost the agent).
	ev *alert.IncidentEvent
}

// entryBase is the accounted size of an entry without its strings.
const entryBase = 192

// ringKey names a ring: a container, or a host process tree by its root.
type ringKey struct {
	container string
	root      uint32
}

// ring is a bounded circular buffer of entries, oldest at head.
type ring struct {
	key     ringKey
	buf     []entry
	head, n int
	last    int64 // time of the last event written
	pending []*pending
}

func (r *ring) at(i int) *entry { return &r.buf[(r.head+i)%len(r.buf)] }

// pending is an incident whose after window is open.
type pending struct {
	inc      *alert.Incident
	ring     *ring
	pids     map[uint32]bool // whose events belong: the ancestry, then children
	parents  map[uint32]bool // whose children's events belong
	deadline int64
}

// Recorder is the flight recorder. Record is called for every event on the
// event goroutine; Alert at each delivered alert; Expire from a ticker.
type Recorder struct {
	o Options

	mu      sync.Mutex
	rings   map[ringKey]*ring
	bytes   int64
	pending []*pending // in deadline order
	last    *ring      // the ring of the last event (most events come in runs)

	skip        event.TypeSet
	evict       [4]*metrics.Counter
	recorded    *metrics.Counter
	incidents   *metrics.Counter
	closedEarly *metrics.Counter
	bytesG      *metrics.Gauge
}

// New returns a recorder.
func New(o Options) *Recorder {
	o.defaults()
	r := &Recorder{o: o, rings: map[ringKey]*ring{}}
	// Not recorded: bookkeeping syscalls that tell no story.
	r.skip = event.TypeSetOf(event.TypeUnknown, event.TypeClose, event.TypeDup, event.TypeDup2, event.TypeDup3,
		event.TypeSocket, event.TypeRecvfrom, event.TypeRecvmsg, event.TypeChdir, event.TypeFchdir,
		event.TypeClone, event.TypeFork, event.TypeVfork, event.TypeClone3, event.TypeProcExit, event.TypeContainer)
	reg := o.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	ev := reg.CounterVec("vigil_recorder_evictions_total", "Events the flight recorder evicted, by reason (age, count, bytes, ring).", "reason")
	for i, n := range []string{EvictAge, EvictCount, EvictBytes, EvictRing} {
		r.evict[i] = ev.With(n)
	}
	r.recorded = reg.Counter("vigil_recorder_events_total", "Events the flight recorder recorded.")
	r.incidents = reg.Counter("vigil_recorder_incidents_total", "Incidents the flight recorder built (one per delivered rule alert).")
	r.closedEarly = reg.Counter("vigil_recorder_incidents_closed_early_total", "Incidents closed before their after window because recorder.max_pending were open.")
	r.bytesG = reg.Gauge("vigil_recorder_bytes", "Memory the flight recorder's rings hold (accounted).")
	return r
}

func reasonIndex(reason string) int {
	switch reason {
	case EvictAge:
		return 0
	case EvictCount:
		return 1
	case EvictBytes:
		return 2
	}
	return 3
}

// Evictions returns the events evicted for reason (Evict*).
func (r *Recorder) Evictions(reason string) uint64 { return r.evict[reasonIndex(reason)].Value() }

// Bytes returns the memory the rings hold (accounted).
func (r *Recorder) Bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// keyOf returns the ring of ev: its container, or on the host the root of
// its process tree (the ancestor below init).
func keyOf(ev *event.Event) ringKey {
	if c := ev.Container; c != nil && c.ID != "" && c.ID != "host" {
		return ringKey{container: c.ID}
	}
	p := ev.Proc
	if p == nil {
		return ringKey{container: "host", root: ev.PID}
	}
	for i := 0; i < 64 && p.Parent != nil && p.Parent.PID > 1; i++ {
		p = p.Parent
	}
	return ringKey{container: "host", root: p.PID}
}

// Record records ev (on the event goroutine, after enrichment). It does
// not keep ev, only its strings.
func (r *Recorder) Record(ev *event.Event) {
	if r.skip.Has(ev.Type) || (ev.Type == event.TypeExecve || ev.Type == event.TypeExecveat) && ev.Exec == nil {
		return
	}
	e := entry{time: ev.Time, typ: ev.Type, pid: ev.PID, ppid: ev.PPID, ret: ev.Ret, comm: ev.Comm}
	switch {
	case ev.Exec != nil:
		e.what = ev.Exec.ExePath
		if e.what == "" {
			e.what = ev.Exec.Filename
		}
		if len(ev.Exec.Argv) > 1 {
			e.args = ev.Exec.Argv[1:]
		}
	case ev.FDInfo != nil && ev.FDInfo.Name != "" && ev.Addr.Family == 0:
		e.what = ev.FDInfo.Name
	default:
		e.what = ev.Path
		if ev.Path2 != "" {
			e.args = []string{ev.Path2}
		}
	}
	e.addr, e.local = ev.Addr, ev.Local
	e.size = entryBase + int64(len(e.comm)+len(e.what)+len(e.addr.Path))
	for _, a := range e.args {
		e.size += int64(len(a)) + 16
	}
	key := keyOf(ev)

	r.mu.Lock()
	rg := r.last
	if rg == nil || rg.key != key {
		rg = r.rings[key]
		if rg == nil {
			rg = r.newRing(key)
		}
		r.last = rg
	}
	r.push(rg, &e)
	var done []*alert.Incident
	if len(r.pending) > 0 && ev.Time >= r.pending[0].deadline {
		done = r.expire(ev.Time, done)
	}
	if len(rg.pending) > 0 {
		re := rg.at(rg.n - 1) // e, in the ring
		for _, p := range rg.pending {
			r.add(p, re)
		}
	}
	r.mu.Unlock()
	r.recorded.Inc()
	r.send(done)
}

func (r *Recorder) newRing(key ringKey) *ring {
	if len(r.rings) >= r.o.MaxRings {
		var old *ring
		for _, x := range r.rings {
			if len(x.pending) == 0 && (old == nil || x.last < old.last) {
				old = x
			}
		}
		if old != nil {
			r.dropRing(old, 3)
		}
	}
	rg := &ring{key: key, buf: make([]entry, min(16, r.o.MaxEvents))}
	r.rings[key] = rg
	return rg
}

// dropRing drops rg and its events, counted as evicted for reason.
func (r *Recorder) dropRing(rg *ring, reason int) {
	for i := 0; i < rg.n; i++ {
		r.bytes -= rg.at(i).size
	}
	r.evict[reason].Add(uint64(rg.n))
	delete(r.rings, rg.key)
	if r.last == rg {
		r.last = nil
	}
}

// push appends e to rg, evicting by age, count and bytes.
func (r *Recorder) push(rg *ring, e *entry) {
	cut := e.time - int64(r.o.Window)
	for rg.n > 0 && rg.at(0).time < cut {
		r.popHead(rg, 0)
	}
	if rg.n == len(rg.buf) {
		if len(rg.buf) < r.o.MaxEvents {
			nb := make([]entry, min(2*len(rg.buf), r.o.MaxEvents))
			for i := 0; i < rg.n; i++ {
				nb[i] = *rg.at(i)
			}
			rg.buf, rg.head = nb, 0
		} else {
			r.popHead(rg, 1)
		}
	}
	*rg.at(rg.n) = *e
	rg.n++
	rg.last = e.time
	r.bytes += e.size
	for r.bytes > r.o.MaxBytes && rg.n > 1 {
		r.popHead(rg, 2)
	}
	if r.bytes > r.o.MaxBytes {
		// The memory is held by other rings: drop the one written least
		// recently.
		var old *ring
		for _, x := range r.rings {
			if x != rg && len(x.pending) == 0 && (old == nil || x.last < old.last) {
				old = x
			}
		}
		if old != nil {
			r.dropRing(old, 2)
		}
	}
	r.bytesG.Set(float64(r.bytes))
}

func (r *Recorder) popHead(rg *ring, reason int) {
	h := rg.at(0)
	r.bytes -= h.size
	*h = entry{}
	rg.head = (rg.head + 1) % len(rg.buf)
	rg.n--
	r.evict[reason].Inc()
}

// add appends e (an entry of p's ring) to the incident when its process is
// in the ancestry or a child of it (whose later events then belong too).
func (r *Recorder) add(p *pending, e *entry) {
	if !p.pids[e.pid] {
		if !p.parents[e.ppid] {
			return
		}
		p.pids[e.pid], p.parents[e.pid] = true, true
	}
	if len(p.inc.Events) >= r.o.MaxIncidentEvents {
		p.inc.Truncated = true
		return
	}
	p.inc.Events = append(p.inc.Events, r.incidentEvent(e, false))
}

// incidentEvent returns e as an incident prints it, made (with its JSON
// form) the first time and accounted with the entry's memory.
func (r *Recorder) incidentEvent(e *entry, isAlert bool) alert.IncidentEvent {
	if e.ev == nil {
		ev := e.newIncidentEvent().WithJSON()
		e.ev = &ev
		grow := int64(incidentEventBase + ev.JSONSize())
		if ev.What != e.what {
			grow += int64(len(ev.What))
		}
		e.size += grow
		r.bytes += grow
	}
	ev := *e.ev
	ev.Alert = isAlert
	return ev
}

// incidentEventBase is the accounted size of an entry's incident form
// without its strings.
const incidentEventBase = 104

func (e *entry) newIncidentEvent() alert.IncidentEvent {
	what := e.what
	if len(e.args) > 0 {
		what = strings.Join(append([]string{what}, e.args...), " ")
	}
	if e.addr.Family != 0 {
		what = addrString(e.local) + " -> " + addrString(e.addr)
		if e.local.Family == 0 {
			what = addrString(e.addr)
		}
	}
	return alert.IncidentEvent{Time: e.time, Type: e.typ.String(), PID: e.pid, PPID: e.ppid, Comm: e.comm, What: what, Ret: e.ret}
}

func addrString(a event.SockAddr) string {
	if a.Path != "" {
		return a.Path
	}
	if a.IP.IsValid() {
		return netip.AddrPortFrom(a.IP, a.Port).String()
	}
	return "family " + strconv.Itoa(int(a.Family))
}

// Alert builds the incident of al, raised by ev (which Record has seen):
// the recorded events of ev's ring whose process is in the alert's
// ancestry or a child of it, then (for Options.After) those that follow.
// The sink gets the events before at once.
func (r *Recorder) Alert(ev *event.Event, al *alert.Alert) {
	pids := map[uint32]bool{}
	for _, p := range al.Vigil.Process {
		if p.PID > 1 {
			pids[p.PID] = true
		}
	}
	if ev.PID > 1 {
		pids[ev.PID] = true
	}
	key := keyOf(ev)
	inc := &alert.Incident{UUID: al.UUID}
	r.mu.Lock()
	rg := r.rings[key]
	if rg == nil {
		// Nothing recorded there (an event of a type not recorded, a
		// Kubernetes audit event): no story to tell.
		r.mu.Unlock()
		return
	}
	// The ancestors whose children belong too: those with events in this
	// ring (so not a container's shim, nor init), except a host tree's
	// root (its children are other sessions).
	parents := map[uint32]bool{}
	if rg != nil {
		for i := 0; i < rg.n; i++ {
			if e := rg.at(i); pids[e.pid] && (key.root == 0 || e.pid != key.root) {
				parents[e.pid] = true
			}
		}
	}
	p := &pending{inc: inc, ring: rg, pids: pids, parents: parents, deadline: ev.Time + int64(r.o.After)}
	if rg != nil {
		// Newest first, then reversed: the cap keeps the events nearest
		// the alert.
		rev := make([]alert.IncidentEvent, 0, min(rg.n, r.o.MaxIncidentEvents))
		alerted := false
		for i := rg.n - 1; i >= 0; i-- {
			e := rg.at(i)
			if !pids[e.pid] && !parents[e.ppid] {
				continue
			}
			if len(rev) >= r.o.MaxIncidentEvents {
				inc.Truncated = true
				break
			}
			isAlert := !alerted && e.time == ev.Time && e.pid == ev.PID && e.typ == ev.Type
			alerted = alerted || isAlert
			rev = append(rev, r.incidentEvent(e, isAlert))
		}
		if len(rev) > 0 {
			slices.Reverse(rev)
			inc.Events = rev
		}
	}
	// The first form shares the events with the open incident, which only
	// appends past them: one array for the two while the hub client holds
	// the first form for the complete one (a copy each doubled what the
	// collector scanned).
	first := &alert.Incident{UUID: inc.UUID, Truncated: inc.Truncated, Events: inc.Events[:len(inc.Events):len(inc.Events)]}
	var done []*alert.Incident
	if r.o.After < 0 || rg == nil {
		first.Complete = true
	} else {
		rg.pending = append(rg.pending, p)
		r.pending = append(r.pending, p)
		if len(r.pending) > r.o.MaxPending {
			r.closedEarly.Inc()
			done = r.close(r.pending[0], done)
		}
	}
	r.mu.Unlock()
	r.incidents.Inc()
	if r.o.Sink != nil {
		r.o.Sink(first)
	}
	r.send(done)
}

// Expire closes the incidents whose after window ended by now (ns since
// the epoch); the agent calls it every second so that incidents close
// when no event comes.
func (r *Recorder) Expire(now int64) {
	r.mu.Lock()
	done := r.expire(now, nil)
	// Rings whose events all aged out give their memory back.
	cut := now - int64(r.o.Window)
	for _, rg := range r.rings {
		if rg.last < cut && len(rg.pending) == 0 {
			r.dropRing(rg, 0)
		}
	}
	r.bytesG.Set(float64(r.bytes))
	r.mu.Unlock()
	r.send(done)
}

// Close closes every open incident (shutdown).
func (r *Recorder) Close() {
	r.mu.Lock()
	var done []*alert.Incident
	for len(r.pending) > 0 {
		done = r.close(r.pending[0], done)
	}
	r.mu.Unlock()
	r.send(done)
}

func (r *Recorder) expire(now int64, done []*alert.Incident) []*alert.Incident {
	for len(r.pending) > 0 && now >= r.pending[0].deadline {
		done = r.close(r.pending[0], done)
	}
	return done
}

// close removes p from the open incidents and returns it complete.
func (r *Recorder) close(p *pending, done []*alert.Incident) []*alert.Incident {
	r.pending = remove(r.pending, p)
	if p.ring != nil {
		p.ring.pending = remove(p.ring.pending, p)
	}
	p.inc.Complete = true
	return append(done, p.inc)
}

func remove(s []*pending, p *pending) []*pending {
	for i, x := range s {
		if x == p {
			copy(s[i:], s[i+1:])
			s[len(s)-1] = nil
			return s[:len(s)-1]
		}
	}
	return s
}

func (r *Recorder) send(done []*alert.Incident) {
	if r.o.Sink == nil {
		return
	}
	for _, inc := range done {
		r.o.Sink(inc)
	}
}

// String describes the recorder's configuration (logs).
func (r *Recorder) String() string {
	return fmt.Sprintf("window=%s max_events=%d max_bytes=%d max_rings=%d after=%s", r.o.Window, r.o.MaxEvents,
		r.o.MaxBytes, r.o.MaxRings, r.o.After)
}
