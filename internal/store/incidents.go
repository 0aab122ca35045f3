package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// consoleSchema (version 3) adds the console's filters (node, namespace,
// pod, image: new columns, filled from the stored JSON so that the filters
// find older alerts too), the flight recorder's incidents and the uploaded
// posture, compliance and image reports.
const consoleSchema = `ALTER TABLE alerts ADD COLUMN node TEXT NOT NULL DEFAULT '';
	ALTER TABLE alerts ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
	ALTER TABLE alerts ADD COLUMN pod TEXT NOT NULL DEFAULT '';
	ALTER TABLE alerts ADD COLUMN image TEXT NOT NULL DEFAULT '';
	UPDATE alerts SET node = coalesce(json_extract(body, '$.hostname'), ''),
		namespace = coalesce(json_extract(body, '$.vigil.container.pod_namespace'), ''),
		pod = coalesce(json_extract(body, '$.vigil.container.pod_name'), ''),
		image = coalesce(json_extract(body, '$.vigil.container.image'), '')
		WHERE json_valid(body);
	CREATE TABLE incidents (
		uuid     TEXT PRIMARY KEY, -- the alert's
		time     INTEGER NOT NULL, -- ns since the epoch, when written
		complete INTEGER NOT NULL,
		body     TEXT NOT NULL     -- alert.Incident JSON
	);
	CREATE INDEX incidents_time ON incidents(time);
	CREATE TABLE reports (
		id    INTEGER PRIMARY KEY,
		kind  TEXT NOT NULL,    -- posture, compliance, image
		name  TEXT NOT NULL,
		time  INTEGER NOT NULL, -- ns since the epoch, when uploaded
		body  TEXT NOT NULL
	);
	CREATE INDEX reports_kind ON reports(kind, time);`

// AddIncident queues the incident of an alert (the flight recorder's) for
// writing; false when the queue was full (dropped and counted). An
// incident with the UUID of one stored replaces it (the complete form
// follows the first). It never blocks.
func (s *Store) AddIncident(inc *alert.Incident) bool { return s.iq.Push(inc) }

func (s *Store) writeIncidents(incs []*alert.Incident) {
	if err := s.InsertIncidents(context.Background(), incs); err != nil {
		s.errs.Add(uint64(len(incs)))
		s.log.Error("store write failed", "incidents", len(incs), "err", err)
		if s.opts.OnWriteError != nil {
			s.opts.OnWriteError(len(incs), err)
		}
	}
}

// InsertIncidents writes incidents in one transaction; a complete
// incident replaces any stored form, a first form never replaces a
// complete one.
func (s *Store) InsertIncidents(ctx context.Context, incs []*alert.Incident) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store incidents: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	st, err := tx.PrepareContext(ctx, `INSERT INTO incidents(uuid, time, complete, body) VALUES(?, ?, ?, ?)
		ON CONFLICT(uuid) DO UPDATE SET time = excluded.time, complete = excluded.complete, body = excluded.body
		WHERE excluded.complete >= incidents.complete`)
	if err != nil {
		return fmt.Errorf("store incidents: %w", err)
	}
	defer st.Close()
	now := time.Now().UnixNano()
	for _, inc := range incs {
		b, err := alert.MarshalIncident(inc)
		if err != nil {
			return fmt.Errorf("store incidents: %w", err)
		}
		complete := 0
		if inc.Complete {
			complete = 1
		}
		if _, err := st.ExecContext(ctx, inc.UUID, now, complete, string(b)); err != nil {
			return fmt.Errorf("store incidents: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store incidents: %w", err)
	}
	return nil
}

// Get returns the alert with uuid; nil (and no error) when there is none.
func (s *Store) Get(ctx context.Context, uuid string) (*alert.Alert, error) {
	var body string
	err := s.db.QueryRowContext(ctx, "SELECT body FROM alerts WHERE uuid = ?", uuid).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store get: %w", err)
	}
	a := new(alert.Alert)
	if err := a.UnmarshalJSON([]byte(body)); err != nil {
		return nil, fmt.Errorf("store get %s: %w", uuid, err)
	}
	return a, nil
}

