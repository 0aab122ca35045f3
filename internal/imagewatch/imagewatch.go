package imagewatch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/queue"
)

// Images is what the watcher needs from the container runtime's image
// store; *image.Scanner implements it.
type Images interface {
	Running(ctx context.Context) ([]image.RunningContainer, error)
	FileIndex(ctx context.Context, ns, name string) (*image.FileIndex, error)
	Open(ctx context.Context, ns, name string) (*image.Image, error)
}

// Proc is one process of a drift's ancestry, the executing one first.
type Proc struct {
	PID     uint32
	Comm    string
	ExePath string
	Args    []string
}

// Drift is an executable run in a container that is not in its image.
type Drift struct {
	Time       int64 // ns since the epoch
	Container  *event.Container
	Namespace  string // containerd namespace of the container
	Image      string // image name the index was built from
	ExePath    string // path inside the container
	UpperLayer bool   // the sensor saw the file in the overlay's upper layer
	Procs      []Proc // ancestry, at most 8
}

// Options configure a Watcher.
type Options struct {
	Images Images
	// Drift turns exec checks on.
	Drift bool
	// MaxPending bounds the exec checks queued per container while its
	// index is built (default 64); more are counted as unchecked.
	MaxPending int
	// DBDir is an OSV database directory ("" turns vulnerability scans
	// off). A missing or empty database is waited for.
	DBDir string
	// PollInterval is how often the database and the running containers
	// are checked (default 30s).
	PollInterval time.Duration
	// Severities are the finding severities reported (default CRITICAL).
	Severities []string
	// OnDrift and OnVuln receive the findings, on the event goroutine
	// (drift of a ready index) or on Run's goroutine.
	OnDrift func(*Drift)
	OnVuln  func(*VulnFinding)
	Logger  *slog.Logger
	// Overflow reports the exec checks dropped because a container's
	// backlog (MaxPending) was full ("drift_checks"). Nil: counted only.
	Overflow *queue.Overflow
}

// Stats are the watcher's counters.
type Stats struct {
	ExecChecked   uint64 // exec paths checked against an index
	Drift         uint64 // executables not in the image
	Unchecked     uint64 // execs not checked: no index, queue full, no path
	Queued        uint64 // execs queued while the index was built
	Indexes       uint64 // container indexes resolved
	IndexErrors   uint64 // containers whose image could not be indexed
	ImageScans    uint64 // image vulnerability scans
	ScanErrors    uint64 // images that could not be catalogued or scanned
	VulnFindings  uint64 // findings reported (per container)
	DBReloads     uint64 // vulnerability database (re)loads
	DBRecords     uint64 // records in the loaded database
	ImagesTracked uint64 // images with a cached SBOM
	Polls         uint64 // database and running-container checks done
}

// maxStates bounds the per-container state of the event goroutine; past
// it the map is reset (indexes stay cached by the Images implementation).
const maxStates = 4096

// ctState is one container's drift state. states (the map) belongs to the
// event goroutine; idx, ns, image and done are written by Run before done
// is set; pending is guarded by mu.
type ctState struct {
	id    string
	sent  bool // asked Run for the index (event goroutine)
	ns    string
	image string
	idx   *image.FileIndex
	done  atomic.Bool
	mu    sync.Mutex
	pend  []*Drift
	// Run's goroutine: lookups of a container containerd does not list
	// as running yet (its first exec races the task's start).
	tries int
	next  time.Time
}

// Lookup retries of a container not yet listed as running.
const (
	maxTries   = 6
	firstRetry = 100 * time.Millisecond
)

// Watcher checks execs against image indexes and scans running images.
type Watcher struct {
	opts Options
	log  *slog.Logger

	states map[string]*ctState // event goroutine
	req    chan *ctState       // not a loss when full: asked again on the next exec
	drops  *queue.Drops        // exec checks dropped by a full backlog

	checked, drift, unchecked, queued   atomic.Uint64
	indexes, indexErrs                  atomic.Uint64
	scans, scanErrs, vulnFound, dbLoads atomic.Uint64
	dbRecords, imagesTracked, polls     atomic.Uint64

	vs        vulnState     // Run's goroutine
	retryBase time.Duration // first lookup retry delay (tests shorten it)
}

