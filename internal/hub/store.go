package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" driver
	_ "modernc.org/sqlite"           // registers the "sqlite" driver

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/store"
)

// Store is where the hub keeps what the fleet sends. Both implementations
// (SQLite, PostgreSQL) are one SQL store with two dialects and pass the
// same tests.
type Store interface {
	// AddAlerts stores alerts of node; an alert whose UUID is stored
	// already is not stored again (an update of it, Vigil.Update, sets its
	// count). It returns how many new alerts were stored.
	AddAlerts(ctx context.Context, in []Incoming) (int, error)
	// Alerts returns the alerts matching f, newest first.
	Alerts(ctx context.Context, f AlertFilter) ([]StoredAlert, error)
	// CountAlerts counts the alerts stored.
	CountAlerts(ctx context.Context) (int64, error)
	// PutHeartbeat records a node's heartbeat.
	PutHeartbeat(ctx context.Context, hb *fleet.Heartbeat) error
	// Nodes returns the nodes with their last heartbeat, by name.
	Nodes(ctx context.Context) ([]Node, error)
	// AddBundle records a rule bundle the hub pushed.
	AddBundle(ctx context.Context, b *fleet.Bundle) error
	// Bundle returns the bundle of version v (sql.ErrNoRows: none).
	Bundle(ctx context.Context, v uint64) (*fleet.Bundle, error)
	// Bundles returns the bundles' versions, newest first, with their
	// acknowledgements.
	Bundles(ctx context.Context) ([]BundleStatus, error)
	// PutAck records a node's answer to a bundle.
	PutAck(ctx context.Context, a *fleet.Ack) error
	// Alert returns the stored alert uuid (ok false: none).
	Alert(ctx context.Context, uuid string) (a StoredAlert, ok bool, err error)
	// AddIncidents stores incidents (a complete one replaces a partial
	// one of the same alert, never the reverse).
	AddIncidents(ctx context.Context, in []IncomingIncident) error
	// Incident returns the incident of alert uuid as its JSON (nil: none).
	Incident(ctx context.Context, uuid string) ([]byte, error)
	// Hits counts the alerts of each rule per bucket of step from since
	// to until, most alerts first.
	Hits(ctx context.Context, since, until time.Time, step time.Duration) ([]RuleHits, error)
	// PutReport stores an uploaded report and returns its id; Reports
	// returns the newest limit of kind.
	PutReport(ctx context.Context, kind, name string, body []byte) (int64, error)
	Reports(ctx context.Context, kind string, limit int) ([]Report, error)
	// PutProfile keeps a node's learned profile of a workload when it is
	// newer (version, then update time) than the one kept; NodeProfiles
	// returns the newest of every node, of workload name ("" every
	// workload), by name then node.
	PutProfile(ctx context.Context, p NodeProfile) error
	NodeProfiles(ctx context.Context, name string) ([]NodeProfile, error)
	Close() error
}

// Incoming is an alert as it came from the stream.
type Incoming struct {
	Node string
	// Alert needs only what the store indexes (alert.UnmarshalIndex's
	// fields); JSON is what is stored and served.
	Alert *alert.Alert
	JSON  []byte // the alert as the node sent it
}

// AlertFilter selects alerts; zero fields do not filter.
type AlertFilter struct {
	Rule, Node, Namespace, Pod, Image, Container string
	// MinPriority keeps alerts at this priority or above (set: HasPriority).
	MinPriority  alert.Priority
	HasPriority  bool
	Since, Until time.Time
	Limit        int // 0 means 100; at most 10,000
}

// IncomingIncident is an incident as it came from the stream.
type IncomingIncident struct {
	Node     string
	UUID     string
	Complete bool
	JSON     []byte
}

// Report is an uploaded posture, compliance or image report.
type Report = store.Report

// RuleHits is one rule's alert count per bucket (the agent store's type).
type RuleHits = store.RuleHits

// StoredAlert is an alert as stored.
type StoredAlert struct {
	Node  string          `json:"node"`
	Alert json.RawMessage `json:"alert"`
	Count uint64          `json:"count"`
}

// Node is a node and its last heartbeat.
type Node struct {
	Name      string          `json:"node"`
	LastSeen  time.Time       `json:"last_seen"`
	Heartbeat fleet.Heartbeat `json:"heartbeat"`
}

// BundleStatus is a bundle and the nodes' answers.
type BundleStatus struct {
	Version    uint64      `json:"version"`
	Time       time.Time   `json:"time"`
	RollbackOf uint64      `json:"rollback_of,omitempty"`
	Files      []string    `json:"files"`
	Acks       []fleet.Ack `json:"acks"`
}

