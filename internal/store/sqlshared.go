package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Dialect is what differs between the databases the two stores run on:
// SQLite (this store, the hub's default) and PostgreSQL (the hub's
// production store). The statements both stores run on their incidents,
// reports and rule hits are written once, below, in terms of it; the
// tables they read have the same columns in both stores.
type Dialect struct {
	Name   string // "sqlite", "postgres"
	Driver string // the database/sql driver
	// Param returns the n-th (1-based) placeholder.
	Param func(n int) string
}

// The dialects.
var (
	SQLite   = Dialect{Name: "sqlite", Driver: "sqlite", Param: func(int) string { return "?" }}
	Postgres = Dialect{Name: "postgres", Driver: "pgx", Param: func(n int) string { return "$" + strconv.Itoa(n) }}
)

// sharedSchema (version 4 of this store) gives incidents the hub's node
// column: the incidents, reports and the alerts' rule and time columns the
// shared statements read are then the same in both stores.
const sharedSchema = `ALTER TABLE incidents ADD COLUMN node TEXT NOT NULL DEFAULT ''`

// Querier is what the shared statements run on: *sql.DB, *sql.Tx, *sql.Conn.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// params returns the first n placeholders, comma-separated.
func (d Dialect) params(n int) string {
	s := ""
	for i := 1; i <= n; i++ {
		if i > 1 {
			s += ", "
		}
		s += d.Param(i)
	}
	return s
}

// UpsertIncident is the statement that stores an incident; its arguments:
// uuid, node, time (ns, when written), complete (0 or 1), body (the
// incident's JSON). A complete incident replaces any stored form, a first
// form never replaces a complete one.
func (d Dialect) UpsertIncident() string {
	return `INSERT INTO incidents (uuid, node, time, complete, body) VALUES (` + d.params(5) + `)
		ON CONFLICT (uuid) DO UPDATE SET node = excluded.node, time = excluded.time, complete = excluded.complete, body = excluded.body
		WHERE excluded.complete >= incidents.complete`
}

// IncidentJSON returns the stored incident of alert uuid as its JSON
// (nil: none).
func IncidentJSON(ctx context.Context, q Querier, d Dialect, uuid string) ([]byte, error) {
	var body string
	err := q.QueryRowContext(ctx, `SELECT body FROM incidents WHERE uuid = `+d.Param(1), uuid).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	return []byte(body), nil
}

// AddReport stores an uploaded report and returns its id (the largest
// stored plus one).
func AddReport(ctx context.Context, q Querier, d Dialect, kind, name string, body []byte) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `INSERT INTO reports (id, kind, name, time, body)
		SELECT COALESCE(MAX(id), 0) + 1, `+d.params(4)+` FROM reports RETURNING id`,
		kind, name, time.Now().UnixNano(), string(body)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("report: %w", err)
	}
	return id, nil
}

// ListReports returns the newest limit reports of kind (at most 1,000; 0
// means 20), newest first.
func ListReports(ctx context.Context, q Querier, d Dialect, kind string, limit int) ([]Report, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := q.QueryContext(ctx, `SELECT id, kind, name, time, body FROM reports WHERE kind = `+d.Param(1)+
		` ORDER BY time DESC, id DESC LIMIT `+strconv.Itoa(min(limit, 1000)), kind)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var r Report
		var t int64
		var body string
		if err := rows.Scan(&r.ID, &r.Kind, &r.Name, &t, &body); err != nil {
			return nil, fmt.Errorf("reports: %w", err)
		}
		r.Time, r.Body = time.Unix(0, t).UTC(), []byte(body)
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountHits counts the alerts of each rule in buckets of step from since
// to until (the buckets' start times are since + i*step), rules with the
// most alerts first.
func CountHits(ctx context.Context, q Querier, d Dialect, since, until time.Time, step time.Duration) ([]RuleHits, error) {
	hc, err := NewHitCounts(since, until, step)
	if err != nil {
		return nil, err
	}
	p := d.Param
	rows, err := q.QueryContext(ctx, `SELECT rule, (time - `+p(1)+`) / `+p(2)+` AS b, COUNT(*) FROM alerts
		WHERE time >= `+p(3)+` AND time < `+p(4)+` GROUP BY rule, b`,
		since.UnixNano(), int64(step), since.UnixNano(), until.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("hits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rule string
		var b, c int64
		if err := rows.Scan(&rule, &b, &c); err != nil {
			return nil, fmt.Errorf("hits: %w", err)
		}
		hc.Add(rule, b, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hits: %w", err)
	}
	return hc.Result(), nil
}
