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
	st, err := tx.PrepareContext(ctx, SQLite.UpsertIncident())
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
		if _, err := st.ExecContext(ctx, inc.UUID, "", now, complete, string(b)); err != nil {
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
	body, err := IncidentJSON(ctx, s.db, SQLite, uuid)
	if body == nil && (err == nil || strings.Contains(err.Error(), "no such table")) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store %w", err)
	}
	inc, err := alert.UnmarshalIncident(body)
	if err != nil {
		return nil, fmt.Errorf("store incident %s: %w", uuid, err)
	}
	return inc, nil
}

// RuleHits is one rule's alert count per bucket: the rule hits of this
// store, of the hub's (internal/hub) and of the console's API.
type RuleHits struct {
	Rule   string  `json:"rule"`
	Counts []int64 `json:"counts"`
}

// MaxHitBuckets is the most buckets a rule-hits query may ask for.
const MaxHitBuckets = 10000

// HitCounts gathers the rows of a rule-hits query, (rule, bucket, count)
// with bucket = (time - since) / step, into RuleHits. This store and the
// hub's run their own SQL and share it.
type HitCounts struct {
	n     int
	by    map[string]*RuleHits
	total map[string]int64
}

// NewHitCounts checks a query of buckets of step from since to until (the
// buckets' start times are since + i*step).
func NewHitCounts(since, until time.Time, step time.Duration) (*HitCounts, error) {
	if step <= 0 || !until.After(since) {
		return nil, fmt.Errorf("hits: want since < until and a positive step")
	}
	n := int((until.Sub(since) + step - 1) / step)
	if n > MaxHitBuckets {
		return nil, fmt.Errorf("hits: %d buckets, at most %d", n, MaxHitBuckets)
	}
	return &HitCounts{n: n, by: map[string]*RuleHits{}, total: map[string]int64{}}, nil
}

// Add counts one row; a bucket out of range is ignored.
func (h *HitCounts) Add(rule string, bucket, count int64) {
	if bucket < 0 || bucket >= int64(h.n) {
		return
	}
	r := h.by[rule]
	if r == nil {
		r = &RuleHits{Rule: rule, Counts: make([]int64, h.n)}
		h.by[rule] = r
	}
	r.Counts[bucket] += count
	h.total[rule] += count
}

// Result is every rule's hits, the rules with the most alerts first (then
// by name).
func (h *HitCounts) Result() []RuleHits {
	out := make([]RuleHits, 0, len(h.by))
	for _, r := range h.by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if ti, tj := h.total[out[i].Rule], h.total[out[j].Rule]; ti != tj {
			return ti > tj
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// Hits counts the alerts of each rule in buckets of step from since to
// until (the buckets' start times are since + i*step), rules with the most
// alerts first.
func (s *Store) Hits(ctx context.Context, since, until time.Time, step time.Duration) ([]RuleHits, error) {
	h, err := CountHits(ctx, s.db, SQLite, since, until, step)
	if err != nil {
		return nil, fmt.Errorf("store %w", err)
	}
	return h, nil
}

// Report is an uploaded result: `vigil k8s audit`, `vigil compliance
// report` or `vigil image scan` JSON. This store's, the hub's and the
// console's API's (which leaves the body out of lists).
type Report struct {
	ID   int64     `json:"id"`
	Kind string    `json:"kind"`
	Name string    `json:"name"`
	Time time.Time `json:"time"`
	Body []byte    `json:"-"`
}

// PutReport stores an uploaded report and returns its id.
func (s *Store) PutReport(ctx context.Context, kind, name string, body []byte) (int64, error) {
	id, err := AddReport(ctx, s.db, SQLite, kind, name, body)
	if err != nil {
		return 0, fmt.Errorf("store %w", err)
	}
	return id, nil
}

// Reports returns the newest limit reports of kind, newest first.
func (s *Store) Reports(ctx context.Context, kind string, limit int) ([]Report, error) {
	r, err := ListReports(ctx, s.db, SQLite, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("store %w", err)
	}
	return r, nil
}
