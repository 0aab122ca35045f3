package hub

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
)

// eachStore runs fn against a fresh SQLite store and a fresh PostgreSQL
// database: the two pass the same tests.
func eachStore(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := OpenStore(context.Background(), filepath.Join(t.TempDir(), "hub.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := OpenStore(context.Background(), postgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fn(t, s)
	})
}

func testAlert(i int, rule, ns string, t0 time.Time) Incoming {
	a := &alert.Alert{UUID: alert.NewUUID(), Time: t0.Add(time.Duration(i) * time.Millisecond), Rule: rule,
		Priority: alert.PriorityWarning, Source: alert.SourceSyscall, Hostname: "n1", Output: fmt.Sprintf("alert %d", i),
		Vigil: alert.Context{Count: 1, Container: &alert.Container{ID: "c1", Image: "busybox:1", PodNamespace: ns, PodName: "p"}}}
	if i%2 == 0 {
		a.Priority = alert.PriorityCritical
	}
	return Incoming{Node: "n1", Alert: a, JSON: a.AppendJSON(nil)}
}

func TestStoreAlerts(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var in []Incoming
		for i := range 1000 {
			rule := "Read sensitive file"
			if i%10 == 0 {
				rule = "Shell in container"
			}
			ns := "default"
			if i%4 == 0 {
				ns = "prod"
			}
			in = append(in, testAlert(i, rule, ns, t0))
		}
		n, err := s.AddAlerts(ctx, in)
		if err != nil || n != 1000 {
			t.Fatalf("AddAlerts = %d, %v; want 1000", n, err)
		}
		// The same alerts again (a redelivery): nothing new.
		if n, err := s.AddAlerts(ctx, in[:300]); err != nil || n != 0 {
			t.Fatalf("AddAlerts again = %d, %v; want 0", n, err)
		}
		if c, err := s.CountAlerts(ctx); err != nil || c != 1000 {
			t.Fatalf("CountAlerts = %d, %v", c, err)
		}
		// The coalescer's update of alert 5 sets its count.
		up := *in[5].Alert
		up.Vigil.Update, up.Vigil.Count = true, 7
		if _, err := s.AddAlerts(ctx, []Incoming{{Node: "n1", Alert: &up, JSON: up.AppendJSON(nil)}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			f    AlertFilter
			want int
		}{
			{AlertFilter{Limit: 10000}, 1000},
			{AlertFilter{Rule: "Shell in container", Limit: 10000}, 100},
			{AlertFilter{Namespace: "prod", Limit: 10000}, 250},
			{AlertFilter{Rule: "Shell in container", Namespace: "prod", Limit: 10000}, 50},
			{AlertFilter{MinPriority: alert.PriorityCritical, HasPriority: true, Limit: 10000}, 500},
			{AlertFilter{Since: t0.Add(900 * time.Millisecond), Limit: 10000}, 100},
			{AlertFilter{Since: t0.Add(100 * time.Millisecond), Until: t0.Add(200 * time.Millisecond), Limit: 10000}, 100},
			{AlertFilter{Node: "n2"}, 0},
			{AlertFilter{Image: "busybox:1", Limit: 5}, 5},
		} {
			got, err := s.Alerts(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Errorf("Alerts(%+v) = %d alerts, want %d", c.f, len(got), c.want)
			}
		}
		got, err := s.Alerts(ctx, AlertFilter{Limit: 1})
		if err != nil || len(got) != 1 {
			t.Fatal(err)
		}
		var a alert.Alert
		if err := a.UnmarshalJSON(got[0].Alert); err != nil || a.UUID != in[999].Alert.UUID {
			t.Fatalf("newest = %s (%v), want alert 999 %s", a.UUID, err, in[999].Alert.UUID)
		}
		got, _ = s.Alerts(ctx, AlertFilter{Since: in[5].Alert.Time, Until: in[5].Alert.Time.Add(time.Nanosecond)})
		if len(got) != 1 || got[0].Count != 7 {
			t.Fatalf("updated alert = %+v, want count 7", got)
		}
		// A batch of stored alerts, a new one twice and another new one:
		// the two new ones, once each.
		a1, a2 := testAlert(1001, "Shell in container", "prod", t0), testAlert(1002, "Shell in container", "prod", t0)
		if n, err := s.AddAlerts(ctx, []Incoming{in[7], a1, in[8], a1, a2}); err != nil || n != 2 {
			t.Fatalf("AddAlerts mixed = %d, %v; want 2", n, err)
		}
		if c, err := s.CountAlerts(ctx); err != nil || c != 1002 {
			t.Fatalf("CountAlerts after the mixed batch = %d, %v; want 1002", c, err)
		}
	})
}

