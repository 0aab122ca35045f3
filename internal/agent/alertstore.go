package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/store"
)

// Internal alerts of the alert store.
const (
	// RuleStoreUnavailable: the store cannot be opened; the agent runs
	// without it and retries.
	RuleStoreUnavailable = "Vigil alert store unavailable"
	// RuleStoreAvailable: the store opened after being unavailable.
	RuleStoreAvailable = "Vigil alert store available"
	// RuleStoreWriteFailed: batches of alerts could not be written (its
	// filesystem full, an I/O error); at most one per minute.
	RuleStoreWriteFailed = "Vigil alert store write failed"
)

// storeWriteAlertInterval is the least time between two
// RuleStoreWriteFailed alerts.
const storeWriteAlertInterval = time.Minute

// alertStore is the alert store as the agent holds it. The store is
// auxiliary: when it cannot be opened (directory missing and not
// creatable, filesystem full or read-only, file corrupt) the agent runs
// without it, raises RuleStoreUnavailable, and run retries every
// store.retry_interval; once open it raises RuleStoreAvailable and alerts
// are stored from then on. Alerts raised meanwhile reach the other outputs
// and are counted as missed.
type alertStore struct {
	cfg      config.Store
	overflow *queue.Overflow
	log      *slog.Logger
	raise    func(rule string, pri alert.Priority, output string, fields ...alert.Field)

	cur    atomic.Pointer[store.Store]
	missed atomic.Uint64
	mu     sync.Mutex
	err    error // why the store is unavailable, nil once open

	lastWriteAlert atomic.Int64 // unix ns of the last RuleStoreWriteFailed
	writeLost      atomic.Uint64
}

func newAlertStore(cfg config.Store, overflow *queue.Overflow, log *slog.Logger, raise func(string, alert.Priority, string, ...alert.Field)) *alertStore {
	s := &alertStore{cfg: cfg, overflow: overflow, log: log, raise: raise}
	if err := s.open(); err != nil {
		s.unavailable(err)
	}
	return s
}

// open tries to open the store.
func (s *alertStore) open() error {
	st, err := store.Open(s.cfg.Path, store.Options{
		BatchSize: s.cfg.BatchSize, FlushInterval: s.cfg.FlushInterval, QueueSize: s.cfg.QueueSize,
		Retention: s.cfg.Retention, MaxSize: int64(s.cfg.MaxSizeMB) << 20,
		PruneInterval: s.cfg.PruneInterval, Logger: s.log, Overflow: s.overflow, OnWriteError: s.writeFailed})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
	if err == nil {
		s.cur.Store(st)
	}
	return err
}

func (s *alertStore) unavailable(err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	s.log.Error("alert store unavailable; running without it and retrying", "path", s.cfg.Path, "retry", s.cfg.RetryInterval, "err", msg)
	s.raise(RuleStoreUnavailable, alert.PriorityError,
		fmt.Sprintf("Vigil alert store unavailable, alerts go to the other outputs only; retrying every %s (path=%s error=%s)", s.cfg.RetryInterval, s.cfg.Path, msg),
		alert.Field{Name: "vigil.store.path", Value: s.cfg.Path}, alert.Field{Name: "vigil.error", Value: msg})
}

// writeFailed raises RuleStoreWriteFailed, rate-limited; the alert goes to
// the other outputs (and to the store, which may fail again: counted).
func (s *alertStore) writeFailed(lost int, err error) {
	total := s.writeLost.Add(uint64(lost))
	now := time.Now().UnixNano()
	last := s.lastWriteAlert.Load()
	if last != 0 && now-last < int64(storeWriteAlertInterval) || !s.lastWriteAlert.CompareAndSwap(last, now) {
		return
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	s.raise(RuleStoreWriteFailed, alert.PriorityError,
		fmt.Sprintf("Vigil alert store write failed: %d alerts not stored (%d in all); the other outputs have them (path=%s error=%s)", lost, total, s.cfg.Path, msg),
		alert.Field{Name: "vigil.store.path", Value: s.cfg.Path}, alert.Field{Name: "vigil.error", Value: msg},
		alert.Field{Name: "vigil.store.lost", Value: total})
}

// get returns the open store, nil while unavailable.
func (s *alertStore) get() *store.Store { return s.cur.Load() }

// Err says why the store is unavailable (nil when open).
func (s *alertStore) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Add queues an alert for the store; while it is unavailable the alert is
// counted as missed. It never blocks.
func (s *alertStore) Add(a *alert.Alert) {
	if st := s.cur.Load(); st != nil {
		st.Add(a)
		return
	}
	s.missed.Add(1)
}

// Query implements api.Querier.
func (s *alertStore) Query(ctx context.Context, f store.Filter) ([]*alert.Alert, error) {
	st := s.cur.Load()
	if st == nil {
		return nil, fmt.Errorf("alert store unavailable: %v", s.Err())
	}
	return st.Query(ctx, f)
}

// run retries an unavailable store until it opens, then runs it (batched
// writes, retention) until ctx ends.
func (s *alertStore) run(ctx context.Context) error {
	if s.cur.Load() == nil {
		t := time.NewTicker(s.cfg.RetryInterval)
		defer t.Stop()
		for s.cur.Load() == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := s.open(); err == nil {
					s.log.Info("alert store available", "path", s.cfg.Path, "missed", s.missed.Load())
					s.raise(RuleStoreAvailable, alert.PriorityNotice,
						fmt.Sprintf("Vigil alert store available again; %d alerts raised meanwhile are not in it (path=%s)", s.missed.Load(), s.cfg.Path),
						alert.Field{Name: "vigil.store.path", Value: s.cfg.Path}, alert.Field{Name: "vigil.store.missed", Value: s.missed.Load()})
				}
			}
		}
	}
	return s.cur.Load().Run(ctx)
}

// Close closes the store if it was opened.
func (s *alertStore) Close() error {
	if st := s.cur.Load(); st != nil {
		return st.Close()
	}
	return nil
}
