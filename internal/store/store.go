package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/safefile"
)

// DefaultPath is the default database file.
const DefaultPath = "/var/lib/vigil/alerts.db"

// ErrNoStore is returned by OpenExisting when there is no database file.
var ErrNoStore = errors.New("no alert store")

// Options configures a Store; zero values mean the defaults shown.
type Options struct {
	BatchSize     int           // alerts per transaction (256)
	FlushInterval time.Duration // longest wait before a partial batch is written (200ms)
	QueueSize     int           // alerts waiting to be written (16384)
	Retention     time.Duration // prune alerts older than this; 0 keeps them forever
	MaxSize       int64         // prune the oldest alerts while the data exceeds this many bytes; 0: no limit
	PruneInterval time.Duration // how often retention runs (10m)
	Logger        *slog.Logger
	// Overflow reports the drops of the write queue ("store"): metrics
	// and the internal alert queue.RuleOverflow. Nil: counted only.
	Overflow *queue.Overflow
	// OnWriteError is told of each batch Run failed to write (filesystem
	// full, I/O error): lost alerts and the error. Nil: counted and logged.
	OnWriteError func(lost int, err error)
}

// Stats are the store's counters.
type Stats struct {
	Written uint64 // alerts written (inserted or updated)
	Dropped uint64 // alerts dropped because the queue was full
	Errors  uint64 // alerts lost to write errors
	Pruned  uint64 // alerts removed by retention
	Queued  int
}

// Store is the alert database.
type Store struct {
	db   *sql.DB
	path string
	opts Options
	log  *slog.Logger
	q    *queue.Queue[*alert.Alert]
	iq   *queue.Queue[*alert.Incident] // incidents (the flight recorder's)
	// writer: opened by Open (checkpoints on Close), not OpenExisting.
	writer bool

	written, errs, pruned atomic.Uint64
}

const schema = `
CREATE TABLE IF NOT EXISTS alerts (
	uuid      TEXT PRIMARY KEY,
	time      INTEGER NOT NULL, -- ns since the epoch
	rule      TEXT NOT NULL,
	priority  INTEGER NOT NULL, -- 0 emergency .. 7 debug
	container TEXT NOT NULL,    -- container id, "host" for host processes
	count     INTEGER NOT NULL,
	body      TEXT NOT NULL     -- the Falco JSON alert
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time);
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule, time);
CREATE INDEX IF NOT EXISTS alerts_container ON alerts(container, time);
`

// Open opens (creating it and its directory) the database at path.
func Open(path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return open(path, opts, true)
}

// OpenExisting opens the database at path for queries (it does not create
// or migrate the schema); ErrNoStore when the file does not exist.
func OpenExisting(path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w at %s", ErrNoStore, path)
		}
		return nil, fmt.Errorf("open store: %w", err)
	}
	return open(path, Options{}, false)
}

func open(path string, opts Options, create bool) (*Store, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 16384
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = 10 * time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Per-connection settings only: journal_mode and auto_vacuum are
	// persistent and set once, when the file is created (setting them on
	// every connection would take a write lock while the agent writes).
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	if create {
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	dsn, err := fileURI(path, q)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if err := initDB(db, create); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Store{db: db, path: path, opts: opts, log: log, writer: create,
		q:  queue.New[*alert.Alert](queue.Options{Name: "store", Item: "alerts", Size: opts.QueueSize, Overflow: opts.Overflow}),
		iq: queue.New[*alert.Incident](queue.Options{Name: "store_incidents", Item: "incidents", Size: opts.QueueSize / 4, Overflow: opts.Overflow})}, nil
}

// fileURI is the SQLite URI of the file at path with the query q. The path
// is made absolute and escaped: '?', '#' and '%' in it are part of the
// name, never a query, a fragment or an escape selecting another file.
func fileURI(path string, q url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String(), nil
}

// createPrivate makes sure the database file at path exists with mode 0600
// before SQLite opens it (SQLite gives its WAL and shared-memory files the
// database's mode): a new file is created O_EXCL|O_NOFOLLOW, an existing one
// (of an older version, or made readable by hand) is tightened.
func createPrivate(path string) error {
	f, err := safefile.CreateNew(path, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return err
			}
		}
	}
	return nil
}

