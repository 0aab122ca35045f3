package container

import (
	"context"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/queue"
)

// Disabled as a socket option turns that runtime client off.
const Disabled = "none"

// Options configure a Manager. Zero values mean the defaults.
type Options struct {
	// CgroupRoot is the cgroup v2 mount point; "" finds it.
	CgroupRoot string
	// Runtime sockets; "" is the runtime's default path, Disabled turns the
	// client off.
	ContainerdSocket string // default /run/containerd/containerd.sock
	DockerSocket     string // default /var/run/docker.sock
	PodmanSocket     string // default /run/podman/podman.sock (Docker-compatible API)
	CRIOSocket       string // default /var/run/crio/crio.sock (CRI gRPC)
	// CRISocket is another CRI endpoint to read (for example containerd's,
	// whose containers the containerd client already reads); default off.
	// Its containers get the type of the runtime it reports.
	CRISocket string
	// RuncRoot is runc's state directory; default /run/runc.
	RuncRoot string
	// LookupTimeout bounds the synchronous metadata lookup Resolve makes the
	// first time it meets a container the runtimes have not reported yet.
	// Default 100ms; negative disables synchronous lookups.
	LookupTimeout time.Duration
	// DeleteGrace is how long a deleted container's metadata is kept for
	// late events. Default 30s.
	DeleteGrace time.Duration
	// PidFallback resolves processes in the v2 root cgroup from
	// /proc/PID/cgroup's v1 lines, for runtimes that place containers in v1
	// hierarchies only. Default: on when the host is hybrid (v1
	// controllers mounted beside v2).
	PidFallback *bool
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Overflow reports the drops of the asynchronous lookup queue
	// ("container_lookups"). Nil: counted only (Stats.Dropped).
	Overflow *queue.Overflow
}

// SocketOptions maps a list of runtime sockets (the `containers.sockets`
// setting, `vigil trace --runtime-socket`) onto the runtimes by file name:
// *containerd*, *docker*, *podman*, *crio*; any other is read as a CRI
// endpoint. Runtimes without a socket in the list are off.
func SocketOptions(socks []string) Options {
	o := Options{ContainerdSocket: Disabled, DockerSocket: Disabled, PodmanSocket: Disabled, CRIOSocket: Disabled}
	for _, s := range socks {
		switch b := filepath.Base(s); {
		case strings.Contains(b, "containerd"):
			o.ContainerdSocket = s
		case strings.Contains(b, "docker"):
			o.DockerSocket = s
		case strings.Contains(b, "podman"):
			o.PodmanSocket = s
		case strings.Contains(b, "crio"):
			o.CRIOSocket = s
		default:
			o.CRISocket = s
		}
	}
	return o
}

// RuntimeStatus describes one runtime client, for `vigil doctor`.
type RuntimeStatus struct {
	Name       string // containerd, docker, podman, cri-o, runc
	Socket     string // socket or state directory
	Found      bool   // the socket (or directory) exists
	Connected  bool   // the client is connected and subscribed
	Version    string // runtime version when connected
	LastError  string // last connection error, "" when none
	Containers int    // containers of this runtime in the cache
	Reconnects uint64 // connections made after the first
}

// Stats are the Manager's counters.
type Stats struct {
	Containers     int           // containers in the metadata cache
	Cgroups        int           // cgroup ids in the cache
	Hits           uint64        // Resolve calls answered from the cache
	Misses         uint64        // Resolve calls that had to look a cgroup or pid up
	Lookups        uint64        // synchronous and asynchronous runtime lookups
	LookupFailures uint64        // lookups that failed or timed out
	LookupLatency  time.Duration // mean runtime lookup latency
	LookupMax      time.Duration // slowest runtime lookup
	CgroupWalks    uint64        // walks of the cgroup v2 tree
	Dropped        uint64        // async lookups dropped because the queue was full
	ProcReads      uint64        // reads of /proc/PID/cgroup (the pid fallback)
}

// runtimeClient is one container runtime's API.
type runtimeClient interface {
	name() string
	socket() string
	// watch connects, reports the existing containers to s, then the
	// changes, until ctx ends (nil) or the connection fails (an error).
	watch(ctx context.Context, s *clientSink) error
	// inspect fetches one container's metadata; it fails fast when the
	// client is not connected.
	inspect(ctx context.Context, info PathInfo) (*event.Container, error)
	// handles reports whether the client serves containers of path type t.
	handles(t string) bool
}

