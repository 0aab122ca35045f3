package recorder_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/recorder"
	"github.com/vigilsec/vigil/internal/rules"
	defaultrules "github.com/vigilsec/vigil/rules"
)

const t0 = int64(1_700_000_000_000_000_000)

func defaultRuleset(tb testing.TB) *rules.Ruleset {
	tb.Helper()
	var files []rules.File
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	rs := rules.LoadAndCompile(nil, files...)
	if err := rs.Err(); err != nil {
		tb.Fatal(err)
	}
	return rs
}

// story is a container's shell running cat /etc/shadow, plus an unrelated
// process of the same container and one of another container.
type story struct {
	ctr, other *event.Container
	sh, cat    *event.Process
	nginx      *event.Process
}

func newStory() *story {
	s := &story{ctr: &event.Container{ID: "c0ffee000001", Type: "containerd", Name: "web", Image: "docker.io/library/busybox:1.36", MetadataKnown: true},
		other: &event.Container{ID: "beef00000002", Type: "containerd", Name: "db", Image: "postgres:16", MetadataKnown: true}}
	shim := &event.Process{PID: 90, PPID: 1, Comm: "containerd-shim", Exe: "containerd-shim", ExePath: "/usr/bin/containerd-shim-runc-v2"}
	s.sh = &event.Process{PID: 100, PPID: 90, Comm: "sh", Exe: "sh", ExePath: "/bin/sh", Args: []string{"-c", "cat /etc/shadow"}, Parent: shim}
	s.cat = &event.Process{PID: 101, PPID: 100, Comm: "cat", Exe: "cat", ExePath: "/bin/cat", Args: []string{"/etc/shadow"}, Parent: s.sh}
	s.nginx = &event.Process{PID: 50, PPID: 90, Comm: "nginx", Exe: "nginx", ExePath: "/usr/sbin/nginx", Parent: shim}
	return s
}

func execEv(t int64, p *event.Process, c *event.Container) *event.Event {
	return &event.Event{Type: event.TypeExecve, Time: t, PID: p.PID, TID: p.PID, PPID: p.PPID, Comm: p.Comm,
		FD: -1, FD2: -1, DirFD: -1, DirFD2: -1, Proc: p, Container: c,
		Exec: &event.Exec{Filename: p.ExePath, ExePath: p.ExePath, Argv: append([]string{p.Exe}, p.Args...)}}
}

func openEv(t int64, p *event.Process, c *event.Container, path string) *event.Event {
	return &event.Event{Type: event.TypeOpenat, Time: t, PID: p.PID, TID: p.PID, PPID: p.PPID, Comm: p.Comm,
		Ret: 3, FD: -1, FD2: -1, DirFD: event.AtFDCWD, DirFD2: -1, Path: path, Proc: p, Container: c,
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDFile, Name: path, NameRaw: path}}
}

