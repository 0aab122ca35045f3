package output

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/queue"
)

// Options configures a Dispatcher.
type Options struct {
	// Overflow reports the drops of the outputs' queues (named
	// "output.NAME"): metrics and the internal alert queue.RuleOverflow.
	// Nil: drops are counted only.
	Overflow *queue.Overflow
	// Guard reports a panic of an output's Write (the worker is restarted
	// and the alerts in hand counted as errors); nil: logged only.
	Guard *guard.Guard
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
	queues []*outQueue

	wg    sync.WaitGroup
	abort context.Context
	stop  context.CancelFunc
}

// UpdateSkipper is an Output that may refuse the updates of coalesced
// alerts (alert.Context.Update): the dispatcher then never queues them
// for it (they are neither sent nor dropped nor errors).
type UpdateSkipper interface {
	SkipsUpdates() bool
}

type outQueue struct {
	d         *Dispatcher
	out       Output
	min       alert.Priority
	noUpdates bool
	q         *queue.Queue[*alert.Alert]

	sent, errors atomic.Uint64
	lastLog      atomic.Int64
}

// NewDispatcher returns a dispatcher with no outputs.
func NewDispatcher(opts Options) *Dispatcher {
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
	q := &outQueue{d: d, out: o, min: min, q: queue.New[*alert.Alert](queue.Options{Name: "output." + o.Name(),
		Item: "alerts", Size: queueSize, Overflow: d.opts.Overflow})}
	if u, ok := o.(UpdateSkipper); ok {
		q.noUpdates = u.SkipsUpdates()
	}
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
			for !q.runGuarded() {
			}
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

// offer queues a; called with d.mu read-locked. A full queue drops a
// (counted and reported by the queue).
func (q *outQueue) offer(a *alert.Alert) {
	if a.Priority.AtLeast(q.min) && !(q.noUpdates && a.Vigil.Update) {
		q.q.Push(a)
	}
}

// runGuarded runs the worker until its queue is closed (true), or until the
// output panics (false: the alert in hand is lost and counted as an error,
// the panic reported; the caller starts the worker again).
func (q *outQueue) runGuarded() (done bool) {
	defer func() {
		if r := recover(); r != nil {
			q.errors.Add(1)
			if g := q.d.opts.Guard; g != nil {
				g.Report(guard.StageOutput, "output "+q.out.Name(), r)
			} else {
				q.d.log.Error("output panicked", "output", q.out.Name(), "panic", r)
			}
			done = false
		}
	}()
	q.run()
	return true
}

func (q *outQueue) run() {
	ctx := q.d.abort
	if b, ok := q.out.(Batcher); ok && b.BatchSize() > 1 {
		q.runBatches(ctx, b)
		return
	}
	if b, ok := q.out.(Buffered); ok {
		q.runBuffered(ctx, b)
		return
	}
	for a := range q.q.C() {
		if err := q.out.Write(ctx, a); err != nil {
			q.failed(1, err)
			continue
		}
		q.sent.Add(1)
	}
}

// runBuffered writes alerts into b's buffer and flushes it when the queue
// is empty or flushEvery alerts are pending.
func (q *outQueue) runBuffered(ctx context.Context, b Buffered) {
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
	for a := range q.q.C() {
		if err := b.WriteBuffered(ctx, a); err != nil {
			q.failed(pending+1, err)
			pending = 0
			continue
		}
		pending++
		if pending >= flushEvery || q.q.Len() == 0 {
			flush()
		}
	}
	flush()
}

func (q *outQueue) runBatches(ctx context.Context, b Batcher) {
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
		case a, ok := <-q.q.C():
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

func (q *outQueue) failed(n int, err error) {
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
		s[i] = Stats{Name: q.out.Name(), Queued: q.q.Len(), Capacity: q.q.Cap(), Sent: q.sent.Load(),
			Dropped: q.q.Dropped(), Errors: q.errors.Load()}
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
		q.q.Close()
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