// New returns a Watcher; Run must run for indexes and scans to happen.
func New(opts Options) *Watcher {
	if opts.MaxPending <= 0 {
		opts.MaxPending = 64
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 30 * time.Second
	}
	if len(opts.Severities) == 0 {
		opts.Severities = []string{"CRITICAL"}
	}
	w := &Watcher{opts: opts, log: opts.Logger, states: map[string]*ctState{}, req: make(chan *ctState, 256),
		drops:     queue.NewDrops(queue.Options{Name: "drift_checks", Item: "exec drift checks", Size: opts.MaxPending, Overflow: opts.Overflow}),
		retryBase: firstRetry}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.vs.init()
	return w
}

// Stats returns the counters.
func (w *Watcher) Stats() Stats {
	return Stats{ExecChecked: w.checked.Load(), Drift: w.drift.Load(), Unchecked: w.unchecked.Load(),
		Queued: w.queued.Load(), Indexes: w.indexes.Load(), IndexErrors: w.indexErrs.Load(),
		ImageScans: w.scans.Load(), ScanErrors: w.scanErrs.Load(), VulnFindings: w.vulnFound.Load(),
		DBReloads: w.dbLoads.Load(), DBRecords: w.dbRecords.Load(), ImagesTracked: w.imagesTracked.Load(),
		Polls: w.polls.Load()}
}

// ExePath is the path drift checks: the executable as resolved by the
// sensor (inside the container's mount namespace), else the process's.
func ExePath(ev *event.Event) string {
	if ev.Exec != nil && ev.Exec.ExePath != "" {
		return ev.Exec.ExePath
	}
	if ev.Proc != nil {
		return ev.Proc.ExePath
	}
	return ""
}

// IsContainerExec reports whether ev is a successful exec in a container.
func IsContainerExec(ev *event.Event) bool {
	if (ev.Type != event.TypeExecve && ev.Type != event.TypeExecveat) || ev.Ret < 0 {
		return false
	}
	ct := ev.Container
	return ct != nil && ct.ID != "" && ct.ID != "host"
}

// runtimeInit reports whether ev is the container runtime's own init
// re-exec ("runc init", from a copy of runc outside the container) that
// precedes the container's first program.
func runtimeInit(ev *event.Event) bool {
	x := ev.Exec
	return x != nil && len(x.Argv) >= 2 && x.Argv[1] == "init" && strings.HasSuffix(x.Argv[0], "runc")
}

// CheckExec checks a successful exec in a container against its image
// (other events are ignored). It runs on the event goroutine and never
// blocks; ev is not kept.
func (w *Watcher) CheckExec(ev *event.Event) {
	if !w.opts.Drift || !IsContainerExec(ev) || runtimeInit(ev) {
		return
	}
	path := ExePath(ev)
	// "/" is what the sensor resolves for a file outside the container's
	// mount namespace: nothing to look up in the image.
	if len(path) < 2 || path[0] != '/' {
		w.unchecked.Add(1)
		return
	}
	ct := ev.Container
	switch ct.Type {
	case "docker", "cri-o", "podman": // images not in containerd's store
		w.unchecked.Add(1)
		return
	}
	id := ct.FullID
	if id == "" {
		id = ct.ID
	}
	st := w.states[id]
	if st == nil {
		if len(w.states) >= maxStates {
			clear(w.states)
		}
		st = &ctState{id: id}
		w.states[id] = st
	}
	if !st.sent {
		select {
		case w.req <- st:
			st.sent = true
		default: // Run is busy: ask again on the next exec
		}
	}
	if st.done.Load() {
		w.check(st, ev, path)
		return
	}
	st.mu.Lock()
	if st.done.Load() {
		st.mu.Unlock()
		w.check(st, ev, path)
		return
	}
	if len(st.pend) >= w.opts.MaxPending {
		st.mu.Unlock()
		w.unchecked.Add(1)
		w.drops.Drop()
		return
	}
	st.pend = append(st.pend, newDrift(ev, path))
	st.mu.Unlock()
	w.queued.Add(1)
}

// check tests path against a ready index.
func (w *Watcher) check(st *ctState, ev *event.Event, path string) {
	if st.idx == nil {
		w.unchecked.Add(1)
		return
	}
	w.checked.Add(1)
	if st.idx.IsInImage(path) {
		return
	}
	d := newDrift(ev, path)
	w.report(st, d)
}

func (w *Watcher) report(st *ctState, d *Drift) {
	d.Namespace, d.Image = st.ns, st.image
	w.drift.Add(1)
	if w.opts.OnDrift != nil {
		w.opts.OnDrift(d)
	}
}

