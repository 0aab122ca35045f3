package hostnames

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a Resolver.
const (
	MaxHosts = 4096
	MaxAddrs = 64
)

// LookupFunc resolves a host name to its addresses.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// Options configure a Resolver; the zero value uses the system resolver,
// a 2 s timeout and a 5 min refresh interval.
type Options struct {
	Lookup  LookupFunc
	Timeout time.Duration
	Refresh time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Resolver hands out Entries and keeps the reverse map (address → first
// host name resolved to it) that outputs use.
type Resolver struct {
	opts    Options
	mu      sync.Mutex
	entries map[string]*Entry
	// reverse is replaced whole on every resolution (copy on write), so
	// readers load it without a lock.
	reverse atomic.Pointer[map[netip.Addr]string]
	dropped atomic.Uint64
	pending sync.WaitGroup
}

// Entry is one host name and its latest addresses.
type Entry struct {
	r       *Resolver
	host    string
	addrs   atomic.Pointer[[]netip.Addr]
	at      atomic.Int64 // unix ns of the last resolution start, 0: never
	running atomic.Bool
	frozen  bool // over MaxHosts: never resolves
}

// New returns a Resolver.
func New(opts *Options) *Resolver {
	r := &Resolver{entries: map[string]*Entry{}}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.Lookup == nil {
		r.opts.Lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if r.opts.Timeout <= 0 {
		r.opts.Timeout = 2 * time.Second
	}
	if r.opts.Refresh <= 0 {
		r.opts.Refresh = 5 * time.Minute
	}
	if r.opts.Now == nil {
		r.opts.Now = time.Now
	}
	m := map[netip.Addr]string{}
	r.reverse.Store(&m)
	return r
}

// Entry returns the entry of host, creating it and starting its first
// resolution in the background. It never blocks on the network.
func (r *Resolver) Entry(host string) *Entry {
	r.mu.Lock()
	e, ok := r.entries[host]
	if !ok {
		e = &Entry{r: r, host: host}
		if len(r.entries) >= MaxHosts {
			e.frozen = true
			r.dropped.Add(1)
		} else {
			r.entries[host] = e
		}
	}
	r.mu.Unlock()
	if !ok {
		e.refresh()
	}
	return e
}

// Dropped counts host names refused because MaxHosts were already known.
func (r *Resolver) Dropped() uint64 { return r.dropped.Load() }

// Wait blocks until no resolution is running (tests and tools that want
// names resolved before they evaluate, like `vigil replay`).
func (r *Resolver) Wait() { r.pending.Wait() }

// Name returns a host name that resolved to ip, "" when none.
func (r *Resolver) Name(ip netip.Addr) string { return (*r.reverse.Load())[ip.Unmap()] }

// Host returns the entry's host name.
func (e *Entry) Host() string { return e.host }

// Addrs returns the latest addresses (nil before the first resolution).
func (e *Entry) Addrs() []netip.Addr {
	if p := e.addrs.Load(); p != nil {
		return *p
	}
	return nil
}

// Match reports whether ip is one of the host's addresses. A stale entry
// starts a background refresh and answers with what it has.
func (e *Entry) Match(ip netip.Addr) bool {
	if at := e.at.Load(); at != 0 && e.r.opts.Now().UnixNano()-at > int64(e.r.opts.Refresh) {
		e.refresh()
	}
	ip = ip.Unmap()
	for _, a := range e.Addrs() {
		if a == ip {
			return true
		}
	}
	return false
}

// refresh starts one resolution unless one is running.
func (e *Entry) refresh() {
	if e.frozen || !e.running.CompareAndSwap(false, true) {
		return
	}
	e.at.Store(e.r.opts.Now().UnixNano())
	e.r.pending.Add(1)
	go func() {
		defer e.r.pending.Done()
		defer e.running.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), e.r.opts.Timeout)
		addrs, err := e.r.opts.Lookup(ctx, e.host)
		cancel()
		if err != nil {
			return // keep what we had; the next stale Match retries
		}
		if len(addrs) > MaxAddrs {
			addrs = addrs[:MaxAddrs]
		}
		out := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			out[i] = a.Unmap()
		}
		e.addrs.Store(&out)
		e.r.addReverse(e.host, out)
	}()
}

func (r *Resolver) addReverse(host string, addrs []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.reverse.Load()
	m := make(map[netip.Addr]string, len(old)+len(addrs))
	for k, v := range old {
		m[k] = v
	}
	for _, a := range addrs {
		if _, ok := m[a]; !ok {
			m[a] = host
		}
	}
	r.reverse.Store(&m)
}

// errNotFound is what StaticLookup answers for a host it does not know.
var errNotFound = &net.DNSError{Err: "no such host", IsNotFound: true}

// StaticLookup is a LookupFunc answering from a fixed table (tests, and
// evaluations that must not use the network).
func StaticLookup(table map[string][]netip.Addr) LookupFunc {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := table[host]; ok {
			return a, nil
		}
		return nil, errNotFound
	}
}
