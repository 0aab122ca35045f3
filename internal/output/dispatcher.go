package output

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// RuleQueueOverflow is the rule name of the internal alert that reports
// alerts dropped because an output's queue was full.
const RuleQueueOverflow = "Vigil output queue overflow"

// Options configures a Dispatcher.
type Options struct {
	// OverflowInterval is the least time between two overflow alerts for
	// one output. Zero means one minute.
	OverflowInterval time.Duration
	// Hostname goes into internal alerts.
	Hostname string
	// Logger receives delivery errors (at most one per output per second).
	// Nil discards them.
	Logger *slog.Logger
}

// Stats are one output's counters.
type Stats struct {
	Name     string
	Queued   int    // alerts waiting now
	Capacity int    // queue size
	Sent     uint64 // alerts delivered
	Dropped  uint64 // alerts dropped because the queue was full
	Errors   uint64 // alerts the output failed to deliver
}

// Dispatcher fans alerts out to outputs.
type Dispatcher struct {
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex // guards closed and the queues' lifetime against Send
	closed bool
	queues []*queue

	wg    sync.WaitGroup
	abort context.Context
	stop  context.CancelFunc
}

type queue struct {
	d   *Dispatcher
	out Output
	min alert.Priority
	ch  chan *alert.Alert

	sent, dropped, errors atomic.Uint64
	lastOverflow          atomic.Int64 // ns; last overflow alert
	reportedDrops         atomic.Uint64
	lastLog               atomic.Int64
}

// NewDispatcher returns a dispatcher with no outputs.
func NewDispatcher(opts Options) *Dispatcher {
	if opts.OverflowInterval <= 0 {
		opts.OverflowInterval = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{opts: opts, log: log, abort: ctx, stop: cancel}
}

// Add starts delivering to o the alerts at min priority or above, through a
// queue of queueSize alerts. The dispatcher owns o from now on.
func (d *Dispatcher) Add(o Output, min alert.Priority, queueSize int) {
	q := &queue{d: d, out: o, min: min, ch: make(chan *alert.Alert, max(queueSize, 1))}
	d.mu.Lock()
	d.queues = append(d.queues, q)
	d.mu.Unlock()
	workers := 1
	if p, ok := o.(Parallel); ok {
		workers = max(p.Workers(), 1)
	}
	for range workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			q.run()
		}()
	}
}

// Send queues a for every output that wants its priority. It never blocks:
// an output whose queue is full loses a (counted). a must not be modified
// afterwards. Send after Close drops a.
func (d *Dispatcher) Send(a *alert.Alert) {
	d.mu.RLock()
	if !d.closed {
		for _, q := range d.queues {
			q.offer(a)
		}
	}
	d.mu.RUnlock()
}

// offer queues a; called with d.mu read-locked.
func (q *queue) offer(a *alert.Alert) {
	if !a.Priority.AtLeast(q.min) {
		return
	}
	select {
	case q.ch <- a:
		return
	default:
	}
	q.dropped.Add(1)
	now := time.Now().UnixNano()
	last := q.lastOverflow.Load()
	if now-last < int64(q.d.opts.OverflowInterval) || !q.lastOverflow.CompareAndSwap(last, now) {
		return
	}
	dropped := q.dropped.Load()
	since := dropped - q.reportedDrops.Swap(dropped)
	ia := &alert.Alert{
		UUID: alert.NewUUID(), Time: time.Now(), Rule: RuleQueueOverflow, Priority: alert.PriorityError,
		Source: alert.SourceInternal, Hostname: q.d.opts.Hostname,
		Output: fmt.Sprintf("Vigil output %s dropped %d alerts: its queue (%d) is full (output=%s dropped=%d total_dropped=%d)",
			q.out.Name(), since, cap(q.ch), q.out.Name(), since, dropped),
		OutputFields: []alert.Field{{Name: "vigil.output", Value: q.out.Name()}, {Name: "vigil.dropped", Value: since},
			{Name: "vigil.total_dropped", Value: dropped}},
		Tags:  []string{"vigil_internal"},
		Vigil: alert.Context{Count: 1},
	}
	for _, o := range q.d.queues {
		if o != q && ia.Priority.AtLeast(o.min) {
			select {
			case o.ch <- ia:
			default:
				o.dropped.Add(1)
			}
		}
	}
}