// Errors.
var (
	// ErrNotConnected means the runtime client has no live connection.
	ErrNotConnected = errors.New("runtime not connected")
	// ErrNotFound means the runtime does not know the container.
	ErrNotFound = errors.New("container not found")
)

// Manager resolves cgroups and pids to containers and caches their runtime
// metadata. Create it with New, run its runtime subscriptions with Run.
type Manager struct {
	opts    Options
	log     *slog.Logger
	cg      *CgroupMap
	rootID  uint64
	host    *event.Container
	clients []*runtimeState
	lookups *queue.Queue[PathInfo]

	mu      sync.RWMutex
	cgroups map[uint64]*cgEntry
	records map[string]*record
	hints   map[string]PathInfo // runtime-reported cgroup path -> container
	pids    map[uint32]pidEntry
	// pendingStart holds start times reported before the container itself
	// (Docker's task in containerd's moby namespace starts before Docker
	// reports the container as started).
	pendingStart map[string]int64

	hits, misses, nLookups, lookupFail, lookupNs, lookupMax, procReads atomic.Uint64
}

// cgEntry is a cached cgroup: a container's, the host's, or the root
// (which needs the pid fallback).
type cgEntry struct {
	path string
	info PathInfo // Type "" for host
	root bool
}

type pidEntry struct {
	entry   *cgEntry
	expires int64
}

// pidTTL bounds how long a pid fallback result is reused.
const pidTTL = int64(500 * time.Millisecond)

type record struct {
	c         *event.Container // published snapshot, never modified
	deletedAt time.Time
	inflight  bool
	tries     int
}

// runtimeState wraps a client with its connection status.
type runtimeState struct {
	client     runtimeClient
	connected  atomic.Bool
	mu         sync.Mutex
	version    string
	lastErr    string
	reconnects uint64
	conns      uint64
}

// New returns a Manager. It fails only when no cgroup v2 hierarchy is
// mounted; absent runtimes are reported by Runtimes and retried by Run.
func New(opts Options) (*Manager, error) {
	if opts.CgroupRoot == "" {
		root, err := host.Cgroup2Root()
		if err != nil {
			return nil, fmt.Errorf("container manager: %w", err)
		}
		opts.CgroupRoot = root
	}
	if opts.LookupTimeout == 0 {
		opts.LookupTimeout = 100 * time.Millisecond
	}
	if opts.DeleteGrace == 0 {
		opts.DeleteGrace = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PidFallback == nil {
		hybrid := opts.CgroupRoot != "/sys/fs/cgroup"
		opts.PidFallback = &hybrid
	}
	rootID, err := CgroupID(opts.CgroupRoot, "/")
	if err != nil {
		return nil, fmt.Errorf("container manager: %w", err)
	}
	m := &Manager{
		opts:    opts,
		log:     opts.Logger,
		cg:      NewCgroupMap(opts.CgroupRoot),
		rootID:  rootID,
		host:    &event.Container{ID: "host", Type: TypeHost, MetadataKnown: true, StartTS: host.BootTime(), CgroupPath: "/"},
		lookups: queue.New[PathInfo](queue.Options{Name: "container_lookups", Item: "container lookups", Size: 1024, Overflow: opts.Overflow}),
		cgroups: make(map[uint64]*cgEntry),
		records: make(map[string]*record),
		hints:   make(map[string]PathInfo),
		pids:    make(map[uint32]pidEntry),

		pendingStart: make(map[string]int64),
	}
	add := func(sock, def string, mk func(string) runtimeClient) {
		if sock == Disabled {
			return
		}
		if sock == "" {
			sock = def
		}
		m.clients = append(m.clients, &runtimeState{client: mk(sock)})
	}
	add(opts.ContainerdSocket, "/run/containerd/containerd.sock", func(s string) runtimeClient { return newContainerdClient(s) })
	add(opts.DockerSocket, "/var/run/docker.sock", func(s string) runtimeClient { return newDockerClient(s, TypeDocker) })
	add(opts.PodmanSocket, "/run/podman/podman.sock", func(s string) runtimeClient { return newDockerClient(s, TypePodman) })
	add(opts.CRIOSocket, "/var/run/crio/crio.sock", func(s string) runtimeClient { return newCRIClient(s, TypeCRIO) })
	if opts.CRISocket != "" && opts.CRISocket != Disabled {
		m.clients = append(m.clients, &runtimeState{client: newCRIClient(opts.CRISocket, TypeCRI)})
	}
	add(opts.RuncRoot, "/run/runc", func(s string) runtimeClient { return newRuncClient(s) })
	if err := m.cg.Refresh(); err != nil {
		return nil, fmt.Errorf("container manager: %w", err)
	}
	return m, nil
}

// SharedCgroup reports whether tasks of the cgroup (v2 id) may belong to
// several containers or to the host: the cgroup v2 root, where runtimes on
// cgroup v1 (Docker with the cgroupfs driver on a hybrid host) leave
// containers and which Resolve answers by pid. Unknown cgroups are
// shared.
func (m *Manager) SharedCgroup(cgroupID uint64) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.cgroups[cgroupID]
	return e == nil || e.root || e.info.Type == ""
}