// sqlStore is the Store on database/sql.
type sqlStore struct {
	db *sql.DB
	d  store.Dialect // the statements both stores run are store's (internal/store/sqlshared.go)
}

// OpenStore opens the store named by dsn: "postgres://..." (or
// "postgresql://...") for PostgreSQL, else a SQLite file path (its
// directory is created 0700, the file 0600). Migrations run on open.
func OpenStore(ctx context.Context, dsn string) (Store, error) {
	var s *sqlStore
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open(store.Postgres.Driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("hub store: %w", err)
		}
		db.SetMaxOpenConns(8)
		s = &sqlStore{db: db, d: store.Postgres}
	} else {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, fmt.Errorf("hub store: %w", err)
		}
		if st, err := os.Lstat(dsn); err == nil && !st.Mode().IsRegular() {
			return nil, fmt.Errorf("hub store: %s is not a regular file (a symbolic link is refused)", dsn)
		} else if errors.Is(err, os.ErrNotExist) {
			f, err := safefile.CreateNew(dsn, 0o600)
			if err != nil {
				return nil, fmt.Errorf("hub store: %w", err)
			}
			f.Close()
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Add("_pragma", "cache_size(-16384)")
		db, err := sql.Open(store.SQLite.Driver, "file:"+dsn+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("hub store: %w", err)
		}
		db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
		s = &sqlStore{db: db, d: store.SQLite}
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// migrations are applied in order, each once; schema_version records the
// last. Both dialects take the same statements.
var migrations = []string{
	`CREATE TABLE alerts (
		uuid TEXT PRIMARY KEY,
		node TEXT NOT NULL,
		time_ns BIGINT NOT NULL,
		rule TEXT NOT NULL,
		priority INTEGER NOT NULL,
		container_id TEXT NOT NULL,
		image TEXT NOT NULL,
		namespace TEXT NOT NULL,
		pod TEXT NOT NULL,
		count BIGINT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE INDEX alerts_time ON alerts (time_ns);
	CREATE INDEX alerts_rule ON alerts (rule, time_ns);
	CREATE INDEX alerts_node ON alerts (node, time_ns);
	CREATE TABLE nodes (
		node TEXT PRIMARY KEY,
		last_seen_ns BIGINT NOT NULL,
		heartbeat TEXT NOT NULL
	);
	CREATE TABLE bundles (
		version BIGINT PRIMARY KEY,
		time_ns BIGINT NOT NULL,
		rollback_of BIGINT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE TABLE bundle_acks (
		node TEXT NOT NULL,
		version BIGINT NOT NULL,
		ok INTEGER NOT NULL,
		body TEXT NOT NULL,
		PRIMARY KEY (node, version)
	)`,
	`CREATE TABLE incidents (
		uuid TEXT PRIMARY KEY,
		node TEXT NOT NULL,
		complete INTEGER NOT NULL,
		body TEXT NOT NULL
	);
	CREATE TABLE reports (
		id BIGINT PRIMARY KEY,
		kind TEXT NOT NULL,
		name TEXT NOT NULL,
		time_ns BIGINT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE INDEX reports_kind ON reports (kind, id)`,
	`CREATE TABLE profiles (
		name TEXT NOT NULL,
		node TEXT NOT NULL,
		version BIGINT NOT NULL,
		updated_ns BIGINT NOT NULL,
		body TEXT NOT NULL,
		PRIMARY KEY (name, node)
	)`,
	// The columns the statements shared with the agent's store read
	// (internal/store/sqlshared.go) as the agent's store has them.
	`ALTER TABLE alerts RENAME COLUMN time_ns TO time;
	ALTER TABLE incidents ADD COLUMN time BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE reports RENAME COLUMN time_ns TO time;
	CREATE INDEX reports_kind_time ON reports (kind, time)`,
}

func (s *sqlStore) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("hub store: migrate: %w", err)
	}
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("hub store: migrate: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("hub store: migrate: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("hub store: schema version %d is newer than this hub (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("hub store: migrate: %w", err)
		}
		for _, stmt := range strings.Split(migrations[i], ";") {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("hub store: migration %d: %w", i+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = `+s.d.Param(1), i+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("hub store: migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("hub store: migration %d: %w", i+1, err)
		}
	}
	return nil
}

// alertColumns are the columns of alerts, in table order.
var alertColumns = []string{"uuid", "node", "time", "rule", "priority", "container_id", "image", "namespace", "pod", "count", "body"}

// alertRows splits in into the rows of new alerts and the coalescer's
// updates of stored ones.
func alertRows(in []Incoming) (rows [][]any, updates []*alert.Alert) {
	rows = make([][]any, 0, len(in))
	for _, x := range in {
		a := x.Alert
		if a.Vigil.Update {
			updates = append(updates, a)
			continue
		}
		var cid, img, ns, pod string
		if c := a.Vigil.Container; c != nil {
			cid, img, ns, pod = c.ID, c.Image, c.PodNamespace, c.PodName
		}
		count := a.Vigil.Count
		if count == 0 {
			count = 1
		}
		rows = append(rows, []any{a.UUID, x.Node, a.Time.UnixNano(), a.Rule, int(a.Priority), cid, img, ns, pod, int64(count), string(x.JSON)})
	}
	return rows, updates
}

// execer is a transaction of either kind (database/sql, pgx).
type execer func(ctx context.Context, q string, args ...any) (int64, error)

// applyUpdates raises the counts of stored alerts.
func (s *sqlStore) applyUpdates(ctx context.Context, exec execer, updates []*alert.Alert) error {
	p := s.d.Param
	for _, a := range updates {
		if _, err := exec(ctx, `UPDATE alerts SET count = `+p(1)+` WHERE uuid = `+p(2)+` AND count < `+p(3),
			int64(a.Vigil.Count), a.UUID, int64(a.Vigil.Count)); err != nil {
			return fmt.Errorf("hub store: update alert: %w", err)
		}
	}
	return nil
}

// AddAlerts implements Store: one transaction; SQLite takes multi-row
// inserts, PostgreSQL a COPY of the alerts it does not hold yet.
func (s *sqlStore) AddAlerts(ctx context.Context, in []Incoming) (int, error) {
	if len(in) == 0 {
		return 0, nil
	}
	rows, updates := alertRows(in)
	if s.d.Name == store.Postgres.Name {
		return s.addAlertsCopy(ctx, rows, updates)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("hub store: %w", err)
	}
	defer tx.Rollback()
	exec := func(ctx context.Context, q string, args ...any) (int64, error) {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	added := 0
	const perStmt = 400
	var b strings.Builder
	args := make([]any, 0, perStmt*len(alertColumns))
	for start := 0; start < len(rows); start += perStmt {
		b.Reset()
		args = args[:0]
		b.WriteString(`INSERT INTO alerts (` + strings.Join(alertColumns, ", ") + `) VALUES `)
		for i, row := range rows[start:min(start+perStmt, len(rows))] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for c := range row {
				if c > 0 {
					b.WriteByte(',')
				}
				b.WriteString(s.d.Param(len(args) + c + 1))
			}
			b.WriteByte(')')
			args = append(args, row...)
		}
		b.WriteString(` ON CONFLICT (uuid) DO NOTHING`)
		n, err := exec(ctx, b.String(), args...)
		if err != nil {
			return 0, fmt.Errorf("hub store: add alerts: %w", err)
		}
		added += int(n)
	}
	if err := s.applyUpdates(ctx, exec, updates); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("hub store: add alerts: %w", err)
	}
	return added, nil
}

// addAlertsCopy is AddAlerts on PostgreSQL: the batch's UUIDs stored
// already are looked up (one query), the rest copied into alerts (COPY,
// 1.6 times the rate of one INSERT ... SELECT FROM unnest ... ON CONFLICT
// DO NOTHING of the batch: 18.8k against 29.7k alerts/s in the same run).
func (s *sqlStore) addAlertsCopy(ctx context.Context, rows [][]any, updates []*alert.Alert) (int, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("hub store: %w", err)
	}
	defer conn.Close()
	added := 0
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if len(rows) > 0 {
			// The batch's alerts stored already (a redelivery) are left
			// out, the others copied in: COPY is PostgreSQL's fastest
			// insert, and the primary key still refuses a copy (a
			// concurrent writer: the batch fails and is tried again).
			uuids := make([]string, len(rows))
			for i, r := range rows {
				uuids[i] = r[0].(string)
			}
			have := map[string]bool{}
			qr, err := tx.Query(ctx, `SELECT uuid FROM alerts WHERE uuid = ANY($1::text[])`, uuids)
			if err != nil {
				return err
			}
			for qr.Next() {
				var u string
				if err := qr.Scan(&u); err != nil {
					qr.Close()
					return err
				}
				have[u] = true
			}
			qr.Close()
			if err := qr.Err(); err != nil {
				return err
			}
			fresh := rows[:0:0]
			for _, r := range rows {
				if u := r[0].(string); !have[u] {
					have[u] = true // once, also within the batch
					fresh = append(fresh, r)
				}
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{"alerts"}, alertColumns, pgx.CopyFromRows(fresh))
			if err != nil {
				return err
			}
			added = int(n)
		}
		exec := func(ctx context.Context, q string, args ...any) (int64, error) {
			tag, err := tx.Exec(ctx, q, args...)
			return tag.RowsAffected(), err
		}
		if err := s.applyUpdates(ctx, exec, updates); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return 0, fmt.Errorf("hub store: add alerts: %w", err)
	}
	return added, nil
}

// Alerts implements Store.
func (s *sqlStore) Alerts(ctx context.Context, f AlertFilter) ([]StoredAlert, error) {
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			args = append(args, v)
			where = append(where, col+" = "+s.d.Param(len(args)))
		}
	}
	eq("rule", f.Rule)
	eq("node", f.Node)
	eq("namespace", f.Namespace)
	eq("pod", f.Pod)
	eq("image", f.Image)
	eq("container_id", f.Container)
	if f.HasPriority {
		args = append(args, int(f.MinPriority))
		where = append(where, "priority <= "+s.d.Param(len(args)))
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UnixNano())
		where = append(where, "time >= "+s.d.Param(len(args)))
	}
	if !f.Until.IsZero() {
		args = append(args, f.Until.UnixNano())
		where = append(where, "time < "+s.d.Param(len(args)))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	q := `SELECT node, count, body FROM alerts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time DESC, uuid LIMIT " + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("hub store: alerts: %w", err)
	}
	defer rows.Close()
	var out []StoredAlert
	for rows.Next() {
		var a StoredAlert
		var body string
		var count int64
		if err := rows.Scan(&a.Node, &count, &body); err != nil {
			return nil, fmt.Errorf("hub store: alerts: %w", err)
		}
		a.Count, a.Alert = uint64(count), json.RawMessage(body)
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountAlerts implements Store.
func (s *sqlStore) CountAlerts(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts`).Scan(&n)
	return n, err
}

// PutHeartbeat implements Store.
func (s *sqlStore) PutHeartbeat(ctx context.Context, hb *fleet.Heartbeat) error {
	b, _ := json.Marshal(hb)
	p := s.d.Param
	_, err := s.db.ExecContext(ctx, `INSERT INTO nodes (node, last_seen_ns, heartbeat) VALUES (`+p(1)+`,`+p(2)+`,`+p(3)+`)
		ON CONFLICT (node) DO UPDATE SET last_seen_ns = excluded.last_seen_ns, heartbeat = excluded.heartbeat
		WHERE nodes.last_seen_ns <= excluded.last_seen_ns`, hb.Node, hb.Time.UnixNano(), string(b))
	if err != nil {
		return fmt.Errorf("hub store: heartbeat: %w", err)
	}
	return nil
}

// Nodes implements Store.
func (s *sqlStore) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT node, last_seen_ns, heartbeat FROM nodes ORDER BY node`)
	if err != nil {
		return nil, fmt.Errorf("hub store: nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var ns int64
		var body string
		if err := rows.Scan(&n.Name, &ns, &body); err != nil {
			return nil, fmt.Errorf("hub store: nodes: %w", err)
		}
		n.LastSeen = time.Unix(0, ns).UTC()
		if err := json.Unmarshal([]byte(body), &n.Heartbeat); err != nil {
			return nil, fmt.Errorf("hub store: node %s: %w", n.Name, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// AddBundle implements Store.
func (s *sqlStore) AddBundle(ctx context.Context, b *fleet.Bundle) error {
	body, _ := json.Marshal(b)
	p := s.d.Param
	_, err := s.db.ExecContext(ctx, `INSERT INTO bundles (version, time_ns, rollback_of, body) VALUES (`+p(1)+`,`+p(2)+`,`+p(3)+`,`+p(4)+`)`,
		int64(b.Version), b.Time.UnixNano(), int64(b.RollbackOf), string(body))
	if err != nil {
		return fmt.Errorf("hub store: bundle: %w", err)
	}
	return nil
}

// Bundle implements Store.
func (s *sqlStore) Bundle(ctx context.Context, v uint64) (*fleet.Bundle, error) {
	var body string
	if err := s.db.QueryRowContext(ctx, `SELECT body FROM bundles WHERE version = `+s.d.Param(1), int64(v)).Scan(&body); err != nil {
		return nil, err
	}
	var b fleet.Bundle
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return nil, fmt.Errorf("hub store: bundle %d: %w", v, err)
	}
	return &b, nil
}

// Bundles implements Store.
func (s *sqlStore) Bundles(ctx context.Context) ([]BundleStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT body FROM bundles ORDER BY version DESC LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("hub store: bundles: %w", err)
	}
	var out []BundleStatus
	idx := map[uint64]int{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			rows.Close()
			return nil, fmt.Errorf("hub store: bundles: %w", err)
		}
		var b fleet.Bundle
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("hub store: bundles: %w", err)
		}
		st := BundleStatus{Version: b.Version, Time: b.Time, RollbackOf: b.RollbackOf, Acks: []fleet.Ack{}}
		for _, f := range b.Files {
			st.Files = append(st.Files, f.Name)
		}
		idx[b.Version] = len(out)
		out = append(out, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	arows, err := s.db.QueryContext(ctx, `SELECT version, body FROM bundle_acks ORDER BY version DESC, node`)
	if err != nil {
		return nil, fmt.Errorf("hub store: acks: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var v int64
		var body string
		if err := arows.Scan(&v, &body); err != nil {
			return nil, fmt.Errorf("hub store: acks: %w", err)
		}
		i, ok := idx[uint64(v)]
		if !ok {
			continue
		}
		var a fleet.Ack
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			return nil, fmt.Errorf("hub store: acks: %w", err)
		}
		out[i].Acks = append(out[i].Acks, a)
	}
	return out, arows.Err()
}

// PutAck implements Store.
func (s *sqlStore) PutAck(ctx context.Context, a *fleet.Ack) error {
	body, _ := json.Marshal(a)
	p := s.d.Param
	ok := 0
	if a.OK {
		ok = 1
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO bundle_acks (node, version, ok, body) VALUES (`+p(1)+`,`+p(2)+`,`+p(3)+`,`+p(4)+`)
		ON CONFLICT (node, version) DO UPDATE SET ok = excluded.ok, body = excluded.body`, a.Node, int64(a.Version), ok, string(body))
	if err != nil {
		return fmt.Errorf("hub store: ack: %w", err)
	}
	return nil
}

// Alert implements Store.
func (s *sqlStore) Alert(ctx context.Context, uuid string) (StoredAlert, bool, error) {
	var a StoredAlert
	var body string
	var count int64
	err := s.db.QueryRowContext(ctx, `SELECT node, count, body FROM alerts WHERE uuid = `+s.d.Param(1), uuid).Scan(&a.Node, &count, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("hub store: alert: %w", err)
	}
	a.Count, a.Alert = uint64(count), json.RawMessage(body)
	return a, true, nil
}

// AddIncidents implements Store.
func (s *sqlStore) AddIncidents(ctx context.Context, in []IncomingIncident) error {
	now := time.Now().UnixNano()
	for _, x := range in {
		c := 0
		if x.Complete {
			c = 1
		}
		if _, err := s.db.ExecContext(ctx, s.d.UpsertIncident(), x.UUID, x.Node, now, c, string(x.JSON)); err != nil {
			return fmt.Errorf("hub store: incident: %w", err)
		}
	}
	return nil
}

// Incident implements Store.
func (s *sqlStore) Incident(ctx context.Context, uuid string) ([]byte, error) {
	b, err := store.IncidentJSON(ctx, s.db, s.d, uuid)
	if err != nil {
		return nil, fmt.Errorf("hub store: %w", err)
	}
	return b, nil
}

// Hits implements Store.
func (s *sqlStore) Hits(ctx context.Context, since, until time.Time, step time.Duration) ([]RuleHits, error) {
	h, err := store.CountHits(ctx, s.db, s.d, since, until, step)
	if err != nil {
		return nil, fmt.Errorf("hub store: %w", err)
	}
	return h, nil
}

// PutReport implements Store.
func (s *sqlStore) PutReport(ctx context.Context, kind, name string, body []byte) (int64, error) {
	id, err := store.AddReport(ctx, s.db, s.d, kind, name, body)
	if err != nil {
		return 0, fmt.Errorf("hub store: %w", err)
	}
	return id, nil
}

// Reports implements Store.
func (s *sqlStore) Reports(ctx context.Context, kind string, limit int) ([]Report, error) {
	r, err := store.ListReports(ctx, s.db, s.d, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("hub store: %w", err)
	}
	return r, nil
}

// Close implements Store.
func (s *sqlStore) Close() error { return s.db.Close() }
