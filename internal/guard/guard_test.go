package guard

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/metrics"
)

// TestRecoverCountsAndRateLimits: Recover stops a panic, counts it by
// stage, and raises at most one alert per stage per interval, with the
// count since the last alert; other stages alert on their own.
func TestRecoverCountsAndRateLimits(t *testing.T) {
	var mu sync.Mutex
	var got []*alert.Alert
	reg := metrics.NewRegistry()
	g := New(Options{Internal: func(a *alert.Alert) { mu.Lock(); got = append(got, a); mu.Unlock() },
		Hostname: "h", Metrics: reg, Interval: 100 * time.Millisecond})
	boom := func(stage string) {
		defer g.Recover(stage, "item")
		var p *struct{ x int }
		p.x++ // a real nil dereference
	}
	for range 3 {
		boom(StageOutput)
	}
	boom(StageResponse)
	if g.Count(StageOutput) != 3 || g.Count(StageResponse) != 1 || g.Count(StageState) != 0 {
		t.Fatalf("counts output=%d response=%d", g.Count(StageOutput), g.Count(StageResponse))
	}
	if len(got) != 2 {
		t.Fatalf("%d alerts, want one per stage", len(got))
	}
	time.Sleep(150 * time.Millisecond)
	boom(StageOutput)
	if len(got) != 3 {
		t.Fatalf("%d alerts after the interval, want 3", len(got))
	}
	if v, _ := got[2].Field("vigil.panics"); v != uint64(3) {
		t.Errorf("vigil.panics = %v, want 3 (two suppressed + this one)", v)
	}
	if v, _ := got[0].Field("vigil.panic"); !strings.Contains(v.(string), "nil pointer dereference") {
		t.Errorf("vigil.panic = %v", v)
	}
	if got[0].Rule != RulePanic || got[0].Source != alert.SourceInternal || got[0].Hostname != "h" {
		t.Errorf("alert %+v", got[0])
	}
	var buf bytes.Buffer
	_ = reg.WriteText(&buf)
	if !strings.Contains(buf.String(), `vigil_panics_total{stage="output"} 4`) {
		t.Errorf("metrics:\n%s", buf.String())
	}
}