// Host returns the shared Container of host processes.
func (m *Manager) Host() *event.Container { return m.host }

// Resolve returns the container of an event from its cgroup v2 id and its
// pid (either may be 0 when unknown). Host processes get the shared host
// Container. It returns nil when neither the cgroup nor the process exists
// any more (the container fields then have no value, as in Falco when the
// thread is unknown). A cache hit does not allocate. The first event of a container
// the runtimes have not reported yet makes one synchronous lookup bounded
// by Options.LookupTimeout; until metadata arrives the Container has the
// id and type only (MetadataKnown false).
func (m *Manager) Resolve(cgroupID uint64, pid uint32) *event.Container {
	if cgroupID != 0 {
		m.mu.RLock()
		e := m.cgroups[cgroupID]
		if e != nil && e.root && pid != 0 {
			if pe, ok := m.pids[pid]; ok && pe.expires > time.Now().UnixNano() {
				if pe.entry != nil {
					e = pe.entry
				} // else: the process is gone, the root cgroup is its answer
			} else {
				e = nil
			}
		}
		if e != nil {
			if c := m.containerOf(e); c != nil {
				m.mu.RUnlock()
				m.hits.Add(1)
				return c
			}
		}
		m.mu.RUnlock()
	}
	if cgroupID == 0 && pid != 0 {
		m.mu.RLock()
		if pe, ok := m.pids[pid]; ok && pe.expires > time.Now().UnixNano() {
			if pe.entry == nil {
				// Known gone: unknown, as resolveSlow answers.
				m.mu.RUnlock()
				m.hits.Add(1)
				return nil
			}
			if c := m.containerOf(pe.entry); c != nil {
				m.mu.RUnlock()
				m.hits.Add(1)
				return c
			}
		}
		m.mu.RUnlock()
	}
	m.misses.Add(1)
	return m.resolveSlow(cgroupID, pid)
}

// containerOf returns e's container, nil when its record is missing. The
// caller holds m.mu.
func (m *Manager) containerOf(e *cgEntry) *event.Container {
	if e.info.Type == "" {
		return m.host
	}
	if r := m.records[e.info.ID]; r != nil {
		return r.c
	}
	return nil
}

func (m *Manager) resolveSlow(cgroupID uint64, pid uint32) *event.Container {
	var e *cgEntry
	if cgroupID != 0 {
		m.mu.RLock()
		e = m.cgroups[cgroupID]
		m.mu.RUnlock()
	}
	if e == nil && cgroupID != 0 {
		if path, ok := m.cg.Path(cgroupID); ok {
			e = m.entryFor(path)
			if path == "/" && *m.opts.PidFallback {
				e.root = true
			}
			m.mu.Lock()
			m.cgroups[cgroupID] = e
			m.mu.Unlock()
		}
	}
	if (e == nil || e.root) && pid != 0 {
		if pe := m.pidEntry(pid); pe != nil {
			e = pe
		}
	}
	if e == nil {
		// Neither the cgroup nor the process exists any more: unknown,
		// which is not the host.
		return nil
	}
	if e.info.Type == "" {
		return m.host
	}
	c := m.ensure(e)
	if c != nil && c.StartTS == 0 && pid != 0 {
		// The runtime's task event, which carries the init's pid, may still
		// be in flight when the container's first exec is resolved. That
		// first process is the container's init (runc execs the entrypoint
		// in place), so its start time is the container's start; the task
		// event, when it lands, sets the init's own start time.
		if ts, err := ProcStartTime(pid); err == nil {
			m.setStartTS(c.FullID, ts)
			m.mu.RLock()
			if r := m.records[c.FullID]; r != nil {
				c = r.c
			}
			m.mu.RUnlock()
		}
	}
	return c
}

