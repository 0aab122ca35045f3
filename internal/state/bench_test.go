package state

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// mixedStream is 100 events: a fork/exec/open/close/exit cycle of a child
// and a server process doing mostly I/O on known fds, a few opens and
// closes and a UDP peer change.
func mixedStream(tb *Table) []*event.Event {
	const srv, child = 10, 11
	setup := []*event.Event{execEv(srv, 1, "srv", "/srv", "/var/lib", "srv")}
	s := ev(event.TypeSocket, srv, 1)
	s.Ret, s.Arg[0], s.Arg[1] = 3, syscall.AF_INET, syscall.SOCK_STREAM
	c := fdEv(event.TypeConnect, srv, 1, 3, 0)
	c.Addr, c.Local = ip4("10.0.0.1", 443), ip4("10.0.0.2", 4000)
	u := ev(event.TypeSocket, srv, 1)
	u.Ret, u.Arg[0], u.Arg[1] = 4, syscall.AF_INET, syscall.SOCK_DGRAM
	setup = append(setup, s, c, u, openatEv(srv, 1, event.AtFDCWD, "db", 0, 5))
	for _, e := range setup {
		tb.Apply(e)
	}

	var out []*event.Event
	out = append(out, forkEv(srv, 1, child), execEv(child, srv, "cat", "/usr/bin/cat", "", "cat", "a", "b"))
	for fd := int64(3); fd < 6; fd++ {
		out = append(out, openatEv(child, srv, event.AtFDCWD, "../etc/x.conf", syscall.O_CLOEXEC, fd))
	}
	for fd := int64(3); fd < 6; fd++ {
		out = append(out, fdEv(event.TypeClose, child, srv, fd, 0))
	}
	out = append(out, ev(event.TypeProcExit, child, srv))
	add := func(n int, mk func() *event.Event) {
		for i := 0; i < n; i++ {
			out = append(out, mk())
		}
	}
	add(40, func() *event.Event { return fdEv(event.TypeSendto, srv, 1, 3, 100) })
	add(20, func() *event.Event { return fdEv(event.TypeRecvfrom, srv, 1, 3, 100) })
	add(10, func() *event.Event {
		e := fdEv(event.TypeSendto, srv, 1, 4, 10)
		e.Addr = ip4("8.8.8.8", 53)
		return e
	})
	add(10, func() *event.Event { return fdEv(event.TypeFchmod, srv, 1, 5, 0) })
	add(5, func() *event.Event { return ev(event.TypeKill, srv, 1) })
	for i := 0; i < 3; i++ {
		out = append(out, openatEv(srv, 1, event.AtFDCWD, "cache/item", 0, 6), fdEv(event.TypeClose, srv, 1, 6, 0))
	}
	return out
}

// BenchmarkApplyMixed reports events/s and allocs per event on the mixed
// stream, and the ratio to a baseline measured in the same run: the
// cheapest possible enricher, one map lookup per event.
func BenchmarkApplyMixed(b *testing.B) {
	tb := newSynthetic(b, Config{})
	stream := mixedStream(tb)
	if len(stream) != 100 {
		b.Fatalf("stream has %d events", len(stream))
	}
	base := map[uint32]*event.Process{10: {PID: 10}, 11: {PID: 11}}

	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		tb.Apply(stream[i%len(stream)])
	}
	el := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	// allocs/op is rounded down; this is the exact rate.
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)*100/float64(b.N), "allocs/100events")

	bs := time.Now()
	for i := 0; i < b.N; i++ {
		e := stream[i%len(stream)]
		e.Proc = base[e.PID]
	}
	bel := time.Since(bs)
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	if bel > 0 {
		b.ReportMetric(float64(el)/float64(bel), "x-maplookup")
	}
}

// BenchmarkApplySteady is the hot path: sendto on a known connected fd.
func BenchmarkApplySteady(b *testing.B) {
	tb := newSynthetic(b, Config{})
	stream := mixedStream(tb)
	e := stream[20] // a sendto on fd 3
	if e.Type != event.TypeSendto || e.FD != 3 {
		b.Fatalf("stream[20] is %v fd %d", e.Type, e.FD)
	}
	base := map[uint32]*event.Process{10: {PID: 10}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		tb.Apply(e)
	}
	el := time.Since(start)
	b.StopTimer()
	bs := time.Now()
	for i := 0; i < b.N; i++ {
		e.Proc = base[e.PID]
	}
	bel := time.Since(bs)
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	if bel > 0 {
		b.ReportMetric(float64(el)/float64(bel), "x-maplookup")
	}
}

// loopStream is one iteration of bench/workload's connect loop (client
// socket, connect, server accept4, both closes) or open loop (openat,
// close), as the sensor reports them, in one process.
func loopStream(connect bool) []*event.Event {
	const pid = 20
	if !connect {
		return []*event.Event{openatEv(pid, 1, event.AtFDCWD, "/etc/hostname", syscall.O_CLOEXEC, 7), fdEv(event.TypeClose, pid, 1, 7, 0)}
	}
	s := ev(event.TypeSocket, pid, 1)
	s.Ret, s.Arg[0], s.Arg[1] = 7, syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC
	c := fdEv(event.TypeConnect, pid, 1, 7, -int64(syscall.EINPROGRESS))
	c.Addr, c.Local = ip4("127.0.0.1", 8080), ip4("127.0.0.1", 40000)
	a := fdEv(event.TypeAccept4, pid, 1, 3, 8)
	a.Addr, a.Local, a.Flags = ip4("127.0.0.1", 40000), ip4("127.0.0.1", 8080), syscall.SOCK_CLOEXEC
	return []*event.Event{s, c, a, fdEv(event.TypeClose, pid, 1, 8, 0), fdEv(event.TypeClose, pid, 1, 7, 0)}
}

// benchLoop reports the events/s one core enriches for a workload loop
// (the target: 500k/s for connect/accept/close, 1M/s for open/close).
func benchLoop(b *testing.B, connect bool) {
	tb := newSynthetic(b, Config{})
	tb.Apply(execEv(20, 1, "workload", "/workload", "/", "workload"))
	l := ev(event.TypeSocket, 20, 1)
	l.Ret, l.Arg[0], l.Arg[1] = 3, syscall.AF_INET, syscall.SOCK_STREAM
	tb.Apply(l)
	stream := loopStream(connect)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		tb.Apply(stream[i%len(stream)])
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	if st := tb.Stats(); st.FDLookups != 0 {
		b.Fatalf("%d /proc fd lookups on the loop", st.FDLookups)
	}
}

func BenchmarkApplyConnectLoop(b *testing.B) { benchLoop(b, true) }
func BenchmarkApplyOpenLoop(b *testing.B)    { benchLoop(b, false) }