// initDB checks the database and, for a writer, creates the schema. A new
// file gets auto_vacuum=INCREMENTAL (before its first table) and WAL mode,
// on one connection.
func initDB(db *sql.DB, create bool) error {
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if !create {
		return c.PingContext(ctx)
	}
	var tables int
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		return err
	}
	if tables == 0 {
		if _, err := c.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return err
		}
	}
	var mode string
	if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
			return err
		}
	}
	return migrate(ctx, c)
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Add queues a for writing; false when the queue was full (a is dropped and
// counted). It never blocks.
func (s *Store) Add(a *alert.Alert) bool {
	return s.q.Push(a)
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{Written: s.written.Load(), Dropped: s.q.Dropped(), Errors: s.errs.Load(),
		Pruned: s.pruned.Load(), Queued: s.q.Len()}
}

// Run writes queued alerts in batches and applies retention until ctx is
// done; then it writes what is still queued and returns.
func (s *Store) Run(ctx context.Context) error {
	batch := make([]*alert.Alert, 0, s.opts.BatchSize)
	var incs []*alert.Incident
	flush := func() {
		if len(incs) > 0 && len(batch) == 0 {
			s.writeIncidents(incs)
			clear(incs)
			incs = incs[:0]
		}
		if len(batch) == 0 {
			return
		}
		if err := s.Insert(context.Background(), batch); err != nil {
			s.errs.Add(uint64(len(batch)))
			s.log.Error("store write failed", "alerts", len(batch), "err", err)
			if s.opts.OnWriteError != nil {
				s.opts.OnWriteError(len(batch), err)
			}
		}
		clear(batch)
		batch = batch[:0]
		if len(incs) > 0 {
			s.writeIncidents(incs)
			clear(incs)
			incs = incs[:0]
		}
	}
	flushT := time.NewTicker(s.opts.FlushInterval)
	defer flushT.Stop()
	pruneT := time.NewTicker(s.opts.PruneInterval)
	defer pruneT.Stop()
	s.prune()
	for {
		select {
		case a := <-s.q.C():
			batch = append(batch, a)
			if len(batch) >= s.opts.BatchSize {
				flush()
			}
		case inc := <-s.iq.C():
			incs = append(incs, inc)
			if len(incs) >= s.opts.BatchSize {
				flush()
			}
		case <-flushT.C:
			flush()
		case <-pruneT.C:
			flush()
			s.prune()
		case <-ctx.Done():
			for {
				select {
				case a := <-s.q.C():
					batch = append(batch, a)
					if len(batch) >= s.opts.BatchSize {
						flush()
					}
					continue
				case inc := <-s.iq.C():
					incs = append(incs, inc)
					continue
				default:
				}
				break
			}
			flush()
			return nil
		}
	}
}

func (s *Store) prune() {
	n, err := s.Prune(context.Background(), time.Now())
	if err != nil {
		s.log.Error("store prune failed", "err", err)
	} else if n > 0 {
		s.log.Info("store pruned", "alerts", n)
	}
}

// Insert writes alerts in one transaction (an alert whose UUID is stored
// already replaces it).
func (s *Store) Insert(ctx context.Context, as []*alert.Alert) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store insert: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	st, err := tx.PrepareContext(ctx, `INSERT INTO alerts(uuid, time, rule, priority, container, count, body, node, namespace, pod, image)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(uuid) DO UPDATE SET count = excluded.count, body = excluded.body`)
	if err != nil {
		return fmt.Errorf("store insert: %w", err)
	}
	defer st.Close()
	var buf []byte
	for _, a := range as {
		buf = a.AppendJSON(buf[:0])
		count := a.Vigil.Count
		if count == 0 {
			count = 1
		}
		var ns, pod, image string
		if c := a.Vigil.Container; c != nil {
			ns, pod, image = c.PodNamespace, c.PodName, c.Image
		}
		if _, err := st.ExecContext(ctx, a.UUID, a.Time.UnixNano(), a.Rule, int(a.Priority), a.ContainerID(),
			int64(count), string(buf), a.Hostname, ns, pod, image); err != nil {
			return fmt.Errorf("store insert: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store insert: %w", err)
	}
	s.written.Add(uint64(len(as)))
	return nil
}

// Filter selects alerts. Zero fields select everything.
type Filter struct {
	Since, Until time.Time
	Rule         string
	// Container is a container id (12 characters or the full id; "host"
	// for host processes).
	Container string
	// Priority, when set, keeps alerts at that priority or more severe.
	Priority *alert.Priority
	// Node (hostname), Namespace and Pod (Kubernetes) and Image (the
	// container's image reference) select alerts by exact value.
	Node, Namespace, Pod, Image string
	// Limit is the most alerts returned, the newest ones (1000 when 0).
	Limit int
}

// Query returns the alerts that match f, oldest first.
func (s *Store) Query(ctx context.Context, f Filter) ([]*alert.Alert, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "time <= ?")
		args = append(args, f.Until.UnixNano())
	}
	if f.Rule != "" {
		where = append(where, "rule = ?")
		args = append(args, f.Rule)
	}
	if f.Container != "" {
		id := f.Container
		if len(id) > 12 && id != "host" {
			id = id[:12]
		}
		where = append(where, "container = ?")
		args = append(args, id)
	}
	if f.Priority != nil {
		where = append(where, "priority <= ?")
		args = append(args, int(*f.Priority))
	}
	for _, c := range []struct{ col, v string }{{"node", f.Node}, {"namespace", f.Namespace}, {"pod", f.Pod}, {"image", f.Image}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := "SELECT body FROM alerts"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time DESC, rowid DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store query: %w", err)
	}
	defer rows.Close()
	var out []*alert.Alert
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("store query: %w", err)
		}
		a := new(alert.Alert)
		if err := a.UnmarshalJSON([]byte(body)); err != nil {
			return nil, fmt.Errorf("store query: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store query: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Count returns the number of stored alerts.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM alerts").Scan(&n); err != nil {
		return 0, fmt.Errorf("store count: %w", err)
	}
	return n, nil
}