// pidEntry resolves pid from /proc/PID/cgroup and caches the answer. A
// process /proc no longer knows is cached too (as a nil entry): the events
// of an exited process are often read after it is gone (a consumer behind
// the ring by a burst), and each would otherwise open /proc again.
func (m *Manager) pidEntry(pid uint32) *cgEntry {
	m.procReads.Add(1)
	v2, info, ok, err := ProcCgroup(pid)
	if err != nil {
		m.mu.Lock()
		m.pids[pid] = pidEntry{expires: time.Now().UnixNano() + pidTTL}
		m.mu.Unlock()
		return nil
	}
	var e *cgEntry
	if ok {
		e = &cgEntry{path: v2, info: info}
	} else {
		e = m.entryFor(v2)
	}
	m.mu.Lock()
	m.pids[pid] = pidEntry{entry: e, expires: time.Now().UnixNano() + pidTTL}
	m.mu.Unlock()
	return e
}

// entryFor parses a cgroup path, consulting the cgroup paths runtimes
// reported for containers whose ids the parser cannot recognise.
func (m *Manager) entryFor(path string) *cgEntry {
	info, ok := ParseCgroupPath(path)
	if !ok {
		m.mu.RLock()
		info, ok = m.hints[path]
		m.mu.RUnlock()
	}
	if !ok {
		return &cgEntry{path: path}
	}
	return &cgEntry{path: path, info: info}
}

// ensure returns the container of e, creating an id-only record and looking
// the metadata up when the container is new.
func (m *Manager) ensure(e *cgEntry) *event.Container {
	m.mu.Lock()
	r := m.records[e.info.ID]
	if r == nil {
		r = &record{c: &event.Container{
			ID: shortID(e.info.ID), FullID: e.info.ID, Type: e.info.Type, CgroupPath: e.path, PodUID: e.info.PodUID,
		}}
		m.records[e.info.ID] = r
	}
	c := r.c
	doSync := !c.MetadataKnown && !r.inflight && r.tries == 0 && m.opts.LookupTimeout > 0
	if doSync {
		r.inflight = true
	}
	m.mu.Unlock()
	if !doSync {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.LookupTimeout)
	got, err := m.lookup(ctx, e.info)
	cancel()
	m.mu.Lock()
	r.inflight = false
	r.tries++
	m.mu.Unlock()
	if err != nil {
		m.enqueue(e.info)
		return c
	}
	return m.put(got, nil)
}

// lookup asks the connected clients that serve info.Type.
func (m *Manager) lookup(ctx context.Context, info PathInfo) (*event.Container, error) {
	start := time.Now()
	m.nLookups.Add(1)
	err := ErrNotConnected
	for _, st := range m.clients {
		if !st.client.handles(info.Type) || !st.connected.Load() {
			continue
		}
		var c *event.Container
		c, err = st.client.inspect(ctx, info)
		if err == nil {
			m.observe(time.Since(start))
			return c, nil
		}
	}
	m.observe(time.Since(start))
	m.lookupFail.Add(1)
	return nil, err
}