func TestStoreNodesBundlesAcks(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		for i, node := range []string{"b", "a", "b"} {
			hb := &fleet.Heartbeat{Node: node, Time: t0.Add(time.Duration(i) * time.Second), Version: "v1", RulesVersion: uint64(i),
				EventsPerSec: 12.5, Lost: map[string]uint64{"ringbuf_full": uint64(i)}, RSSBytes: 1 << 20}
			if err := s.PutHeartbeat(ctx, hb); err != nil {
				t.Fatal(err)
			}
		}
		// An older heartbeat arriving late does not replace a newer one.
		if err := s.PutHeartbeat(ctx, &fleet.Heartbeat{Node: "b", Time: t0, RulesVersion: 99}); err != nil {
			t.Fatal(err)
		}
		nodes, err := s.Nodes(ctx)
		if err != nil || len(nodes) != 2 || nodes[0].Name != "a" || nodes[1].Name != "b" {
			t.Fatalf("Nodes = %+v, %v", nodes, err)
		}
		if hb := nodes[1].Heartbeat; hb.RulesVersion != 2 || hb.Lost["ringbuf_full"] != 2 || !nodes[1].LastSeen.Equal(t0.Add(2*time.Second)) {
			t.Fatalf("node b = %+v", nodes[1])
		}
		for v := uint64(1); v <= 2; v++ {
			b := &fleet.Bundle{Version: v, Time: t0, Files: []fleet.BundleFile{{Name: "x.yaml", Data: fmt.Sprint("v", v)}}}
			if err := s.AddBundle(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddBundle(ctx, &fleet.Bundle{Version: 2}); err == nil {
			t.Fatal("a second bundle 2 was stored")
		}
		_ = s.PutAck(ctx, &fleet.Ack{Node: "a", Version: 2, OK: false, Error: "bad", Errors: []fleet.Diagnostic{{File: "x.yaml", Line: 3, Col: 5, Msg: "m"}}})
		_ = s.PutAck(ctx, &fleet.Ack{Node: "a", Version: 2, OK: true}) // a retry replaces the answer
		_ = s.PutAck(ctx, &fleet.Ack{Node: "b", Version: 2, OK: false, Errors: []fleet.Diagnostic{{File: "x.yaml", Line: 3, Col: 5, Msg: "m"}}})
		bs, err := s.Bundles(ctx)
		if err != nil || len(bs) != 2 || bs[0].Version != 2 || len(bs[0].Acks) != 2 {
			t.Fatalf("Bundles = %+v, %v", bs, err)
		}
		if !bs[0].Acks[0].OK || bs[0].Acks[1].OK || bs[0].Acks[1].Errors[0].Line != 3 {
			t.Fatalf("acks = %+v", bs[0].Acks)
		}
		b, err := s.Bundle(ctx, 1)
		if err != nil || b.Files[0].Data != "v1" {
			t.Fatalf("Bundle(1) = %+v, %v", b, err)
		}
	})
}

// TestStoreMigrationsRunOnce: reopening a store keeps its data and runs
// no migration twice.
func TestStoreMigrationsRunOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if _, err := s.AddAlerts(ctx, []Incoming{testAlert(1, "r", "ns", time.Now())}); err != nil {
			t.Fatal(err)
		}
		ss := s.(*sqlStore)
		if err := ss.migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		var v int
		if err := ss.db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != len(migrations) {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if c, _ := s.CountAlerts(ctx); c != 1 {
			t.Fatalf("count after reopen = %d", c)
		}
	})
}

