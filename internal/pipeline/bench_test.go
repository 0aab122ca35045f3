package pipeline

import (
	"sort"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/profile"
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

// BenchmarkProfileOverhead compares the profiling stage's cost per event
// (Learner.Observe on a container's open of a file its profile holds, the
// common case once a workload is learned) with the engine's (Vigil's
// default rules on the same event), in alternating rounds of 100,000
// events in the same run; profile/engine is the ratio of their medians
// (the target: at most 10%).
func BenchmarkProfileOverhead(b *testing.B) {
	var files []rules.File
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	rs := rules.LoadAndCompile(nil, files...)
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	ctr := &event.Container{ID: "abcdefabcdef", FullID: "abcdefabcdef0123", Type: "docker", MetadataKnown: true,
		Image: "registry.example/web:1", Repository: "registry.example/web"}
	ev := openEvent("/etc/hostname", 7)
	ev.Proc = &event.Process{PID: 7, Comm: "cat", Exe: "cat", ExePath: "/usr/bin/cat"}
	ev.Container = ctr
	learner := profile.NewLearner(profile.Options{Window: time.Nanosecond})
	learner.Observe(ev) // learned (the window closes at the next event)
	ev.Time += int64(time.Second)
	eng := engine.New(rs, &engine.Options{Hostname: "h"})
	fn := func(*engine.Match) { b.Fatal("matched") }
	const n = 100_000
	round := func(f func()) float64 {
		start := time.Now()
		for range n {
			f()
		}
		return float64(time.Since(start).Nanoseconds()) / n
	}
	if allocs := testing.AllocsPerRun(1000, func() { learner.Observe(ev) }); allocs != 0 {
		b.Fatalf("profiling allocates %v per event", allocs)
	}
	var engNs, profNs []float64
	for b.Loop() {
		for range 5 {
			engNs = append(engNs, round(func() { eng.Evaluate(ev, fn) }))
			profNs = append(profNs, round(func() { learner.Observe(ev) }))
		}
	}
	if p := learner.Profiles(); len(p) != 1 || p[0].State != profile.Monitoring {
		b.Fatal("the profile is not monitoring")
	}
	e, p := median(engNs), median(profNs)
	b.ReportMetric(e, "engine-ns/event")
	b.ReportMetric(p, "profile-ns/event")
	b.ReportMetric(100*p/e, "profile/engine-%")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
