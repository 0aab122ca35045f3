package metrics

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse parses the text exposition with Prometheus' own parser.
func Parse(t testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return fams
}

func value(f *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range f.Metric {
		ok := true
		for _, lp := range m.Label {
			if want, has := labels[lp.GetName()]; has && want != lp.GetValue() {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

func TestExpositionParsesAndMoves(t *testing.T) {
	r := NewRegistry()
	ev := r.CounterVec("vigil_events_total", "Events by type.", "type")
	open := ev.With("openat")
	open.Add(3)
	ev.With(`we"ird\name` + "\n").Inc()
	plain := r.Counter("vigil_alerts_total", "Alerts \\ raised\nsecond line.")
	g := r.Gauge("vigil_process_table_size", "Processes tracked.")
	g.Set(12.5)
	r.Func("vigil_output_dropped_total", "Drops.", TypeCounter, []string{"output"}, func(e Emit) {
		e(7, "http")
		e(0, "file")
	})
	RegisterProcess(r)

	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	scrape := func() map[string]*dto.MetricFamily {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("content type %q", ct)
		}
		return Parse(t, resp.Body)
	}
	fams := scrape()
	if v, _ := value(fams["vigil_events_total"], map[string]string{"type": "openat"}); v != 3 {
		t.Errorf("openat = %v", v)
	}
	if v, ok := value(fams["vigil_events_total"], map[string]string{"type": `we"ird\name` + "\n"}); !ok || v != 1 {
		t.Errorf("escaped label = %v %v", v, ok)
	}
	if v, _ := value(fams["vigil_output_dropped_total"], map[string]string{"output": "http"}); v != 7 {
		t.Errorf("dropped = %v", v)
	}
	if v, _ := value(fams["vigil_process_table_size"], nil); v != 12.5 {
		t.Errorf("gauge = %v", v)
	}
	if fams["vigil_alerts_total"].GetHelp() != "Alerts \\ raised\nsecond line." {
		t.Errorf("help %q", fams["vigil_alerts_total"].GetHelp())
	}
	rss, _ := value(fams["process_resident_memory_bytes"], nil)
	if rss < 1<<20 {
		t.Errorf("rss = %v", rss)
	}
	for _, n := range []string{"process_cpu_seconds_total", "go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_cycles_total", "process_open_fds"} {
		if _, ok := fams[n]; !ok {
			t.Errorf("missing %s", n)
		}
	}
	// Counters move between scrapes.
	open.Inc()
	plain.Add(5)
	cpu0, _ := value(fams["process_cpu_seconds_total"], nil)
	x := 0
	for i := 0; i < 30_000_000; i++ { // burn some CPU so the counter moves
		x += i ^ x
	}
	_ = x
	fams = scrape()
	if v, _ := value(fams["vigil_events_total"], map[string]string{"type": "openat"}); v != 4 {
		t.Errorf("openat after Inc = %v", v)
	}
	if v, _ := value(fams["vigil_alerts_total"], nil); v != 5 {
		t.Errorf("alerts = %v", v)
	}
	if cpu1, _ := value(fams["process_cpu_seconds_total"], nil); cpu1 < cpu0 {
		t.Errorf("cpu went back: %v -> %v", cpu0, cpu1)
	}
}

func TestCounterIncDoesNotAllocate(t *testing.T) {
	r := NewRegistry()
	c := r.CounterVec("x_total", "x", "a").With("b")
	if n := testing.AllocsPerRun(1000, func() { c.Inc() }); n != 0 {
		t.Fatalf("%v allocations per Inc", n)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil || !strings.Contains(buf.String(), `x_total{a="b"} 1001`) {
		t.Fatalf("%v %s", err, buf.String())
	}
}
