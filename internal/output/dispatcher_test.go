package output

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/queue"
)

// TestHungHTTPDoesNotDelayOthers: an HTTP receiver that never answers fills
// its own queue (drops counted, overflow alert raised) while the file output
// receives every alert; Close returns at its deadline despite the hang.
func TestHungHTTPDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	var inflight atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	h, err := NewHTTP(HTTPOptions{URL: srv.URL, Timeout: time.Hour, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "alerts.json")
	f, err := NewFile(FileOptions{Path: path, Format: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	ov := queue.NewOverflow(queue.OverflowOptions{Interval: time.Hour, Hostname: "h1"})
	d := NewDispatcher(Options{Overflow: ov})
	ovCtx, ovStop := context.WithCancel(context.Background())
	defer ovStop()
	go ov.Run(ovCtx, d.Send) // overflow alerts go to every output, as in the agent
	const httpQueue = 4
	d.Add(h, alert.PriorityDebug, httpQueue)
	d.Add(f, alert.PriorityDebug, 1000)

	const n = 200
	for i := 0; i < n; i++ {
		d.Send(testAlert(i))
	}
	// All n alerts plus one overflow alert reach the file while HTTP hangs.
	waitFor(t, "file output", 10*time.Second, func() bool { return len(lines(t, path)) == n+1 })
	waitFor(t, "the hung request", 10*time.Second, func() bool { return inflight.Load() == 1 })
	var hs Stats
	for _, s := range d.Stats() {
		if s.Name == "http" {
			hs = s
		}
		if s.Name == "file" && (s.Sent != n+1 || s.Dropped != 0) {
			t.Errorf("file stats %+v", s)
		}
	}
	if hs.Sent != 0 || hs.Queued < httpQueue-1 || hs.Capacity != httpQueue || hs.Dropped == 0 {
		t.Errorf("http stats %+v", hs)
	}
	// Every alert is dropped, queued or the one in flight; the overflow
	// alert itself was dropped by the full HTTP queue too.
	if got := hs.Dropped + uint64(hs.Queued); got != n {
		t.Errorf("http dropped %d + queued %d, want %d", hs.Dropped, hs.Queued, n)
	}
	overflow := 0
	for _, l := range lines(t, path) {
		if strings.Contains(l, queue.RuleOverflow) {
			overflow++
			m := checkFalcoShape(t, []byte(l))
			if m["source"] != alert.SourceInternal || m["output_fields"].(map[string]any)["vigil.queue"] != "output.http" {
				t.Errorf("overflow alert %s", l)
			}
		}
	}
	if overflow != 1 {
		t.Errorf("%d overflow alerts, want 1 (rate-limited)", overflow)
	}

	// Shutdown gives up on the hung output at the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats()[0]; s.Errors == 0 {
		t.Errorf("abandoned HTTP alerts not counted as errors: %+v", s)
	}
	d.Send(testAlert(0)) // after Close: dropped silently, no panic
}

type slowBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *slowBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// TestCloseFlushes: everything queued is delivered by Close.
func TestCloseFlushes(t *testing.T) {
	var buf slowBuf
	d := NewDispatcher(Options{})
	d.Add(NewWriter("stdout", &buf, FormatText), alert.PriorityWarning, 10000)
	for i := 0; i < 5000; i++ {
		a := testAlert(i)
		if i%2 == 1 {
			a.Priority = alert.PriorityDebug // below the output's minimum
		}
		d.Send(a)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.b.String(), "\n"); got != 2500 {
		t.Fatalf("%d lines after Close, want 2500", got)
	}
	if s := d.Stats()[0]; s.Sent != 2500 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestBatchDispatch: a batching HTTP output gets full batches and a timed
// partial one.
func TestBatchDispatch(t *testing.T) {
	var rc receiver
	srv := httptest.NewServer(http.HandlerFunc(rc.handler))
	defer srv.Close()
	h, _ := NewHTTP(HTTPOptions{URL: srv.URL, BatchSize: 10, BatchInterval: 20 * time.Millisecond})
	d := NewDispatcher(Options{})
	d.Add(h, alert.PriorityDebug, 100)
	for i := 0; i < 25; i++ {
		d.Send(testAlert(i))
	}
	// Every alert arrives in batches of at most 10 (a slow machine may
	// flush a batch before it fills: BatchInterval), each a JSON array.
	alerts := func() (n int) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, b := range rc.bodies {
			var batch []json.RawMessage
			if err := json.Unmarshal(b, &batch); err != nil || len(batch) > 10 {
				t.Errorf("batch of %d alerts (%v): %.200s", len(batch), err, b)
			}
			n += len(batch)
		}
		return n
	}
	waitFor(t, "25 alerts", 5*time.Second, func() bool { return alerts() == 25 })
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rc.count(); n < 3 {
		t.Errorf("25 alerts in %d POSTs, want at least 3 batches of at most 10", n)
	}
	if s := d.Stats()[0]; s.Sent != 25 {
		t.Fatalf("stats %+v", s)
	}
}

// panicky is an output whose Write panics on alerts of one pid.
type panicky struct {
	mu  sync.Mutex
	got []int64
}

func (p *panicky) Name() string { return "panicky" }
func (p *panicky) Close() error { return nil }
func (p *panicky) Write(_ context.Context, a *alert.Alert) error {
	pid, _ := a.Field("proc.pid")
	if pid == int64(3) {
		var m map[string]int
		m["x"]++ // a real nil-map panic
	}
	p.mu.Lock()
	p.got = append(p.got, pid.(int64))
	p.mu.Unlock()
	return nil
}

// TestOutputPanicIsContained: an output that panics on one alert loses that
// alert (counted as an error, reported by the guard) and goes on delivering
// the next ones; the other outputs are untouched.
func TestOutputPanicIsContained(t *testing.T) {
	var mu sync.Mutex
	var internal []*alert.Alert
	g := guard.New(guard.Options{Internal: func(a *alert.Alert) { mu.Lock(); internal = append(internal, a); mu.Unlock() }})
	d := NewDispatcher(Options{Guard: g})
	p := &panicky{}
	d.Add(p, alert.PriorityDebug, 16)
	for i := range 6 {
		d.Send(testAlert(i))
	}
	waitFor(t, "the alerts after the panic", 5*time.Second, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.got) == 5 })
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats()[0]; s.Errors != 1 || s.Sent != 5 {
		t.Errorf("stats %+v, want 1 error and 5 sent", s)
	}
	if g.Count(guard.StageOutput) != 1 {
		t.Errorf("output panics = %d", g.Count(guard.StageOutput))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(internal) != 1 || internal[0].Rule != guard.RulePanic {
		t.Fatalf("internal alerts %v", internal)
	}
	if v, _ := internal[0].Field("vigil.on"); v != "output panicky" {
		t.Errorf("vigil.on = %v", v)
	}
}
