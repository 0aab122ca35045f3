package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// idleSource is an event source that sends nothing (the benchmark needs
// the console, not the sensor).
type idleSource struct{}

func (idleSource) Run(ctx context.Context, _ func(*event.Event)) error { <-ctx.Done(); return nil }
func (idleSource) Close() error                                        { return nil }

// BenchmarkConsoleFirstPaint loads the console's alert list in headless
// Chromium with 100k alerts stored, and with 100 (the baseline) in the
// same run: first contentful paint and the time the list is rendered
// (newest 200 rows), in ms from navigation start, and their ratios to the
// baseline. Run it alone: sudo go test -bench ConsoleFirstPaint -run XXX
// ./internal/console (it starts two agents; hold /tmp/vigil-priv.lock).
func BenchmarkConsoleFirstPaint(b *testing.B) {
	testkernel.RequireRoot(b)
	measure := func(n int) (fcp, rendered float64) {
		ca := startConsoleAgent(b, idleSource{})
		seed(b, ca, n)
		br := newBrowser(b)
		br.login(b, ca.base, adminToken)
		var sumF, sumR float64
		runs := 0
		for range 5 {
			br.run(b, "load", chromedp.Navigate(ca.base+"/console/#/alerts"), loaded)
			v := value(b, br, "timings", chromedp.Evaluate[[]float64](`[
				(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime,
				window.vigilRenderedAt]`))
			sumF += v[0]
			sumR += v[1]
			runs++
			br.run(b, "away", chromedp.Navigate("about:blank"))
		}
		return sumF / float64(runs), sumR / float64(runs)
	}
	start := time.Now()
	var baseF, baseR, f, r float64
	for b.Loop() {
		baseF, baseR = measure(100)
		f, r = measure(100_000)
	}
	b.ReportMetric(f, "fcp_ms")
	b.ReportMetric(r, "rendered_ms")
	b.ReportMetric(baseR, "baseline_rendered_ms")
	b.ReportMetric(f/baseF, "fcp_ratio")
	b.ReportMetric(r/baseR, "rendered_ratio")
	b.Logf("100k alerts: fcp %.0f ms, list rendered %.0f ms; 100 alerts: fcp %.0f ms, rendered %.0f ms (%s in all)",
		f, r, baseF, baseR, time.Since(start).Round(time.Second))
}
