package pipeline

import (
	"fmt"
	"sort"
	"syscall"
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
// default rules on the same events), over 1,000 workloads (one container
// each, every profile monitoring; the events go round the containers), in
// alternating rounds of 100,000 events in the same run; profile/engine is
// the ratio of their medians (the target: at most 10%). An open of a file
// the profile holds for reading is decided without the Learner's lock
// (the common case); a write to a file it holds for writing takes the
// lock and the set lookup, and is measured the same way (write-profile/
// engine). It also reports the profiles' estimated memory per workload
// (Learner.Stats, the vigil_profile_bytes gauge).
func BenchmarkProfileOverhead(b *testing.B) {
	var files []rules.File
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	rs := rules.LoadAndCompile(nil, files...)
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	const workloads = 1000
	learner := profile.NewLearner(profile.Options{Window: time.Nanosecond})
	evs := make([]*event.Event, workloads)
	writes := make([]*event.Event, workloads)
	for i := range evs {
		ctr := &event.Container{ID: fmt.Sprintf("%012x", i), FullID: fmt.Sprintf("%064x", i), Type: "docker", MetadataKnown: true,
			Image: fmt.Sprintf("registry.example/svc-%d:1", i), Repository: fmt.Sprintf("registry.example/svc-%d", i)}
		ev := openEvent("/etc/hostname", 7)
		ev.Proc = &event.Process{PID: 7, Comm: "cat", Exe: "cat", ExePath: "/usr/bin/cat"}
		ev.Container = ctr
		learner.Observe(ev) // learned (the window closes at the next event)
		wr := openEvent("/var/lib/svc/state.db", 7)
		wr.Flags = syscall.O_WRONLY | syscall.O_CREAT
		wr.Proc, wr.Container = ev.Proc, ctr
		learner.Observe(wr)
		ev.Time += int64(time.Second)
		wr.Time += int64(time.Second)
		evs[i], writes[i] = ev, wr
	}
	eng := engine.New(rs, &engine.Options{Hostname: "h"})
	fn := func(*engine.Match) { b.Fatal("matched") }
	const n = 100_000
	round := func(evs []*event.Event, f func(*event.Event)) float64 {
		start := time.Now()
		for i := range n {
			f(evs[i%workloads])
		}
		return float64(time.Since(start).Nanoseconds()) / n
	}
	next := 0
	if allocs := testing.AllocsPerRun(1000, func() { learner.Observe(evs[next%workloads]); next++ }); allocs != 0 {
		b.Fatalf("profiling allocates %v per event", allocs)
	}
	if allocs := testing.AllocsPerRun(1000, func() { learner.Observe(writes[next%workloads]); next++ }); allocs != 0 {
		b.Fatalf("profiling allocates %v per known write", allocs)
	}
	var engNs, profNs, engWNs, profWNs []float64
	evaluate := func(ev *event.Event) { eng.Evaluate(ev, fn) }
	for b.Loop() {
		for range 5 {
			engNs = append(engNs, round(evs, evaluate))
			profNs = append(profNs, round(evs, learner.Observe))
			engWNs = append(engWNs, round(writes, evaluate))
			profWNs = append(profWNs, round(writes, learner.Observe))
		}
	}
	ps := learner.Profiles()
	if len(ps) != workloads {
		b.Fatalf("%d profiles, want %d", len(ps), workloads)
	}
	for _, p := range ps {
		if p.State != profile.Monitoring {
			b.Fatalf("profile %s is %s", p.Name, p.State)
		}
	}
	e, p := median(engNs), median(profNs)
	b.ReportMetric(e, "engine-ns/event")
	b.ReportMetric(p, "profile-ns/event")
	b.ReportMetric(100*p/e, "profile/engine-%")
	ew, pw := median(engWNs), median(profWNs)
	b.ReportMetric(pw, "write-profile-ns/event")
	b.ReportMetric(100*pw/ew, "write-profile/engine-%")
	b.ReportMetric(float64(learner.Stats().Bytes)/workloads, "est-B/profile")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