func (m *Manager) observe(d time.Duration) {
	ns := uint64(d)
	m.lookupNs.Add(ns)
	for {
		cur := m.lookupMax.Load()
		if ns <= cur || m.lookupMax.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// enqueue schedules an asynchronous lookup.
func (m *Manager) enqueue(info PathInfo) {
	m.lookups.Push(info)
}

// put publishes runtime metadata. Fields the runtime did not report
// (cgroup path, start time) are kept from the previous snapshot.
func (m *Manager) put(c *event.Container, from *runtimeState) *event.Container {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[c.FullID]
	if r == nil {
		r = &record{}
		m.records[c.FullID] = r
	} else if old := r.c; old != nil {
		if c.CgroupPath == "" {
			c.CgroupPath = old.CgroupPath
		}
		if c.StartTS == 0 {
			c.StartTS = old.StartTS
		}
		if c.PodUID == "" {
			c.PodUID = old.PodUID
		}
	}
	if ts, ok := m.pendingStart[c.FullID]; ok {
		if c.StartTS == 0 {
			c.StartTS = ts
		}
		delete(m.pendingStart, c.FullID)
	}
	if c.CgroupPath != "" {
		if _, ok := ParseCgroupPath(c.CgroupPath); !ok {
			if _, known := m.hints[c.CgroupPath]; !known {
				m.hints[c.CgroupPath] = PathInfo{Type: c.Type, ID: c.FullID}
				// A cgroup resolved before the runtime reported it was
				// taken for the host's: forget it.
				for id, e := range m.cgroups {
					if e.path == c.CgroupPath {
						delete(m.cgroups, id)
					}
				}
			}
		}
	}
	r.c = c
	r.deletedAt = time.Time{}
	return c
}

// setStartTS records a container's start time (its init's start).
func (m *Manager) setStartTS(fullID string, ts int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[fullID]
	if r == nil {
		m.pendingStart[fullID] = ts
		return
	}
	if r.c.StartTS == ts {
		return
	}
	c := *r.c
	c.StartTS = ts
	r.c = &c
}

// markDeleted starts the grace period of a deleted container.
func (m *Manager) markDeleted(fullID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.records[fullID]; r != nil {
		r.deletedAt = time.Now()
	}
}

// clientSink is how a runtime client reports to the Manager.
type clientSink struct {
	m  *Manager
	st *runtimeState
}

// Put publishes a container's metadata.
func (s *clientSink) Put(c *event.Container) { s.m.put(c, s.st) }

// Delete reports a container removed.
func (s *clientSink) Delete(fullID string) { s.m.markDeleted(fullID) }

// StartTS reports a container's start time.
func (s *clientSink) StartTS(fullID string, ts int64) { s.m.setStartTS(fullID, ts) }

// Connected reports that the initial listing is done and events flow.
func (s *clientSink) Connected(version string) {
	s.st.mu.Lock()
	s.st.version = version
	s.st.lastErr = ""
	s.st.conns++
	if s.st.conns > 1 {
		s.st.reconnects++
	}
	s.st.mu.Unlock()
	s.st.connected.Store(true)
	s.m.log.Debug("container runtime connected", "runtime", s.st.client.name(), "version", version)
}

// Run runs the runtime subscriptions, the asynchronous lookups and the
// cache janitor until ctx is done. Clients that cannot connect retry with
// backoff (100ms doubling to 5s).
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, st := range m.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runClient(ctx, st)
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); m.runLookups(ctx) }()
	go func() { defer wg.Done(); m.runJanitor(ctx) }()
	wg.Wait()
	return nil
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

func (m *Manager) runClient(ctx context.Context, st *runtimeState) {
	backoff := minBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := st.client.watch(ctx, &clientSink{m: m, st: st})
		st.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			st.mu.Lock()
			st.lastErr = err.Error()
			st.mu.Unlock()
		}
		if time.Since(start) > 10*time.Second {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// retryDelays are the waits between asynchronous lookup attempts.
var retryDelays = [...]time.Duration{50 * time.Millisecond, 200 * time.Millisecond, time.Second, 5 * time.Second}

func (m *Manager) runLookups(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case info := <-m.lookups.C():
			m.mu.Lock()
			r := m.records[info.ID]
			skip := r == nil || r.c.MetadataKnown || r.inflight || r.tries > len(retryDelays)
			if !skip {
				r.inflight = true
			}
			m.mu.Unlock()
			if skip {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := m.lookup(lctx, info)
			cancel()
			m.mu.Lock()
			r.inflight = false
			r.tries++
			tries := r.tries
			m.mu.Unlock()
			if err == nil {
				m.put(c, nil)
				continue
			}
			if tries <= len(retryDelays) {
				time.AfterFunc(retryDelays[tries-1], func() { m.enqueue(info) })
			}
		}
	}
}

// janitorEvery is the cache janitor's period.
const janitorEvery = 5 * time.Second

