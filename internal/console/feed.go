package console

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/alert"
)

// feedBuffer is each subscriber's channel capacity.
const feedBuffer = 256

// Feed fans new alerts out to the console's live subscribers. Publish
// never blocks: a subscriber whose buffer is full misses the alert
// (counted in Dropped; its page catches up on the next reload). The
// agent's and the hub's Sources hold one.
type Feed struct {
	mu      sync.Mutex
	subs    map[chan *alert.Alert]struct{}
	dropped atomic.Uint64
}

// NewFeed returns an empty feed.
func NewFeed() *Feed { return &Feed{subs: map[chan *alert.Alert]struct{}{}} }

// Publish hands a to every subscriber without waiting.
func (f *Feed) Publish(a *alert.Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- a:
		default:
			f.dropped.Add(1)
		}
	}
}

// Subscribe returns a channel of the alerts published from now until ctx
// is done (then it is closed).
func (f *Feed) Subscribe(ctx context.Context) <-chan *alert.Alert {
	ch := make(chan *alert.Alert, feedBuffer)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
		close(ch)
	}()
	return ch
}

// Subscribers returns how many subscribers are connected.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Dropped returns how many alerts subscribers missed.
func (f *Feed) Dropped() uint64 { return f.dropped.Load() }