func (q *queue) run() {
	ctx := q.d.abort
	if b, ok := q.out.(Batcher); ok && b.BatchSize() > 1 {
		q.runBatches(ctx, b)
		return
	}
	if b, ok := q.out.(Buffered); ok {
		q.runBuffered(ctx, b)
		return
	}
	for a := range q.ch {
		if err := q.out.Write(ctx, a); err != nil {
			q.failed(1, err)
			continue
		}
		q.sent.Add(1)
	}
}

// runBuffered writes alerts into b's buffer and flushes it when the queue
// is empty or flushEvery alerts are pending.
func (q *queue) runBuffered(ctx context.Context, b Buffered) {
	pending := 0
	flush := func() {
		if pending == 0 {
			return
		}
		if err := b.Flush(); err != nil {
			q.failed(pending, err)
		} else {
			q.sent.Add(uint64(pending))
		}
		pending = 0
	}
	for a := range q.ch {
		if err := b.WriteBuffered(ctx, a); err != nil {
			q.failed(pending+1, err)
			pending = 0
			continue
		}
		pending++
		if pending >= flushEvery || len(q.ch) == 0 {
			flush()
		}
	}
	flush()
}

func (q *queue) runBatches(ctx context.Context, b Batcher) {
	size := b.BatchSize()
	batch := make([]*alert.Alert, 0, size)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := b.WriteBatch(ctx, batch); err != nil {
			q.failed(len(batch), err)
		} else {
			q.sent.Add(uint64(len(batch)))
		}
		clear(batch)
		batch = batch[:0]
	}
	for {
		select {
		case a, ok := <-q.ch:
			if !ok {
				flush()
				return
			}
			if len(batch) == 0 {
				timer.Reset(time.Duration(b.BatchInterval()))
			}
			batch = append(batch, a)
			if len(batch) >= size {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

func (q *queue) failed(n int, err error) {
	q.errors.Add(uint64(n))
	now := time.Now().UnixNano()
	if last := q.lastLog.Load(); now-last >= int64(time.Second) && q.lastLog.CompareAndSwap(last, now) {
		q.d.log.Warn("output failed", "output", q.out.Name(), "alerts", n, "err", err)
	}
}

// Reopen asks every output that can to reopen its destination.
func (d *Dispatcher) Reopen() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var first error
	for _, q := range d.queues {
		if r, ok := q.out.(Reopener); ok {
			if err := r.Reopen(); err != nil && first == nil {
				first = fmt.Errorf("reopen %s: %w", q.out.Name(), err)
			}
		}
	}
	return first
}

// Stats returns every output's counters.
func (d *Dispatcher) Stats() []Stats {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s := make([]Stats, len(d.queues))
	for i, q := range d.queues {
		s[i] = Stats{Name: q.out.Name(), Queued: len(q.ch), Capacity: cap(q.ch), Sent: q.sent.Load(),
			Dropped: q.dropped.Load(), Errors: q.errors.Load()}
	}
	return s
}

// Close stops accepting alerts, delivers what is queued until ctx ends
// (then cancels the outputs' in-flight writes and fails the rest fast), and
// closes every output. It returns the first Close error.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for _, q := range d.queues {
		close(q.ch)
	}
	d.mu.Unlock()

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.stop()
		<-done
	}
	d.stop()
	var first error
	for _, q := range d.queues {
		if err := q.out.Close(); err != nil && first == nil {
			first = fmt.Errorf("close output %s: %w", q.out.Name(), err)
		}
	}
	return first
}