func (m *Manager) runJanitor(ctx context.Context) {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep drops cgroups that are gone, deleted containers past their grace,
// id-only containers no cgroup refers to, and expired pid entries.
func (m *Manager) sweep() {
	if err := m.cg.Refresh(); err != nil {
		m.log.Warn("container: cgroup walk failed", "err", err)
		return
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	used := make(map[string]bool, len(m.records))
	for id, e := range m.cgroups {
		if _, ok := m.cg.Lookup(id); !ok {
			delete(m.cgroups, id)
			continue
		}
		used[e.info.ID] = true
	}
	clear(m.pendingStart) // reports older than a janitor period are stale
	for pid, pe := range m.pids {
		if pe.expires < now.UnixNano() {
			delete(m.pids, pid)
		}
	}
	for id, r := range m.records {
		if (!r.deletedAt.IsZero() && now.Sub(r.deletedAt) > m.opts.DeleteGrace) ||
			(!r.c.MetadataKnown && !used[id] && !r.inflight) {
			delete(m.records, id)
			if r.c.CgroupPath != "" {
				delete(m.hints, r.c.CgroupPath)
			}
		}
	}
}

// Runtimes reports the runtime clients and their state.
func (m *Manager) Runtimes() []RuntimeStatus {
	counts := map[string]int{}
	m.mu.RLock()
	for _, r := range m.records {
		if r.deletedAt.IsZero() && r.c.MetadataKnown {
			counts[r.c.Type]++
		}
	}
	m.mu.RUnlock()
	out := make([]RuntimeStatus, 0, len(m.clients))
	for _, st := range m.clients {
		_, err := os.Stat(st.client.socket())
		st.mu.Lock()
		out = append(out, RuntimeStatus{
			Name: st.client.name(), Socket: st.client.socket(), Found: err == nil,
			Connected: st.connected.Load(), Version: st.version, LastError: st.lastErr,
			Containers: counts[st.client.name()], Reconnects: st.reconnects,
		})
		st.mu.Unlock()
	}
	return out
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	m.mu.RLock()
	s := Stats{Containers: len(m.records), Cgroups: len(m.cgroups)}
	m.mu.RUnlock()
	s.Hits, s.Misses = m.hits.Load(), m.misses.Load()
	s.Lookups, s.LookupFailures = m.nLookups.Load(), m.lookupFail.Load()
	if s.Lookups > 0 {
		s.LookupLatency = time.Duration(m.lookupNs.Load() / s.Lookups)
	}
	s.LookupMax = time.Duration(m.lookupMax.Load())
	s.CgroupWalks = m.cg.Walks()
	s.Dropped = m.lookups.Dropped()
	s.ProcReads = m.procReads.Load()
	return s
}

// Containers returns the running containers whose metadata is known (for
// image scanning). The Containers are shared snapshots: do not modify.
func (m *Manager) Containers() []*event.Container {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*event.Container, 0, len(m.records))
	for _, r := range m.records {
		if r.deletedAt.IsZero() && r.c.MetadataKnown {
			out = append(out, r.c)
		}
	}
	return out
}

// AwaitMetadata returns c once the runtimes have described it: when c's
// metadata is not known yet (the first lookup raced the runtime, or is
// still queued for retry), it asks the runtimes again until they answer or
// ctx ends, and then returns what is known (MetadataKnown may still be
// false). The exec gate uses it: a container held at its first exec must
// be classified by its image and name, not let go for want of them.
func (m *Manager) AwaitMetadata(ctx context.Context, c *event.Container) *event.Container {
	if c == nil || c.MetadataKnown {
		return c
	}
	info, ok := ParseCgroupPath(c.CgroupPath)
	if !ok || info.ID == "" {
		info = PathInfo{Type: c.Type, ID: c.FullID, PodUID: c.PodUID}
	}
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		m.mu.RLock()
		r := m.records[info.ID]
		m.mu.RUnlock()
		if r != nil && r.c.MetadataKnown {
			return r.c
		}
		if got, err := m.lookup(ctx, info); err == nil {
			return m.put(got, nil)
		}
		select {
		case <-ctx.Done():
			if r != nil {
				return r.c
			}
			return c
		case <-time.After(wait):
		}
	}
}
