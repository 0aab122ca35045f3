package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/store"
)

// learnedStore fills a store as the agent does: the profile a Learner
// learned from events, and the deviation alert it raised after the window.
func learnedStore(t *testing.T) (db string, al *alert.Alert) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "alerts.db")
	var got []*alert.Alert
	l := profile.NewLearner(profile.Options{Window: time.Minute, Hostname: "node-a", OnDeviation: func(a *alert.Alert) { got = append(got, a) }})
	ctr := &event.Container{ID: "abcdefabcdef", Type: "docker", MetadataKnown: true, Repository: "web"}
	t0 := time.Unix(1_700_000_000, 0)
	ex := func(at time.Time, file string) {
		l.Observe(&event.Event{Type: event.TypeExecve, Time: at.UnixNano(), PID: 5, TID: 5, Container: ctr,
			Exec: &event.Exec{ExePath: "/bin/busybox", Filename: file}})
	}
	ex(t0, "/bin/httpd")
	ex(t0.Add(2*time.Minute), "/bin/sh")
	if len(got) != 1 {
		t.Fatalf("%d deviations", len(got))
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range l.Snapshot() {
		body, _ := p.MarshalJSON()
		if err := st.SaveProfile(context.Background(), store.ProfileRow{Name: p.Name, Version: p.Version, State: string(p.State), Updated: p.Updated, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Insert(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	return db, got[0]
}

// TestProfileCommands: show, accept (by alert UUID and by value), diff,
// export, and import merging another replica's profile, on a real store.
func TestProfileCommands(t *testing.T) {
	db, al := learnedStore(t)
	out, _, err := runVigilCmd(t, "profile", "show", "--db", db)
	if err != nil || !strings.Contains(out, "image:web") || !strings.Contains(out, "monitoring") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	out, _, err = runVigilCmd(t, "profile", "accept", al.UUID, "--db", db)
	if err != nil || !strings.Contains(out, "image:web version 2: accepted program /bin/busybox (sh)") {
		t.Fatalf("accept: %v\n%s", err, out)
	}
	out, _, err = runVigilCmd(t, "profile", "diff", "image:web", "--db", db)
	if err != nil || !strings.Contains(out, "+ program /bin/busybox (sh)") || strings.Contains(out, "\n- ") {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	if _, _, err := runVigilCmd(t, "profile", "accept", "image:web", "egress", "10.0.0.7:5432/tcp", "--db", db); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runVigilCmd(t, "profile", "accept", "image:web", "egress", "10.0.0.7", "--db", db); err == nil {
		t.Fatal("a bad value was accepted")
	}
	exp := filepath.Join(t.TempDir(), "web.json")
	if _, _, err := runVigilCmd(t, "profile", "export", "image:web@1", "-o", exp, "--db", db); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(exp); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", err, fi.Mode())
	}
	// Another replica learned a listener: its export merges in as v4.
	data, _ := os.ReadFile(exp)
	other := strings.Replace(string(data), `"listen": []`, `"listen": ["8080/tcp"]`, 1)
	other = strings.Replace(other, `"node-a"`, `"node-b"`, 1)
	otherPath := filepath.Join(t.TempDir(), "node-b.json")
	if err := os.WriteFile(otherPath, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runVigilCmd(t, "profile", "import", otherPath, "--db", db)
	if err != nil || !strings.Contains(out, "image:web version 4 stored") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, _, err = runVigilCmd(t, "profile", "show", "image:web", "--db", db)
	for _, want := range []string{"version 4", "hosts node-a,node-b", "8080/tcp", "10.0.0.7:5432/tcp", "/bin/busybox (sh)", "/bin/busybox (httpd)"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("show after import: want %q: %v\n%s", want, err, out)
		}
	}
	// A bad file: positioned error, nothing stored.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{\n  \"name\": \"image:web\",\n  \"listen\": [\"http\"]\n}\n"), 0o600)
	if _, _, err := runVigilCmd(t, "profile", "import", bad, "--db", db); err == nil || !strings.Contains(err.Error(), "bad.json:3:") {
		t.Fatalf("bad import: %v", err)
	}
	if out, _, _ := runVigilCmd(t, "profile", "show", "--db", db); !strings.Contains(out, "4") {
		t.Fatalf("bad import changed the store:\n%s", out)
	}
}

// TestProfileLeastPrivCommands: seccomp, landlock and policy from a
// stored profile; the policy passes `vigil policy validate`.
func TestProfileLeastPrivCommands(t *testing.T) {
	db, _ := learnedStore(t)
	dir := t.TempDir()
	for _, c := range []struct{ sub, want string }{
		{"landlock", `"path_beneath"`}, {"policy", "default: kill"},
	} {
		out := filepath.Join(dir, c.sub)
		if _, _, err := runVigilCmd(t, "profile", c.sub, "image:web", "-o", out, "--db", db); err != nil {
			t.Fatalf("%s: %v", c.sub, err)
		}
		b, _ := os.ReadFile(out)
		if !strings.Contains(string(b), c.want) {
			t.Errorf("%s output lacks %s:\n%s", c.sub, c.want, b)
		}
	}
	// Learned without syscall sets: no seccomp profile, with the reason.
	if _, _, err := runVigilCmd(t, "profile", "seccomp", "image:web", "--db", db); err == nil || !strings.Contains(err.Error(), "not every syscall") {
		t.Fatalf("seccomp of an incomplete profile: %v", err)
	}
	if out, _, err := runVigilCmd(t, "policy", "validate", filepath.Join(dir, "policy")); err != nil {
		t.Fatalf("policy validate: %v\n%s", err, out)
	}
}
