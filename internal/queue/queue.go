package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/metrics"
)

// RuleOverflow is the rule name of the internal alert about a queue that
// dropped.
const RuleOverflow = "Vigil queue overflow"

// DefaultInterval is the default least time between two overflow alerts of
// one queue.
const DefaultInterval = time.Minute

// Options name a queue.
type Options struct {
	// Name is the queue's label in metrics and alerts (e.g. "store",
	// "output.stdout"); unique within an Overflow.
	Name string
	// Item names what the queue holds, plural ("alerts", "lookups").
	Item string
	// Size is the capacity (at least 1).
	Size int
	// Overflow reports the drops (nil: counted only).
	Overflow *Overflow
}

// Queue is a bounded FIFO of T between goroutines. Push may be called from
// any goroutine; consumers receive from C.
type Queue[T any] struct {
	ch chan T
	// mu orders Push against Close: pushes share it, Close takes it alone,
	// so a late producer (a gate fallback at shutdown) is told no instead
	// of panicking on a closed channel.
	mu     sync.RWMutex
	closed bool
	book
}

// book is a queue's bookkeeping, whatever it holds.
type book struct {
	name, item string
	length     func() int
	capacity   int
	ov         *Overflow

	dropped  atomic.Uint64
	reported atomic.Uint64 // drops already told by an alert
	last     atomic.Int64  // ns of the last alert
}

// New returns an empty queue and registers it with its Overflow.
func New[T any](o Options) *Queue[T] {
	q := &Queue[T]{ch: make(chan T, max(o.Size, 1))}
	q.name, q.item, q.capacity, q.ov = o.Name, o.Item, cap(q.ch), o.Overflow
	q.length = func() int { return len(q.ch) }
	if q.item == "" {
		q.item = "items"
	}
	if q.ov != nil {
		q.ov.add(&q.book)
	}
	return q
}

// Push queues v; false when the queue was full (v is dropped, counted and
// reported) or closed (v is discarded: nobody will read it). It never
// blocks and may race Close.
func (q *Queue[T]) Push(v T) bool {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return false
	}
	select {
	case q.ch <- v:
		q.mu.RUnlock()
		return true
	default:
	}
	q.mu.RUnlock()
	q.dropped.Add(1)
	if q.ov != nil {
		q.ov.report(&q.book)
	}
	return false
}

// C is the channel consumers receive from.
func (q *Queue[T]) C() <-chan T { return q.ch }

// Len returns the items waiting now.
func (q *Queue[T]) Len() int { return len(q.ch) }

// Cap returns the capacity.
func (q *Queue[T]) Cap() int { return q.capacity }

// Dropped returns the items dropped so far.
func (q *Queue[T]) Dropped() uint64 { return q.dropped.Load() }

// Name returns the queue's name.
func (q *Queue[T]) Name() string { return q.name }

// Drops counts and reports the drops of a bounded buffer that is not a
// channel (a per-container backlog, a slice with a limit), the same way a
// Queue does.
type Drops struct{ book }

// NewDrops returns the drop counter named by o (o.Size is the bound, for
// the alert's text) and registers it with o.Overflow.
func NewDrops(o Options) *Drops {
	d := &Drops{}
	d.name, d.item, d.capacity, d.ov = o.Name, o.Item, o.Size, o.Overflow
	if d.item == "" {
		d.item = "items"
	}
	if d.ov != nil {
		d.ov.add(&d.book)
	}
	return d
}

// Drop counts one dropped item and reports it.
func (d *Drops) Drop() { d.Add(1) }

// Add counts n dropped items (a counter kept elsewhere, e.g. in the kernel,
// read since the last call) and reports them; 0 does nothing.
func (d *Drops) Add(n uint64) {
	if n == 0 {
		return
	}
	d.dropped.Add(n)
	if d.ov != nil {
		d.ov.report(&d.book)
	}
}

// Dropped returns the items dropped so far.
func (d *Drops) Dropped() uint64 { return d.dropped.Load() }

