package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// oldSchema is the store as Vigil wrote it before schema versions (user
// version 0): the alerts table alone.
const oldSchema = `CREATE TABLE alerts (uuid TEXT PRIMARY KEY, time INTEGER NOT NULL, rule TEXT NOT NULL,
	priority INTEGER NOT NULL, container TEXT NOT NULL, count INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX alerts_time ON alerts(time);`

// TestMigrateOldDatabase: a database of an older Vigil opens, keeps every
// alert, gains the node/namespace/pod/image columns backfilled from the
// stored JSON (so the new filters find old alerts) and the incidents
// table; a database of a newer schema is refused with its version, and
// left as it is.
func TestMigrateOldDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alerts.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(oldSchema); err != nil {
		t.Fatal(err)
	}
	a := mk("R1", "aaaaaaaaaaaa", alert.PriorityWarning, time.Now())
	a.Hostname = "node-7"
	a.Vigil.Container.Image, a.Vigil.Container.PodNamespace, a.Vigil.Container.PodName = "nginx:1.27", "shop", "web-0"
	b := mk("R2", "host", alert.PriorityNotice, time.Now())
	for _, x := range []*alert.Alert{a, b} {
		if _, err := raw.Exec("INSERT INTO alerts VALUES(?, ?, ?, ?, ?, 1, ?)", x.UUID, x.Time.UnixNano(), x.Rule,
			int(x.Priority), x.ContainerID(), string(x.AppendJSON(nil))); err != nil {
			t.Fatal(err)
		}
	}
	// A row whose body is not JSON (hand-edited, half-written) stays.
	if _, err := raw.Exec("INSERT INTO alerts VALUES('bad', 1, 'R3', 4, 'host', 1, '{not json')"); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	s := openT(t, path, Options{})
	if n, _ := s.Count(ctx); n != 3 {
		t.Fatalf("%d alerts after migration, want 3", n)
	}
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("user_version %d %v", v, err)
	}
	for _, f := range []Filter{{Node: "node-7"}, {Namespace: "shop"}, {Pod: "web-0"}, {Image: "nginx:1.27"}} {
		got, err := s.Query(ctx, f)
		if err != nil || len(got) != 1 || got[0].UUID != a.UUID {
			t.Fatalf("filter %+v: %d alerts, %v", f, len(got), err)
		}
	}
	if err := s.InsertIncidents(ctx, []*alert.Incident{{UUID: a.UUID, Events: []alert.IncidentEvent{{Type: "openat", What: "/etc/shadow"}}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A newer schema than this binary knows: refused, nothing touched.
	raw, _ = sql.Open("sqlite", path)
	if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("a database of schema 99 opened")
	}
	raw, _ = sql.Open("sqlite", path)
	defer raw.Close()
	var n int
	if err := raw.QueryRow("SELECT count(*) FROM alerts").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d alerts after a refused open, %v", n, err)
	}
}

// TestIncidentReplace: the complete form of an incident replaces the first
// one, never the other way round (the store's queue may reorder nothing,
// but a late first form must not erase the story); alerts and incidents
// written by Run are found by Get and Incident; Hits buckets rule counts.
func TestIncidentReplace(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "alerts.db"), Options{FlushInterval: 10 * time.Millisecond})
	defer s.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	al := mk("R1", "host", alert.PriorityWarning, base.Add(time.Second))
	first := &alert.Incident{UUID: al.UUID, Events: []alert.IncidentEvent{{Type: "execve", What: "/bin/sh"}}}
	full := &alert.Incident{UUID: al.UUID, Complete: true, Events: append(first.Events, alert.IncidentEvent{Type: "connect", What: "1.2.3.4:4444"})}
	if err := s.InsertIncidents(ctx, []*alert.Incident{first}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.Run(rctx) }()
	s.Add(al)
	s.AddIncident(full)
	deadline := time.Now().Add(5 * time.Second)
	for {
		inc, err := s.Incident(ctx, al.UUID)
		if err != nil {
			t.Fatal(err)
		}
		if inc != nil && inc.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("complete incident not written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if err := s.InsertIncidents(ctx, []*alert.Incident{first}); err != nil {
		t.Fatal(err)
	}
	inc, _ := s.Incident(ctx, al.UUID)
	if !inc.Complete || len(inc.Events) != 2 || inc.Events[1].What != "1.2.3.4:4444" {
		t.Fatalf("incident %+v", inc)
	}
	if got, err := s.Get(ctx, al.UUID); err != nil || got == nil || got.Rule != "R1" {
		t.Fatalf("get %v %v", got, err)
	}
	if got, err := s.Get(ctx, "nope"); err != nil || got != nil {
		t.Fatalf("get of an unknown uuid: %v %v", got, err)
	}
	var more []*alert.Alert
	for i := range 5 {
		more = append(more, mk("R2", "host", alert.PriorityNotice, base.Add(time.Duration(i)*time.Minute)))
	}
	if err := s.Insert(ctx, more); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Hits(ctx, base, base.Add(10*time.Minute), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].Rule != "R2" || len(hits[0].Counts) != 5 || hits[0].Counts[0] != 2 || hits[0].Counts[2] != 1 || hits[1].Counts[0] != 1 {
		t.Fatalf("hits %+v", hits)
	}
}
