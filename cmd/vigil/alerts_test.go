package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/store"
)

func runVigilCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestAlertsCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "alerts.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mk := func(rule, ctr string, p alert.Priority, age time.Duration) *alert.Alert {
		a := &alert.Alert{UUID: alert.NewUUID(), Time: now.Add(-age), Rule: rule, Priority: p, Source: "syscall",
			Output: rule + " out\x1b[0m", Vigil: alert.Context{Count: 1}}
		if ctr != "" {
			a.Vigil.Container = &alert.Container{ID: ctr}
		}
		return a
	}
	if err := st.Insert(context.Background(), []*alert.Alert{
		mk("R1", "", alert.PriorityWarning, 2*time.Hour), mk("R1", "abcabcabcabc", alert.PriorityCritical, 10*time.Minute),
		mk("R2", "", alert.PriorityNotice, time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 3}, {[]string{"--since", "1h"}, 2}, {[]string{"--rule", "R1"}, 2}, {[]string{"--container", "abcabcabcabc"}, 1},
		{[]string{"--container", "host"}, 2}, {[]string{"--priority", "warning"}, 2}, {[]string{"--rule", "R1", "--since", "1h"}, 1},
	} {
		out, _, err := runVigilCmd(t, append([]string{"alerts", "--db", db, "--json"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if out == "" {
			lines = nil
		}
		if len(lines) != tc.want {
			t.Errorf("%v: %d alerts, want %d", tc.args, len(lines), tc.want)
		}
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["rule"] == nil {
				t.Errorf("%v: bad JSON line %q", tc.args, l)
			}
		}
	}
	out, errOut, err := runVigilCmd(t, "alerts", "--db", db)
	if err != nil || strings.Count(out, "\n") != 3 || strings.Contains(out, "\x1b") || !strings.Contains(errOut, "3 alerts") {
		t.Fatalf("text: %v %q %q", err, out, errOut)
	}
	if !strings.Contains(out, "[rule=R1 container=abcabcabcabc]") {
		t.Errorf("text lacks rule/container: %s", out)
	}
	if _, _, err := runVigilCmd(t, "alerts", "--db", db, "--since", "someday"); err == nil {
		t.Error("bad --since accepted")
	}
	if _, _, err := runVigilCmd(t, "alerts", "--db", filepath.Join(t.TempDir(), "none.db")); err == nil || !strings.Contains(err.Error(), "no alert store") {
		t.Errorf("missing store: %v", err)
	}
}

func TestConfigCommands(t *testing.T) {
	out, _, err := runVigilCmd(t, "config", "default")
	if err != nil || !strings.Contains(out, "listen: 127.0.0.1:8765") {
		t.Fatalf("default: %v %s", err, out)
	}
	out, _, err = runVigilCmd(t, "config", "show", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil {
		t.Fatal("missing explicit config accepted")
	}
	out, _, err = runVigilCmd(t, "config", "show", "--config", "/etc/vigil/vigil.yaml", "--no-default-rules", "--json",
		"--set", "dedup.window=42s", "--set", "outputs.file.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"default: false", "window: 42s", "format: json"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := runVigilCmd(t, "config", "validate", "--set", "sensor.ring_size_mb=3"); err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("validate: %v", err)
	}
}

// TestAlertsShow: `vigil alerts show UUID` prints the alert, its ancestry
// and its incident from the store (the raising event marked '>', times
// relative to the alert, control characters from the event escaped); an
// unknown UUID is an error naming it.
func TestAlertsShow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "alerts.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a := &alert.Alert{UUID: alert.NewUUID(), Time: now, Rule: "Vigil Sensitive File Read", Priority: alert.PriorityWarning,
		Source: "syscall", Hostname: "node-1", Output: "Sensitive file opened", Vigil: alert.Context{Count: 1,
			Container: &alert.Container{ID: "c0ffee000001", Name: "web", Image: "busybox:1.36"},
			Process:   []alert.Process{{PID: 101, Comm: "cat", ExePath: "/bin/cat", Args: []string{"/etc/shadow"}}, {PID: 100, Comm: "sh", ExePath: "/bin/sh"}}}}
	inc := &alert.Incident{UUID: a.UUID, Complete: true, Events: []alert.IncidentEvent{
		{Time: now.UnixNano() - 2e9, Type: "execve", PID: 100, Comm: "sh", What: "/bin/sh -c \x1b[31mcat"},
		{Time: now.UnixNano(), Type: "openat", PID: 101, Comm: "cat", What: "/etc/shadow", Alert: true},
		{Time: now.UnixNano() + 1e9, Type: "connect", PID: 100, Comm: "sh", What: "203.0.113.7:4444", Ret: -111}}}
	ctx := context.Background()
	if err := st.Insert(ctx, []*alert.Alert{a}); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertIncidents(ctx, []*alert.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, _, err := runVigilCmd(t, "alerts", "show", "--db", db, a.UUID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rule: Vigil Sensitive File Read", "container: c0ffee000001 web busybox:1.36",
		"  101 cat /bin/cat /etc/shadow\n    100 sh /bin/sh\n", "incident (3 events, complete):",
		"    -2.000s 100      sh execve /bin/sh -c \\x1b[31mcat\n", ">    +0.000s 101      cat openat /etc/shadow\n",
		"    +1.000s 100      sh connect 203.0.113.7:4444 = -111\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("an escape character reached the terminal")
	}
	if _, _, err := runVigilCmd(t, "alerts", "show", "--db", db, "no-such-uuid"); err == nil || !strings.Contains(err.Error(), "no-such-uuid") {
		t.Fatalf("unknown uuid: %v", err)
	}
}