func TestStoreIncidentsHitsReports(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
		var in []Incoming
		for i := range 30 {
			x := testAlert(i, "A", "ns", t0)
			x.Alert.Time = t0.Add(time.Duration(i) * time.Minute)
			if i%3 == 0 {
				x.Alert.Rule = "B"
			}
			x.JSON = x.Alert.AppendJSON(nil)
			in = append(in, x)
		}
		if _, err := s.AddAlerts(ctx, in); err != nil {
			t.Fatal(err)
		}
		hs, err := s.Hits(ctx, t0, t0.Add(30*time.Minute), 10*time.Minute)
		if err != nil || len(hs) != 2 || hs[0].Rule != "A" || fmt.Sprint(hs[0].Counts) != "[6 7 7]" || fmt.Sprint(hs[1].Counts) != "[4 3 3]" {
			t.Fatalf("Hits = %+v, %v", hs, err)
		}
		u := in[4].Alert.UUID
		if a, ok, err := s.Alert(ctx, u); err != nil || !ok || a.Node != "n1" {
			t.Fatalf("Alert = %+v %v %v", a, ok, err)
		}
		if _, ok, _ := s.Alert(ctx, "nope"); ok {
			t.Fatal("an alert that is not there")
		}
		// A complete incident replaces a partial one, never the reverse.
		for _, x := range []IncomingIncident{{Node: "n1", UUID: u, JSON: []byte(`{"p":1}`)}, {Node: "n1", UUID: u, Complete: true, JSON: []byte(`{"c":1}`)},
			{Node: "n1", UUID: u, JSON: []byte(`{"p":2}`)}} {
			if err := s.AddIncidents(ctx, []IncomingIncident{x}); err != nil {
				t.Fatal(err)
			}
		}
		if b, err := s.Incident(ctx, u); err != nil || string(b) != `{"c":1}` {
			t.Fatalf("Incident = %s, %v", b, err)
		}
		if b, err := s.Incident(ctx, "nope"); err != nil || b != nil {
			t.Fatalf("missing incident = %s, %v", b, err)
		}
		for i := range 3 {
			if id, err := s.PutReport(ctx, "posture", fmt.Sprint("r", i), []byte(`{}`)); err != nil || id != int64(i+1) {
				t.Fatalf("PutReport = %d, %v", id, err)
			}
		}
		rs, err := s.Reports(ctx, "posture", 2)
		if err != nil || len(rs) != 2 || rs[0].Name != "r2" {
			t.Fatalf("Reports = %+v, %v", rs, err)
		}
	})
}

// TestStoreMigrationToSharedColumns: a store written before its incidents,
// reports and alerts had the agent store's columns (schema version 3)
// keeps what it holds, found by the statements the two stores share.
func TestStoreMigrationToSharedColumns(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		ss := s.(*sqlStore)
		for _, tb := range []string{"alerts", "nodes", "bundles", "bundle_acks", "incidents", "reports", "profiles", "schema_version"} {
			if _, err := ss.db.ExecContext(ctx, "DROP TABLE "+tb); err != nil {
				t.Fatal(err)
			}
		}
		all := migrations
		migrations = all[:3]
		err := ss.migrate(ctx)
		migrations = all
		if err != nil {
			t.Fatal(err)
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := ss.db.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		p := ss.d.Param
		t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
		x := testAlert(0, "A", "ns", t0)
		exec(`INSERT INTO alerts (uuid, node, time_ns, rule, priority, container_id, image, namespace, pod, count, body)
			VALUES (`+p(1)+`,`+p(2)+`,`+p(3)+`,`+p(4)+`,`+p(5)+`,'c1','busybox:1','ns','p',1,`+p(6)+`)`,
			x.Alert.UUID, "n1", t0.UnixNano(), "A", int(x.Alert.Priority), string(x.JSON))
		inc := `{"uuid":"` + x.Alert.UUID + `","complete":false,"events":[]}`
		exec(`INSERT INTO incidents (uuid, node, complete, body) VALUES (`+p(1)+`,'n1',0,`+p(2)+`)`, x.Alert.UUID, inc)
		exec(`INSERT INTO reports (id, kind, name, time_ns, body) VALUES (1,'posture','r1',`+p(1)+`,'{}')`, t0.UnixNano())
		if err := ss.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Alerts(ctx, AlertFilter{Since: t0, Until: t0.Add(time.Second)}); err != nil || len(got) != 1 {
			t.Fatalf("alerts after the migration: %d, %v", len(got), err)
		}
		if h, err := s.Hits(ctx, t0, t0.Add(time.Minute), time.Minute); err != nil || len(h) != 1 || h[0].Rule != "A" || h[0].Counts[0] != 1 {
			t.Fatalf("hits after the migration: %+v, %v", h, err)
		}
		if b, err := s.Incident(ctx, x.Alert.UUID); err != nil || string(b) != inc {
			t.Fatalf("incident after the migration: %s, %v", b, err)
		}
		if r, err := s.Reports(ctx, "posture", 10); err != nil || len(r) != 1 || !r[0].Time.Equal(t0) {
			t.Fatalf("reports after the migration: %+v, %v", r, err)
		}
		// The complete form replaces the first, and the next report follows.
		full := `{"uuid":"` + x.Alert.UUID + `","complete":true,"events":[]}`
		if err := s.AddIncidents(ctx, []IncomingIncident{{Node: "n1", UUID: x.Alert.UUID, Complete: true, JSON: []byte(full)}}); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.Incident(ctx, x.Alert.UUID); string(b) != full {
			t.Fatalf("incident = %s, want the complete form", b)
		}
		if id, err := s.PutReport(ctx, "posture", "r2", []byte("{}")); err != nil || id != 2 {
			t.Fatalf("PutReport = %d, %v; want 2", id, err)
		}
	})
}