func connectEv(t int64, p *event.Process, c *event.Container) *event.Event {
	return &event.Event{Type: event.TypeConnect, Time: t, PID: p.PID, TID: p.PID, PPID: p.PPID, Comm: p.Comm,
		FD: 4, FD2: -1, DirFD: -1, DirFD2: -1, Proc: p, Container: c,
		Addr:  event.SockAddr{Family: 2, IP: netip.MustParseAddr("203.0.113.7"), Port: 4444},
		Local: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.0.0.2"), Port: 40000}}
}

// TestIncidentOfShadowRead: Vigil's default rules raise an alert on a
// container's cat /etc/shadow; its incident holds the shell's and cat's
// execs before it (not the events of an unrelated process or of another
// container), marks the open, is sent at once, then again complete with
// the connection the shell made within the after window (not one after it).
func TestIncidentOfShadowRead(t *testing.T) {
	var got []*alert.Incident
	rec := recorder.New(recorder.Options{After: 2 * time.Second, Sink: func(i *alert.Incident) { got = append(got, i) }})
	var alerts []*alert.Alert
	p := pipeline.New(pipeline.Options{Recorder: rec, Engine: engine.New(defaultRuleset(t), &engine.Options{Hostname: "h"}),
		OnAlert: func(ev *event.Event, m *engine.Match, al *alert.Alert) {
			if m.Rule.Name == "Vigil Sensitive File Read" {
				alerts = append(alerts, al)
				rec.Alert(ev, al)
			}
		}})
	s := newStory()
	p.Handle(execEv(t0, s.nginx, s.ctr))
	p.Handle(openEv(t0+1e6, s.nginx, s.ctr, "/var/log/nginx/access.log"))
	p.Handle(execEv(t0+2e6, s.sh, s.ctr))
	p.Handle(openEv(t0+3e6, s.sh, s.other, "/etc/hostname")) // another container's ring
	p.Handle(execEv(t0+4e6, s.cat, s.ctr))
	p.Handle(openEv(t0+5e6, s.cat, s.ctr, "/etc/shadow"))
	if len(alerts) != 1 || len(got) != 1 {
		t.Fatalf("alerts %d incidents %d, want 1 and 1", len(alerts), len(got))
	}
	first := got[0]
	if first.UUID != alerts[0].UUID || first.Complete {
		t.Fatalf("first incident %+v", first)
	}
	want := []string{"execve /bin/sh -c cat /etc/shadow", "execve /bin/cat /etc/shadow", "openat /etc/shadow !"}
	if d := describe(first); d != strings.Join(want, "\n") {
		t.Fatalf("before:\n%s\nwant:\n%s", d, strings.Join(want, "\n"))
	}
	p.Handle(connectEv(t0+1e9, s.sh, s.ctr))
	p.Handle(openEv(t0+1e9+1, s.nginx, s.ctr, "/var/log/nginx/error.log"))
	rec.Expire(t0 + 1_500_000_000)
	if len(got) != 1 {
		t.Fatal("incident closed before its window")
	}
	p.Handle(connectEv(t0+3e9, s.sh, s.ctr)) // past the window: closes it, not in it
	if len(got) != 2 || !got[1].Complete {
		t.Fatalf("incidents %d, want the complete one", len(got))
	}
	want = append(want, "connect 10.0.0.2:40000 -> 203.0.113.7:4444")
	if d := describe(got[1]); d != strings.Join(want, "\n") {
		t.Fatalf("complete:\n%s\nwant:\n%s", d, strings.Join(want, "\n"))
	}
	if len(first.Events) != 3 {
		t.Fatal("the first incident sent changed after it was sent")
	}
}

func describe(inc *alert.Incident) string {
	var lines []string
	for _, e := range inc.Events {
		l := e.Type + " " + e.What
		if e.Alert {
			l += " !"
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// TestRingBounds: the rings evict by count, age, memory and ring count, each
// counted by reason, and the memory accounted returns to zero when every
// ring aged out.
func TestRingBounds(t *testing.T) {
	rec := recorder.New(recorder.Options{MaxEvents: 8, Window: 10 * time.Second, MaxRings: 2, MaxBytes: 1 << 20})
	s := newStory()
	for i := range 20 {
		rec.Record(openEv(t0+int64(i), s.cat, s.ctr, "/tmp/f"))
	}
	if n := rec.Evictions(recorder.EvictCount); n != 12 {
		t.Fatalf("count evictions %d, want 12", n)
	}
	rec.Record(openEv(t0+11e9, s.cat, s.ctr, "/tmp/g")) // the 8 before are older than the window
	if n := rec.Evictions(recorder.EvictAge); n != 8 {
		t.Fatalf("age evictions %d, want 8", n)
	}
	rec.Record(openEv(t0+12e9, s.cat, s.other, "/tmp/h"))
	third := &event.Container{ID: "third0000003", Type: "containerd"}
	rec.Record(openEv(t0+13e9, s.cat, third, "/tmp/i")) // a third ring: the least recent goes
	if n := rec.Evictions(recorder.EvictRing); n != 1 {
		t.Fatalf("ring evictions %d, want 1", n)
	}
	rec.Expire(t0 + 60e9)
	if b := rec.Bytes(); b != 0 {
		t.Fatalf("bytes %d after every ring aged out", b)
	}

	small := recorder.New(recorder.Options{MaxEvents: 1000, MaxBytes: 4096})
	long := strings.Repeat("x", 300)
	for i := range 100 {
		small.Record(openEv(t0+int64(i), s.cat, s.ctr, fmt.Sprintf("/%s/%d", long, i)))
	}
	if b := small.Bytes(); b > 4096 || b == 0 {
		t.Fatalf("bytes %d, want within (0, 4096]", b)
	}
	if small.Evictions(recorder.EvictBytes) == 0 {
		t.Fatal("no bytes evictions")
	}
}
