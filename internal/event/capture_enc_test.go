package event

import (
	"bytes"
	"strings"
	"testing"
)

func enrichedEvent() (*Event, *Process, *Container) {
	gp := &Process{PID: 1, Comm: "init", Exe: "/sbin/init", ExePath: "/sbin/init", Args: []string{"--x", strings.Repeat("long \"arg\" é\n", 50)}}
	parent := &Process{PID: 10, PPID: 1, Comm: "sh", Exe: "sh", ExePath: "/bin/sh", Args: []string{"-c", "loop"}, Parent: gp}
	p := &Process{PID: 100, PPID: 10, Comm: "work", Exe: "./work", ExePath: "/tmp/work", Args: []string{"-n", "3"},
		Cwd: "/tmp/", UID: 1000, CapEff: 5, StartTime: 7, ExecTime: 8, CgroupID: 9, Parent: parent}
	c := &Container{ID: "0123456789ab", FullID: strings.Repeat("0123456789ab", 5), Type: "docker", MetadataKnown: true,
		Name: "web", Image: "nginx:1", Mounts: []Mount{{Source: "/a", Destination: "/b", RW: true}},
		Labels: map[string]string{"k": "v"}}
	ev := sampleEvent(TypeOpenat)
	ev.PID = 100
	ev.Proc = p
	ev.Container = c
	return &ev, p, c
}

// TestJSONEncoderMatchesAppendJSON encodes a stream whose process, ancestors
// and container change between events, in place as internal/state changes
// them: every line must equal AppendJSON's.
func TestJSONEncoderMatchesAppendJSON(t *testing.T) {
	ev, p, c := enrichedEvent()
	host := &Container{ID: "host", Type: "host", MetadataKnown: true, CgroupPath: "/"}
	var enc JSONEncoder
	steps := []struct {
		name   string
		change func()
	}{
		{"first", func() {}},
		{"same", func() {}},
		{"exec in place", func() { p.Args = []string{"new", "args"}; p.ExePath = "/bin/new"; p.ExecTime++ }},
		{"cwd", func() { p.Cwd = "/" }},
		{"uid", func() { p.UID = 0 }},
		{"arg element", func() { p.Args[0] = "changed" }},
		{"parent comm", func() { p.Parent.Comm = "bash" }},
		{"grandparent args", func() { p.Parent.Parent.Args = []string{"other"} }},
		{"reparent", func() { p.Parent = p.Parent.Parent }},
		{"orphan", func() { p.Parent = nil }},
		{"container", func() { ev.Container = host }},
		{"container back", func() { ev.Container = c }},
		{"no container", func() { ev.Container = nil }},
		{"other process", func() { q := *p; q.PID, q.Comm = 101, "other"; ev.Proc = &q }},
		{"first process again", func() { ev.Proc = p; ev.Container = c }},
		{"no process", func() { ev.Proc = nil }},
	}
	for _, s := range steps {
		s.change()
		want := AppendJSON(nil, ev)
		got := enc.Append(nil, ev)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", s.name, got, want)
		}
	}
}

// TestJSONEncoderDeepChain: ancestors past MaxCaptureAncestors are not
// encoded, and a change there does not invalidate the cache needlessly but
// a change within does.
func TestJSONEncoderDeepChain(t *testing.T) {
	ev, p, _ := enrichedEvent()
	a := p
	for i := 0; i < MaxCaptureAncestors+5; i++ {
		a.Parent = &Process{PID: uint32(1000 + i), Comm: "a"}
		a = a.Parent
	}
	var enc JSONEncoder
	for i := 0; i < 3; i++ {
		p.Parent.Parent.Comm = []string{"x", "y", "y"}[i]
		if got, want := enc.Append(nil, ev), AppendJSON(nil, ev); !bytes.Equal(got, want) {
			t.Fatalf("step %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestJSONEncoderNoAllocs(t *testing.T) {
	ev, _, _ := enrichedEvent()
	var enc JSONEncoder
	buf := enc.Append(make([]byte, 0, 16<<10), ev)
	n := testing.AllocsPerRun(100, func() { buf = enc.Append(buf[:0], ev) })
	if n != 0 {
		t.Fatalf("JSONEncoder.Append allocates %.1f times per enriched event", n)
	}
}

// BenchmarkEnrichedJSON compares AppendJSON (the baseline) with the
// JSONEncoder on an enriched event; read the ratio of the two ns/op.
func BenchmarkEnrichedJSON(b *testing.B) {
	ev, _, _ := enrichedEvent()
	buf := make([]byte, 0, 16<<10)
	b.Run("AppendJSON", func(b *testing.B) {
		for b.Loop() {
			buf = AppendJSON(buf[:0], ev)
		}
	})
	b.Run("JSONEncoder", func(b *testing.B) {
		var enc JSONEncoder
		for b.Loop() {
			buf = enc.Append(buf[:0], ev)
		}
	})
}

// TestJSONEncoderBounded encodes more processes and containers than the
// caches hold: output stays AppendJSON's and the caches stay bounded.
func TestJSONEncoderBounded(t *testing.T) {
	ev, p, _ := enrichedEvent()
	var enc JSONEncoder
	for i := 0; i < maxProcEnc+10; i++ {
		q := *p
		q.PID = uint32(1000 + i)
		ev.Proc = &q
		ev.Container = &Container{ID: "c", FullID: string(rune('a' + i%26))}
		if got, want := enc.Append(nil, ev), AppendJSON(nil, ev); !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
	if len(enc.procs) > maxProcEnc || len(enc.conts) > maxContEnc {
		t.Fatalf("caches hold %d processes, %d containers", len(enc.procs), len(enc.conts))
	}
	ev.Proc = p
	for i := 0; i < 2; i++ {
		if got, want := enc.Append(nil, ev), AppendJSON(nil, ev); !bytes.Equal(got, want) {
			t.Fatalf("after the reset %d:\n got %s\nwant %s", i, got, want)
		}
	}
	if enc.procs[p.PID] == nil {
		t.Fatal("the process encoded after the reset is not cached")
	}
}
