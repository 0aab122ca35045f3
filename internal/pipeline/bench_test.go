package pipeline

import (
	"testing"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
	defaultrules "github.com/vigilsec/vigil/rules"
)

// BenchmarkHandle measures the pipeline's own cost (type counting, the
// stage guard, the match callback) over the engine alone on the same
// non-matching event with Vigil's default rules: compare
// BenchmarkHandle/pipeline with BenchmarkHandle/engine of the same run.
func BenchmarkHandle(b *testing.B) {
	var files []rules.File
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	rs := rules.LoadAndCompile(nil, files...)
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	ev := openEvent("/etc/hostname", 7)
	ev.Proc = &event.Process{PID: 7, Comm: "cat", Exe: "cat", ExePath: "/usr/bin/cat"}
	host := &event.Container{ID: "host", Type: "host"}
	b.Run("engine", func(b *testing.B) {
		eng := engine.New(rs, &engine.Options{Hostname: "h"})
		fn := func(*engine.Match) { b.Fatal("matched") }
		b.ReportAllocs()
		for b.Loop() {
			ev.Container = host
			eng.Evaluate(ev, fn)
		}
	})
	b.Run("pipeline", func(b *testing.B) {
		p := New(Options{Engine: engine.New(rs, &engine.Options{Hostname: "h"}), Host: host,
			OnAlert: func(*event.Event, *engine.Match, *alert.Alert) { b.Fatal("matched") }})
		b.ReportAllocs()
		for b.Loop() {
			p.Handle(ev)
		}
	})
}
