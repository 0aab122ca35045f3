package output

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// pipeline is a dispatcher delivering to a file and to an HTTP receiver.
type pipeline struct {
	d        *Dispatcher
	received *atomic.Int64
	srv      *httptest.Server
}

func newPipeline(tb testing.TB, batch int) *pipeline {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
	}))
	h, err := NewHTTP(HTTPOptions{URL: srv.URL, BatchSize: batch, BatchInterval: 10 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := NewFile(FileOptions{Path: filepath.Join(tb.TempDir(), "alerts.json"), Format: FormatJSON, MaxSize: 64 << 20, MaxBackups: 1})
	if err != nil {
		tb.Fatal(err)
	}
	d := NewDispatcher(Options{})
	d.Add(f, alert.PriorityDebug, 8192)
	d.Add(h, alert.PriorityDebug, 8192)
	return &pipeline{d: d, received: &received, srv: srv}
}

// push sends n alerts without overflowing the queues (it waits when they
// are nearly full) and returns when both outputs delivered them all.
func (p *pipeline) push(tb testing.TB, as []*alert.Alert, n int) {
	start := p.sent()
	for i := 0; i < n; i++ {
		for i%256 == 0 && p.maxQueued() > 8192-512 {
			time.Sleep(200 * time.Microsecond) // let the outputs drain (no spinning: CPU is measured)
		}
		p.d.Send(as[i%len(as)])
	}
	for p.sent()-start < uint64(2*n) {
		if s := p.d.Stats(); s[0].Dropped+s[1].Dropped+s[0].Errors+s[1].Errors > 0 {
			tb.Fatalf("lost alerts: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *pipeline) sent() uint64 {
	var n uint64
	for _, s := range p.d.Stats() {
		n += s.Sent
	}
	return n
}

func (p *pipeline) maxQueued() int {
	m := 0
	for _, s := range p.d.Stats() {
		m = max(m, s.Queued)
	}
	return m
}

func (p *pipeline) close() {
	p.d.Close(context.Background())
	p.srv.Close()
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchAlerts() []*alert.Alert {
	as := make([]*alert.Alert, 64)
	for i := range as {
		as[i] = testAlert(i)
	}
	return as
}

// BenchmarkDelivery measures the alerts per second the dispatcher delivers
// to a file and an HTTP receiver at once (one POST per alert, and batches
// of 100), against a baseline measured in the same run: the same alerts
// encoded and written to a file by one goroutine, without dispatcher or
// HTTP. It reports alerts/s and the ratio to the baseline.
func BenchmarkDelivery(b *testing.B) {
	as := benchAlerts()
	baseline := func(n int) float64 {
		f, err := os.Create(filepath.Join(b.TempDir(), "base.json"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		var buf []byte
		start := time.Now()
		for i := 0; i < n; i++ {
			buf = appendAlert(buf[:0], as[i%len(as)], FormatJSON)
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		return float64(n) / time.Since(start).Seconds()
	}
	for _, batch := range []int{1, 100} {
		b.Run("http_batch="+strconv.Itoa(batch), func(b *testing.B) {
			p := newPipeline(b, batch)
			defer p.close()
			p.push(b, as, 2000) // warm up connections
			base := baseline(max(b.N, 2000))
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			p.push(b, as, b.N)
			rate := float64(b.N) / time.Since(start).Seconds()
			cpu := (cpuTime() - cpu0).Seconds() / float64(b.N)
			b.ReportMetric(rate, "alerts/s")
			b.ReportMetric(rate/base, "ratio_to_file_only")
			// CPU per alert (agent and in-process receiver together): on a
			// shared machine wall-clock rates depend on the neighbours;
			// this does not.
			b.ReportMetric(cpu*1e6, "cpu_us/alert")
		})
	}
}

// TestSoakMemoryFlat delivers alerts to file + HTTP for a bounded time
// (VIGIL_SOAK_SECONDS, default 3) and checks that the heap after the soak is
// not much larger than after the warm-up (the baseline of the same run).
func TestSoakMemoryFlat(t *testing.T) {
	secs := 3
	if v, err := strconv.Atoi(os.Getenv("VIGIL_SOAK_SECONDS")); err == nil && v > 0 {
		secs = min(v, 120)
	}
	p := newPipeline(t, 1)
	defer p.close()
	as := benchAlerts()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	p.push(t, as, 5000)
	base := heap()
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	total, start := 0, time.Now()
	var peak uint64
	for time.Now().Before(deadline) {
		p.push(t, as, 2000)
		total += 2000
		peak = max(peak, heap())
	}
	end := heap()
	rate := float64(total) / time.Since(start).Seconds()
	t.Logf("soak %ds: %d alerts to file+HTTP, %.0f alerts/s; heap in use %d KiB after warm-up, %d KiB at the end, peak %d KiB (ratio %.2f)",
		secs, total, rate, base>>10, end>>10, peak>>10, float64(end)/float64(base))
	if float64(end) > 1.5*float64(base)+4<<20 {
		t.Fatalf("heap grew from %d to %d bytes", base, end)
	}
}