// Incident returns the incident of the alert uuid; nil (and no error) when
// there is none, or the database predates incidents.
func (s *Store) Incident(ctx context.Context, uuid string) (*alert.Incident, error) {
	var body string
	err := s.db.QueryRowContext(ctx, "SELECT body FROM incidents WHERE uuid = ?", uuid).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) || err != nil && strings.Contains(err.Error(), "no such table") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store incident: %w", err)
	}
	inc, err := alert.UnmarshalIncident([]byte(body))
	if err != nil {
		return nil, fmt.Errorf("store incident %s: %w", uuid, err)
	}
	return inc, nil
}

// RuleHits is one rule's alert count per bucket.
type RuleHits struct {
	Rule   string
	Counts []int64
}

// Hits counts the alerts of each rule in buckets of step from since to
// until (the buckets' start times are since + i*step), rules with the most
// alerts first.
func (s *Store) Hits(ctx context.Context, since, until time.Time, step time.Duration) ([]RuleHits, error) {
	if step <= 0 || !until.After(since) {
		return nil, fmt.Errorf("store hits: want since < until and a positive step")
	}
	n := int((until.Sub(since) + step - 1) / step)
	rows, err := s.db.QueryContext(ctx, `SELECT rule, (time - ?) / ?, count(*) FROM alerts
		WHERE time >= ? AND time < ? GROUP BY rule, 2`, since.UnixNano(), int64(step), since.UnixNano(), until.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store hits: %w", err)
	}
	defer rows.Close()
	byRule := map[string]*RuleHits{}
	var out []*RuleHits
	for rows.Next() {
		var rule string
		var b, c int64
		if err := rows.Scan(&rule, &b, &c); err != nil {
			return nil, fmt.Errorf("store hits: %w", err)
		}
		h := byRule[rule]
		if h == nil {
			h = &RuleHits{Rule: rule, Counts: make([]int64, n)}
			byRule[rule] = h
			out = append(out, h)
		}
		if b >= 0 && int(b) < n {
			h.Counts[b] += c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store hits: %w", err)
	}
	total := func(h *RuleHits) (t int64) {
		for _, c := range h.Counts {
			t += c
		}
		return t
	}
	res := make([]RuleHits, 0, len(out))
	for _, h := range out {
		res = append(res, *h)
	}
	sortByTotal(res, total)
	return res, nil
}

// Report is an uploaded result: `vigil k8s audit`, `vigil compliance
// report` or `vigil image scan` JSON.
type Report struct {
	ID   int64
	Kind string
	Name string
	Time time.Time
	Body []byte
}

// PutReport stores an uploaded report and returns its id.
func (s *Store) PutReport(ctx context.Context, kind, name string, body []byte) (int64, error) {
	r, err := s.db.ExecContext(ctx, "INSERT INTO reports(kind, name, time, body) VALUES(?, ?, ?, ?)",
		kind, name, time.Now().UnixNano(), string(body))
	if err != nil {
		return 0, fmt.Errorf("store report: %w", err)
	}
	return r.LastInsertId()
}

// Reports returns the newest limit reports of kind, newest first.
func (s *Store) Reports(ctx context.Context, kind string, limit int) ([]Report, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, kind, name, time, body FROM reports WHERE kind = ? ORDER BY time DESC, id DESC LIMIT ?", kind, limit)
	if err != nil {
		return nil, fmt.Errorf("store reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var r Report
		var t int64
		var body string
		if err := rows.Scan(&r.ID, &r.Kind, &r.Name, &t, &body); err != nil {
			return nil, fmt.Errorf("store reports: %w", err)
		}
		r.Time, r.Body = time.Unix(0, t), []byte(body)
		out = append(out, r)
	}
	return out, rows.Err()
}

func sortByTotal(hs []RuleHits, total func(*RuleHits) int64) {
	sort.SliceStable(hs, func(i, j int) bool {
		ti, tj := total(&hs[i]), total(&hs[j])
		if ti != tj {
			return ti > tj
		}
		return hs[i].Rule < hs[j].Rule
	})
}
