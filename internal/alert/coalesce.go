package alert

import (
	"context"
	"sync"
	"time"
)

// MaxCoalesceEntries bounds the coalescer's table; when it is full, new
// alerts are delivered without coalescing.
const MaxCoalesceEntries = 16384

// Coalescer folds identical alerts — same rule, container id and process
// executable path — raised within a window into one. The first is delivered
// at once (Offer returns true); the following ones are counted (Offer
// returns false); when the window closes and more than one was seen, emit
// receives an update: a copy of the first alert with the same UUID,
// Vigil.Update set, Vigil.Count the total and Vigil.LastTime the time of
// the last one.
//
// Windows are measured on the agent's clock from the first alert.
type Coalescer struct {
	window  time.Duration
	perRule map[string]time.Duration
	emit    func(*Alert)
	now     func() time.Time

	mu      sync.Mutex
	entries map[coalesceKey]*coalesceEntry
}

type coalesceKey struct{ rule, container, exe string }

type coalesceEntry struct {
	first    *Alert
	count    uint64
	last     time.Time
	deadline time.Time
}

// NewCoalescer returns a coalescer with the default window and per-rule
// windows (a per-rule 0 turns coalescing off for that rule). A zero window
// with no per-rule windows turns it off. emit receives the updates; it is
// called without the coalescer's lock held.
func NewCoalescer(window time.Duration, perRule map[string]time.Duration, emit func(*Alert)) *Coalescer {
	return &Coalescer{window: window, perRule: perRule, emit: emit, now: time.Now,
		entries: make(map[coalesceKey]*coalesceEntry)}
}

func (c *Coalescer) windowFor(rule string) time.Duration {
	if w, ok := c.perRule[rule]; ok {
		return w
	}
	return c.window
}

// Offer records a and reports whether it must be delivered now.
func (c *Coalescer) Offer(a *Alert) bool {
	w := c.windowFor(a.Rule)
	if w <= 0 || a.Vigil.Update {
		return true
	}
	k := coalesceKey{a.Rule, a.ContainerID(), a.ExePath()}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok && now.Before(e.deadline) {
		e.count++
		e.last = a.Time
		return false
	}
	if len(c.entries) >= MaxCoalesceEntries {
		return true
	}
	c.entries[k] = &coalesceEntry{first: a, count: 1, deadline: now.Add(w)}
	return true
}

// Flush closes the windows that ended before now and emits their updates.
// With all set it closes every window (shutdown).
func (c *Coalescer) Flush(all bool) {
	now := c.now()
	var out []*Alert
	c.mu.Lock()
	for k, e := range c.entries {
		if !all && now.Before(e.deadline) {
			continue
		}
		delete(c.entries, k)
		if e.count > 1 {
			u := *e.first
			u.Vigil.Count = e.count
			u.Vigil.Update = true
			u.Vigil.LastTime = e.last
			out = append(out, &u)
		}
	}
	c.mu.Unlock()
	for _, a := range out {
		c.emit(a)
	}
}

// Len returns the number of open windows.
func (c *Coalescer) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Run closes windows as they end until ctx is done, then closes them all.
func (c *Coalescer) Run(ctx context.Context) error {
	tick := c.window / 4
	for _, w := range c.perRule {
		if w > 0 && (tick <= 0 || w/4 < tick) {
			tick = w / 4
		}
	}
	if tick <= 0 {
		<-ctx.Done()
		return nil
	}
	tick = max(tick, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Flush(true)
			return nil
		case <-t.C:
			c.Flush(false)
		}
	}
}