// OverflowOptions configure an Overflow.
type OverflowOptions struct {
	// Interval is the least time between two alerts of one queue; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Hostname of the alerts.
	Hostname string
	// Logger also gets each alert's text at warning level; nil discards.
	Logger *slog.Logger
	// Pending bounds the alerts waiting for Run; 0 means 64.
	Pending int
}

// Overflow is where queues report: one per agent. It exports every
// registered queue's counters and turns drops into internal alerts,
// delivered by Run.
type Overflow struct {
	opts    OverflowOptions
	log     *slog.Logger
	pending chan *alert.Alert

	mu     sync.Mutex
	queues []*book
}

// NewOverflow returns an Overflow; call Run to deliver its alerts.
func NewOverflow(o OverflowOptions) *Overflow {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Pending <= 0 {
		o.Pending = 64
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Overflow{opts: o, log: log, pending: make(chan *alert.Alert, o.Pending)}
}

func (o *Overflow) add(b *book) {
	o.mu.Lock()
	o.queues = append(o.queues, b)
	o.mu.Unlock()
}

// report raises the alert of b's drops unless one was raised within the
// interval (called by Push on the dropping goroutine: it only queues).
func (o *Overflow) report(b *book) {
	now := time.Now().UnixNano()
	last := b.last.Load()
	if last != 0 && now-last < int64(o.opts.Interval) {
		return
	}
	if !b.last.CompareAndSwap(last, now) {
		return // another goroutine reports
	}
	total := b.dropped.Load()
	since := total - b.reported.Load()
	a := alert.NewInternal(RuleOverflow, alert.PriorityError, o.opts.Hostname, time.Unix(0, now),
		fmt.Sprintf("Vigil queue %s dropped %d %s: it is full (capacity=%d); what they carried is lost (queue=%s dropped=%d total_dropped=%d)",
			b.name, since, b.item, b.capacity, b.name, since, total),
		alert.Field{Name: "vigil.queue", Value: b.name}, alert.Field{Name: "vigil.dropped", Value: since},
		alert.Field{Name: "vigil.total_dropped", Value: total}, alert.Field{Name: "vigil.capacity", Value: int64(b.capacity)})
	select {
	case o.pending <- a:
		b.reported.Store(total)
		o.log.Warn(a.Output)
	default:
		b.last.Store(last) // not told: the next drop tries again
	}
}

// Run delivers the overflow alerts to emit until ctx is done, then what is
// still pending. emit is called from Run's goroutine only.
func (o *Overflow) Run(ctx context.Context, emit func(*alert.Alert)) error {
	for {
		select {
		case a := <-o.pending:
			emit(a)
		case <-ctx.Done():
			for {
				select {
				case a := <-o.pending:
					emit(a)
				default:
					return nil
				}
			}
		}
	}
}

// Register exports the registered queues' counters (those registered
// later too): vigil_queue_dropped_total, vigil_queue_length and
// vigil_queue_capacity, by queue.
func (o *Overflow) Register(r *metrics.Registry) {
	each := func(e metrics.Emit, v func(b *book) float64) {
		o.mu.Lock()
		qs := append([]*book(nil), o.queues...)
		o.mu.Unlock()
		for _, b := range qs {
			e(v(b), b.name)
		}
	}
	length := func(b *book) float64 {
		if b.length == nil { // Drops: a buffer the owner measures
			return 0
		}
		return float64(b.length())
	}
	r.Func("vigil_queue_dropped_total", "Items dropped because a bounded queue was full, by queue (each drop also raises the rate-limited internal alert \"Vigil queue overflow\").",
		metrics.TypeCounter, []string{"queue"}, func(e metrics.Emit) {
			each(e, func(b *book) float64 { return float64(b.dropped.Load()) })
		})
	r.Func("vigil_queue_length", "Items waiting in a bounded queue, by queue.", metrics.TypeGauge, []string{"queue"},
		func(e metrics.Emit) { each(e, length) })
	r.Func("vigil_queue_capacity", "Capacity of a bounded queue, by queue.", metrics.TypeGauge, []string{"queue"},
		func(e metrics.Emit) { each(e, func(b *book) float64 { return float64(b.capacity) }) })
}

// Close closes C: consumers drain what is queued and stop. A Push after
// Close returns false; Close may be called more than once.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
