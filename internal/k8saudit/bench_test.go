package k8saudit

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
)

// BenchmarkAuditEvaluate evaluates Falco's 48 k8s audit rules on the test
// events (decode + evaluate, one event per op) and reports events/s and the
// ratio to decoding alone, measured in the same run: the cost of the
// rules over the JSON parsing every audit event pays anyway.
func BenchmarkAuditEvaluate(b *testing.B) {
	var bodies [][]byte
	for n := range want {
		bodies = append(bodies, testEvent(b, n))
	}
	e := engine.New(auditRules(b), nil)
	var d Decoder
	decode := func(n int) time.Duration {
		start := time.Now()
		for i := range n {
			if _, err := d.Batch(bodies[i%len(bodies)], func(*event.Event) {}); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	fn := func(ev *event.Event) { e.Evaluate(ev, func(*engine.Match) {}) }
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := d.Batch(bodies[i%len(bodies)], fn); err != nil {
			b.Fatal(err)
		}
	}
	full := time.Since(start)
	b.StopTimer()
	base := decode(b.N)
	b.ReportMetric(float64(b.N)/full.Seconds(), "events/s")
	b.ReportMetric(float64(full)/float64(base), "x_decode_only")
}