// newDrift copies what an alert needs out of ev (which is not kept).
func newDrift(ev *event.Event, path string) *Drift {
	d := &Drift{Time: ev.Time, Container: ev.Container, ExePath: path}
	if ev.Exec != nil {
		d.UpperLayer = ev.Exec.UpperLayer
	}
	const maxAncestry = 8
	for p := ev.Proc; p != nil && len(d.Procs) < maxAncestry; p = p.Parent {
		d.Procs = append(d.Procs, Proc{PID: p.PID, Comm: p.Comm, ExePath: p.ExePath, Args: append([]string(nil), p.Args...)})
	}
	if len(d.Procs) == 0 {
		pr := Proc{PID: ev.PID, Comm: ev.Comm, ExePath: path}
		if ev.Exec != nil {
			pr.Args = append([]string(nil), ev.Exec.Argv...)
		}
		d.Procs = []Proc{pr}
	}
	return d
}

// Run resolves container indexes, evaluates queued checks and runs the
// vulnerability scans until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.PollInterval)
	defer t.Stop()
	defer w.vs.close()
	if w.opts.DBDir != "" {
		w.scanRunning(ctx)
	}
	var retries []*ctState
	for {
		var retryC <-chan time.Time
		if len(retries) > 0 {
			next := retries[0].next
			for _, st := range retries {
				if st.next.Before(next) {
					next = st.next
				}
			}
			retryC = time.After(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return nil
		case st := <-w.req:
			if !w.resolve(ctx, st) {
				retries = append(retries, st)
			}
		case <-retryC:
			now := time.Now()
			keep := retries[:0]
			for _, st := range retries {
				if st.next.After(now) || !w.resolve(ctx, st) {
					keep = append(keep, st)
				}
			}
			clear(retries[len(keep):])
			retries = keep
		case <-t.C:
			if w.opts.DBDir != "" {
				w.scanRunning(ctx)
			}
		}
	}
}

// running lists the running containers (bounded by a timeout).
func (w *Watcher) running(ctx context.Context) ([]image.RunningContainer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rs, err := w.opts.Images.Running(ctx)
	if err != nil {
		return nil, fmt.Errorf("imagewatch: list running containers: %w", err)
	}
	return rs, nil
}

// resolve finds the container's image, builds (or reuses) its index and
// evaluates the checks queued meanwhile. It returns false when the
// container is not listed yet and must be tried again (at st.next).
func (w *Watcher) resolve(ctx context.Context, st *ctState) bool {
	if st.done.Load() {
		return true
	}
	rs, err := w.running(ctx)
	var rc *image.RunningContainer
	for i := range rs {
		if rs[i].ID == st.id || (len(st.id) < len(rs[i].ID) && rs[i].ID[:len(st.id)] == st.id) {
			rc = &rs[i]
			break
		}
	}
	if err == nil && rc == nil && st.tries < maxTries {
		st.next = time.Now().Add(w.retryBase << st.tries)
		st.tries++
		return false
	}
	switch {
	case err != nil:
		w.log.Warn("drift: no image index", "container", st.id, "err", err)
	case rc == nil:
		w.log.Debug("drift: container not found in containerd", "container", st.id)
	case rc.Image == "":
		w.log.Debug("drift: container has no image", "container", st.id, "namespace", rc.Namespace)
	default:
		ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		idx, err := w.opts.Images.FileIndex(ictx, rc.Namespace, rc.Image)
		cancel()
		if err != nil {
			w.log.Warn("drift: image index", "container", st.id, "image", rc.Image, "err", err)
		} else {
			st.idx, st.ns, st.image = idx, rc.Namespace, rc.Image
		}
	}
	if st.idx != nil {
		w.indexes.Add(1)
	} else {
		w.indexErrs.Add(1)
	}
	st.mu.Lock()
	st.done.Store(true)
	pend := st.pend
	st.pend = nil
	st.mu.Unlock()
	for _, d := range pend {
		if st.idx == nil {
			w.unchecked.Add(1)
			continue
		}
		w.checked.Add(1)
		if !st.idx.IsInImage(d.ExePath) {
			w.report(st, d)
		}
	}
	if rc != nil && w.opts.DBDir != "" && !w.vs.seen(rc.ID) {
		w.scanRunning(ctx) // a new container: scan its image now
	}
	return true
}