// DataSize returns the bytes the database's live pages use.
func (s *Store) DataSize(ctx context.Context) (int64, error) {
	var pages, free, size int64
	err := s.db.QueryRowContext(ctx, "SELECT page_count, freelist_count, page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()").Scan(&pages, &free, &size)
	if err != nil {
		return 0, fmt.Errorf("store size: %w", err)
	}
	return (pages - free) * size, nil
}

// Prune applies retention as of now: it deletes alerts older than the
// retention, then the oldest ones while the data exceeds MaxSize, and
// returns how many it deleted.
func (s *Store) Prune(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	if s.opts.Retention > 0 {
		r, err := s.db.ExecContext(ctx, "DELETE FROM alerts WHERE time < ?", now.Add(-s.opts.Retention).UnixNano())
		if err != nil {
			return 0, fmt.Errorf("store prune: %w", err)
		}
		if _, err := s.db.ExecContext(ctx, "DELETE FROM incidents WHERE time < ?", now.Add(-s.opts.Retention).UnixNano()); err != nil {
			return 0, fmt.Errorf("store prune: %w", err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	for s.opts.MaxSize > 0 {
		size, err := s.DataSize(ctx)
		if err != nil {
			return total, err
		}
		if size <= s.opts.MaxSize {
			break
		}
		count, err := s.Count(ctx)
		if err != nil || count == 0 {
			return total, err
		}
		// Delete the oldest part in proportion to the excess (at least 1%).
		frac := max(float64(size-s.opts.MaxSize)/float64(size), 0.01)
		n := max(int64(float64(count)*frac), 1)
		r, err := s.db.ExecContext(ctx, "DELETE FROM alerts WHERE rowid IN (SELECT rowid FROM alerts ORDER BY time LIMIT ?)", n)
		if err != nil {
			return total, fmt.Errorf("store prune: %w", err)
		}
		d, _ := r.RowsAffected()
		total += d
		// Incidents go with their alerts (by UUID).
		if _, err := s.db.ExecContext(ctx, "DELETE FROM incidents WHERE uuid NOT IN (SELECT uuid FROM alerts) AND time < (SELECT coalesce(min(time), 0) FROM alerts)"); err != nil {
			return total, fmt.Errorf("store prune: %w", err)
		}
		if d == 0 {
			break
		}
	}
	if total > 0 {
		s.pruned.Add(uint64(total))
		if _, err := s.db.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
			return total, fmt.Errorf("store prune: %w", err)
		}
	}
	return total, nil
}

// Close closes the database (after Run returned). Alerts still queued are
// written first.
func (s *Store) Close() error {
	var batch []*alert.Alert
	for {
		select {
		case a := <-s.q.C():
			batch = append(batch, a)
			continue
		default:
		}
		break
	}
	var first error
	if len(batch) > 0 {
		if err := s.Insert(context.Background(), batch); err != nil {
			s.errs.Add(uint64(len(batch)))
			first = err
		}
	}
	var incs []*alert.Incident
	for {
		select {
		case inc := <-s.iq.C():
			incs = append(incs, inc)
			continue
		default:
		}
		break
	}
	if len(incs) > 0 {
		if err := s.InsertIncidents(context.Background(), incs); err != nil && first == nil {
			first = err
		}
	}
	if s.writer {
		_, _ = s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if err := s.db.Close(); err != nil && first == nil {
		first = fmt.Errorf("close store: %w", err)
	}
	return first
}
