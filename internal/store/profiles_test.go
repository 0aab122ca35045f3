package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// TestMigrationKeepsAlerts: a database written by a build before schema
// versions (user_version 0, the alerts table only) is migrated to the
// current version on Open; every alert is still there and profiles can
// be stored.
func TestMigrationKeepsAlerts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alerts.db")
	// The old file: the old schema, written by the SQL driver directly.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	old := mk("Old Rule", "host", alert.PriorityError, time.Now().Add(-time.Hour))
	if _, err := db.Exec(`INSERT INTO alerts(uuid, time, rule, priority, container, count, body) VALUES(?, ?, ?, ?, ?, ?, ?)`,
		old.UUID, old.Time.UnixNano(), old.Rule, int(old.Priority), "host", 1, string(old.AppendJSON(nil))); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openT(t, path, Options{})
	defer s.Close()
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("user_version %d (%v), want %d", v, err, SchemaVersion)
	}
	got, err := s.Query(ctx, Filter{})
	if err != nil || len(got) != 1 || got[0].UUID != old.UUID || got[0].Rule != "Old Rule" {
		t.Fatalf("alerts after migration: %v %+v", err, got)
	}
	if err := s.SaveProfile(ctx, ProfileRow{Name: "image:web", Version: 1, State: "monitoring", Updated: time.Now(), Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Opening again migrates nothing and loses nothing.
	s2 := openT(t, path, Options{})
	defer s2.Close()
	if got, err := s2.Query(ctx, Filter{}); err != nil || len(got) != 1 {
		t.Fatalf("alerts after reopen: %v %d", err, len(got))
	}
	if r, err := s2.Profile(ctx, "image:web", 0, true); err != nil || r.Version != 1 {
		t.Fatalf("profile after reopen: %v %+v", err, r)
	}
}

// TestNewerSchemaRefused: a file of a newer schema is not opened (and so
// not damaged) by this build.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	s := openT(t, path, Options{})
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("a newer schema was opened")
	}
}

// TestProfileVersions: versions are kept apart, the newest is the
// profile, ProfilesSince returns writes after a change counter.
func TestProfileVersions(t *testing.T) {
	ctx := context.Background()
	s := openT(t, filepath.Join(t.TempDir(), "alerts.db"), Options{})
	defer s.Close()
	save := func(name string, v uint64, body string) {
		t.Helper()
		if err := s.SaveProfile(ctx, ProfileRow{Name: name, Version: v, State: "monitoring", Updated: time.Now(), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	save("a", 0, "a0")
	save("a", 0, "a0b") // learning version saved again
	save("a", 1, "a1")
	save("b", 1, "b1")
	all, err := s.Profiles(ctx)
	if err != nil || len(all) != 2 || string(all[0].Body) != "a1" || string(all[1].Body) != "b1" {
		t.Fatalf("profiles: %v %+v", err, all)
	}
	vs, _ := s.ProfileVersions(ctx, "a")
	if len(vs) != 2 || vs[0].Version != 0 || vs[1].Version != 1 {
		t.Fatalf("versions %+v", vs)
	}
	r0, err := s.Profile(ctx, "a", 0, false)
	if err != nil || string(r0.Body) != "a0b" {
		t.Fatalf("version 0: %v %q", err, r0.Body)
	}
	since, _ := s.ProfilesSince(ctx, r0.Seq)
	if len(since) != 2 || since[0].Name != "a" || since[0].Version != 1 || since[1].Name != "b" {
		t.Fatalf("since %d: %+v", r0.Seq, since)
	}
	if _, err := s.Profile(ctx, "c", 0, true); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("missing profile: %v", err)
	}
}
