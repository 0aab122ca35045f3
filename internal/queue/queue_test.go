package queue

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/metrics"
)

// TestDropsCountedExportedAndAlerted: a full queue drops (Push false,
// never blocks), every drop is counted and exported, and drops raise one
// overflow alert per interval with the count since the last one.
func TestDropsCountedExportedAndAlerted(t *testing.T) {
	ov := NewOverflow(OverflowOptions{Interval: 200 * time.Millisecond, Hostname: "h"})
	reg := metrics.NewRegistry()
	ov.Register(reg)
	q := New[int](Options{Name: "store", Item: "alerts", Size: 2, Overflow: ov})
	other := New[string](Options{Name: "output.stdout", Size: 1, Overflow: ov})

	var mu sync.Mutex
	var got []*alert.Alert
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ov.Run(ctx, func(a *alert.Alert) { mu.Lock(); got = append(got, a); mu.Unlock() })
	}()
	alerts := func() []*alert.Alert { mu.Lock(); defer mu.Unlock(); return append([]*alert.Alert(nil), got...) }
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(alerts()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("want %d overflow alerts, have %d", n, len(alerts()))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	for i := range 7 {
		ok := q.Push(i)
		if ok != (i < 2) {
			t.Fatalf("push %d = %v", i, ok)
		}
	}
	if q.Dropped() != 5 || q.Len() != 2 || q.Cap() != 2 {
		t.Fatalf("dropped=%d len=%d cap=%d", q.Dropped(), q.Len(), q.Cap())
	}
	wait(1)
	time.Sleep(50 * time.Millisecond)
	if n := len(alerts()); n != 1 {
		t.Fatalf("%d alerts within the interval, want 1", n)
	}
	a := alerts()[0]
	if a.Rule != RuleOverflow || a.Source != alert.SourceInternal || a.Priority != alert.PriorityError || a.Hostname != "h" {
		t.Errorf("alert %+v", a)
	}
	if v, _ := a.Field("vigil.queue"); v != "store" {
		t.Errorf("vigil.queue = %v", v)
	}
	if v, _ := a.Field("vigil.dropped"); v != uint64(1) {
		t.Errorf("first alert: vigil.dropped = %v, want 1 (raised at the first drop)", v)
	}
	// After the interval, the next drop reports the drops since.
	time.Sleep(250 * time.Millisecond)
	<-q.C()
	q.Push(7) // fits
	q.Push(8) // dropped: the 6th
	wait(2)
	if v, _ := alerts()[1].Field("vigil.dropped"); v != uint64(5) {
		t.Errorf("second alert: vigil.dropped = %v, want 5", v)
	}
	if v, _ := alerts()[1].Field("vigil.total_dropped"); v != uint64(6) {
		t.Errorf("second alert: vigil.total_dropped = %v, want 6", v)
	}
	other.Push("a")
	other.Push("b")
	wait(3)
	cancel()
	<-done

	var buf bytes.Buffer
	if err := reg.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("exposition: %v\n%s", err, buf.String())
	}
	want := map[string]float64{"store": 6, "output.stdout": 1}
	for _, m := range fams["vigil_queue_dropped_total"].Metric {
		name := m.Label[0].GetValue()
		if m.Counter.GetValue() != want[name] {
			t.Errorf("vigil_queue_dropped_total{queue=%q} = %v, want %v", name, m.Counter.GetValue(), want[name])
		}
		delete(want, name)
	}
	if len(want) != 0 {
		t.Errorf("queues missing from /metrics: %v", want)
	}
	if fams["vigil_queue_capacity"] == nil || fams["vigil_queue_length"] == nil {
		t.Error("capacity/length gauges missing")
	}
}

// TestPushNeverBlocks: producers on many goroutines against a queue nobody
// drains: every push returns, pushes = queued + dropped.
func TestPushNeverBlocks(t *testing.T) {
	q := New[int](Options{Name: "q", Size: 16})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				q.Push(g*1000 + i)
			}
		}()
	}
	wg.Wait()
	if uint64(q.Len())+q.Dropped() != 8000 {
		t.Fatalf("len %d + dropped %d != 8000", q.Len(), q.Dropped())
	}
}

// TestDropsOfAnotherBuffer: Drops reports a buffer that is not a channel
// (or a count kept elsewhere) like a queue: counted, exported, alerted.
func TestDropsOfAnotherBuffer(t *testing.T) {
	ov := NewOverflow(OverflowOptions{Hostname: "h"})
	reg := metrics.NewRegistry()
	ov.Register(reg)
	d := NewDrops(Options{Name: "prevention_ring", Item: "decisions", Overflow: ov})
	d.Add(0) // nothing
	d.Add(3)
	d.Drop()
	if d.Dropped() != 4 {
		t.Fatalf("dropped = %d", d.Dropped())
	}
	var got []*alert.Alert
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run drains what is pending, then returns
	_ = ov.Run(ctx, func(a *alert.Alert) { got = append(got, a) })
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1 (rate-limited)", len(got))
	}
	if v, _ := got[0].Field("vigil.dropped"); v != uint64(3) {
		t.Errorf("vigil.dropped = %v, want 3", v)
	}
	var buf bytes.Buffer
	_ = reg.WriteText(&buf)
	if !strings.Contains(buf.String(), `vigil_queue_dropped_total{queue="prevention_ring"} 4`) {
		t.Errorf("metrics:\n%s", buf.String())
	}
}

// TestPushAfterClose: a producer racing shutdown (the enforcer's gate
// fallback after Close) is told no; it must not panic on a closed channel.
func TestPushAfterClose(t *testing.T) {
	q := New[int](Options{Name: "late", Size: 4})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				q.Push(i)
			}
		}()
	}
	go func() {
		for range q.C() {
		}
	}()
	q.Close()
	wg.Wait()
	if q.Push(1) {
		t.Fatal("Push after Close accepted the item")
	}
	q.Close() // twice is harmless
}
