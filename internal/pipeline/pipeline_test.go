package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/state"
)

const shadowRule = `
- rule: Test shadow read
  desc: test
  condition: evt.type = openat and fd.name = /etc/shadow
  output: Shadow read (file=%fd.name proc=%proc.name)
  priority: WARNING
`

func compile(t *testing.T, src string) *rules.Ruleset {
	t.Helper()
	rs := rules.LoadAndCompile(nil, rules.File{Name: "test.yaml", Data: []byte(src)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func openEvent(path string, tid uint32) *event.Event {
	return &event.Event{Type: event.TypeOpenat, Time: 1_700_000_000_000_000_000 + int64(tid), PID: tid, TID: tid,
		Comm: "cat", Ret: 3, FD: -1, FD2: -1, DirFD: event.AtFDCWD, Path: path,
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDFile, Name: path, NameRaw: path}}
}

// TestStagePanicIsContained: a stage that panics on one event does not stop
// the pipeline: the panic is counted by stage, one internal alert (rate
// limited) says which stage and why, the event still reaches the stages
// after it, and the next events are processed as usual.
func TestStagePanicIsContained(t *testing.T) {
	var internal []*alert.Alert
	var alerts, tapped int
	p := New(Options{
		Engine:   engine.New(compile(t, shadowRule), &engine.Options{Hostname: "h"}),
		Hostname: "h",
		OnAlert: func(ev *event.Event, m *engine.Match, al *alert.Alert) {
			alerts++
			if ev.TID == 2 {
				panic("alert sink broke")
			}
		},
		Tap: func(ev *event.Event) {
			tapped++
			if strings.HasSuffix(ev.Path, "boom") {
				var m map[string]int
				m["x"]++ // a real nil-map panic
			}
		},
		Internal: func(a *alert.Alert) { internal = append(internal, a) },
	})
	p.Handle(openEvent("/tmp/boom", 1))   // tap panics
	p.Handle(openEvent("/etc/shadow", 2)) // engine stage (its alert sink) panics; the tap still runs
	p.Handle(openEvent("/tmp/boom", 3))   // tap panics again: counted, alert rate-limited
	p.Handle(openEvent("/etc/shadow", 4)) // normal

	if alerts != 2 || tapped != 4 {
		t.Fatalf("alerts=%d tapped=%d, want 2 and 4", alerts, tapped)
	}
	if n := p.Panics(guard.StageTap); n != 2 {
		t.Errorf("tap panics = %d, want 2", n)
	}
	if n := p.Panics(guard.StageEngine); n != 1 {
		t.Errorf("engine panics = %d, want 1", n)
	}
	if len(internal) != 2 {
		t.Fatalf("internal alerts = %d, want 2 (one per stage, rate-limited)", len(internal))
	}
	for _, a := range internal {
		stage, _ := a.Field("vigil.stage")
		why, _ := a.Field("vigil.panic")
		if a.Rule != guard.RulePanic || a.Source != alert.SourceInternal || a.Hostname != "h" {
			t.Errorf("internal alert %+v", a)
		}
		switch stage {
		case guard.StageTap:
			if !strings.Contains(why.(string), "nil map") {
				t.Errorf("tap panic reason %q", why)
			}
		case guard.StageEngine:
			if why != "alert sink broke" {
				t.Errorf("engine panic reason %q", why)
			}
		default:
			t.Errorf("stage %v", stage)
		}
	}
	if p.Events(event.TypeOpenat) != 4 {
		t.Errorf("events = %d", p.Events(event.TypeOpenat))
	}
}

// TestNarrowedTypesStopAfterTable: with Types narrowed, the process events
// the table needs are asked of the sensor but neither evaluated nor tapped.
func TestNarrowedTypesStopAfterTable(t *testing.T) {
	var tapped []event.Type
	p := New(Options{Types: []event.Type{event.TypeOpenat}, Tap: func(ev *event.Event) { tapped = append(tapped, ev.Type) }})
	if got := p.SensorTypes(); len(got) != 1 || got[0] != event.TypeOpenat {
		t.Fatalf("without a table: sensor types %v", got)
	}
	p.SetContext(tableForTest(t), nil, nil)
	got := map[event.Type]bool{}
	for _, ty := range p.SensorOptions(sensorOptionsForTest()).Types {
		got[ty] = true
	}
	for _, ty := range []event.Type{event.TypeOpenat, event.TypeExecve, event.TypeExecveat, event.TypeClone,
		event.TypeFork, event.TypeVfork, event.TypeClone3, event.TypeProcExit} {
		if !got[ty] {
			t.Errorf("sensor types lack %v", ty)
		}
	}
	if p.Wants(event.TypeExecve) || !p.Wants(event.TypeOpenat) {
		t.Error("Wants")
	}
	p.Handle(&event.Event{Type: event.TypeExecve, PID: 1, TID: 1, Comm: "x", Ret: 0})
	p.Handle(openEvent("/etc/hostname", 1))
	if len(tapped) != 1 || tapped[0] != event.TypeOpenat {
		t.Errorf("tapped %v", tapped)
	}
}

// TestCaptureSourceError: a bad capture line is a positioned error.
func TestCaptureSourceError(t *testing.T) {
	p := New(Options{})
	err := p.Run(context.Background(), NewCaptureSource(strings.NewReader("{\"type\":\"openat\"}\nnot json\n"), "c.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "c.jsonl:") {
		t.Fatalf("err = %v", err)
	}
}

func tableForTest(t *testing.T) *state.Table {
	tb, err := state.New(state.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func sensorOptionsForTest() sensor.Options { return sensor.Options{RingBytes: 1 << 20} }

// TestProfilerStage: a container's events reach the profiler, a host's do
// not, and the sensor is asked for the profiler's types and roots.
func TestProfilerStage(t *testing.T) {
	rs := compile(t, shadowRule)
	learner := profile.NewLearner(profile.Options{Roots: []string{"/srv"}})
	ctr := &event.Container{ID: "abcdefabcdef", Type: "docker", MetadataKnown: true, Repository: "web"}
	p := New(Options{Engine: engine.New(rs, nil), Profiler: learner, Host: ctr})
	p.Handle(openEvent("/srv/index.html", 7))
	ps := learner.Profiles()
	if len(ps) != 1 || ps[0].Name != "image:web" || strings.Join(ps[0].Items(profile.KindRead), ",") != "/srv/index.html" {
		t.Fatalf("profiles %v", ps)
	}
	in, ok := p.InterestFor(rs)
	if !ok || !in.Types.Has(event.TypeListen) || !in.Types.Has(event.TypeExecve) || in.Open == nil ||
		in.Open.Prefixes["/srv"] != sensor.AccessAll || in.Open.Prefixes["/etc/shadow"] == 0 {
		t.Fatalf("interest %v %v", in.Types, in.Open)
	}
	hostP := New(Options{Engine: engine.New(rs, nil), Profiler: profile.NewLearner(profile.Options{}),
		Host: &event.Container{ID: "host", Type: "host", MetadataKnown: true}})
	hostP.Handle(openEvent("/etc/passwd", 8))
	if n := len(hostP.opts.Profiler.Profiles()); n != 0 {
		t.Fatalf("host profiled: %d", n)
	}
}
