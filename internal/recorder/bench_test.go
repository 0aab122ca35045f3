package recorder_test

import (
	"testing"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/recorder"
)

// BenchmarkPipelineRecorder is the recorder's cost on the event path: the
// pipeline with Vigil's default rules over the same non-matching events
// (an open, an exec and a connect in a container, in turn), without and
// with the flight recorder (default caps). Compare with/without of the
// same run.
func BenchmarkPipelineRecorder(b *testing.B) {
	rs := defaultRuleset(b)
	s := newStory()
	evs := []*event.Event{openEv(0, s.nginx, s.ctr, "/var/log/nginx/access.log"), execEv(0, s.nginx, s.ctr), connectEv(0, s.nginx, s.ctr)}
	run := func(b *testing.B, rec *recorder.Recorder) {
		p := pipeline.New(pipeline.Options{Engine: engine.New(rs, &engine.Options{Hostname: "h"}), Recorder: rec,
			OnAlert: func(*event.Event, *engine.Match, *alert.Alert) {}})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ev := evs[i%len(evs)]
			ev.Time = t0 + int64(i)*1000
			p.Handle(ev)
			i++
		}
	}
	b.Run("without", func(b *testing.B) { run(b, nil) })
	b.Run("with", func(b *testing.B) { run(b, recorder.New(recorder.Options{})) })
}
