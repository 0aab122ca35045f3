package pipeline

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/state"
	defaultrules "github.com/vigilsec/vigil/rules"
)

// cpuNow returns the process's user+system CPU time in seconds.
func cpuNow(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// loopEvents is one iteration of bench/workload's connect loop (client
// socket, connect, server accept4, both closes) or open loop (openat of
// /etc/hostname, close) as the sensor reports them, in process pid.
func loopEvents(pid uint32, connect bool) []*event.Event {
	ev := func(t event.Type, fd, ret int64) *event.Event {
		return &event.Event{Type: t, PID: pid, TID: pid, PPID: 1, Comm: "workload", LoginUID: event.NoLoginUID,
			FD: fd, FD2: -1, DirFD: -1, DirFD2: -1, Ret: ret, Time: 1_700_000_000_000_000_000}
	}
	if !connect {
		o := ev(event.TypeOpenat, -1, 7)
		o.DirFD, o.Path, o.Flags = event.AtFDCWD, "/etc/hostname", syscall.O_CLOEXEC
		return []*event.Event{o, ev(event.TypeClose, 7, 0)}
	}
	ip := func(port uint16) event.SockAddr {
		return event.SockAddr{Family: syscall.AF_INET, IP: netip.MustParseAddr("127.0.0.1"), Port: port}
	}
	s := ev(event.TypeSocket, -1, 7)
	s.Arg[0], s.Arg[1] = syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC
	c := ev(event.TypeConnect, 7, -int64(syscall.EINPROGRESS))
	c.Addr, c.Local = ip(8080), ip(40000)
	a := ev(event.TypeAccept4, 3, 8)
	a.Addr, a.Local, a.Flags = ip(40000), ip(8080), syscall.SOCK_CLOEXEC
	return []*event.Event{s, c, a, ev(event.TypeClose, 8, 0), ev(event.TypeClose, 7, 0)}
}

// BenchmarkConsumerLoop: the enriched consumer after the ring (process
// and fd tables, the host container, Vigil's default rules, the
// pipeline's counting and guard) over the events of a workload loop, in
// events per CPU second of the process (GC included). The targets: 1M/s
// for open/close, 500k/s for connect/accept/close. The ring read and
// decode are not included (bench/sensor.sh measures the whole agent).
func BenchmarkConsumerLoop(b *testing.B) {
	var files []rules.File
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	rs := rules.LoadAndCompile(nil, files...)
	if err := rs.Err(); err != nil {
		b.Fatal(err)
	}
	for _, connect := range []bool{false, true} {
		name := "open-close"
		if connect {
			name = "connect-accept-close"
		}
		b.Run(name, func(b *testing.B) {
			tb, err := state.New(state.Config{})
			if err != nil {
				b.Fatal(err)
			}
			const pid = 4_000_000 // above pid_max: never a live process
			p := New(Options{Table: tb, Host: &event.Container{ID: "host", Type: "host", MetadataKnown: true},
				Engine: engine.New(rs, &engine.Options{Hostname: "h"}),
				OnAlert: func(_ *event.Event, m *engine.Match, _ *alert.Alert) {
					b.Fatalf("rule %q matched the loop", m.Rule.Name)
				}})
			exec := &event.Event{Type: event.TypeExecve, PID: pid, TID: pid, PPID: 1, Comm: "workload",
				LoginUID: event.NoLoginUID, FD: -1, FD2: -1, DirFD: -1, DirFD2: -1, Path: "/usr/local/bin/workload",
				Time: 1_700_000_000_000_000_000}
			exec.Exec = &event.Exec{Filename: "/usr/local/bin/workload", ExePath: "/usr/local/bin/workload",
				Argv: []string{"workload"}, Cwd: "/"}
			p.Handle(exec)
			l := &event.Event{Type: event.TypeSocket, PID: pid, TID: pid, PPID: 1, Comm: "workload", Ret: 3,
				FD: -1, FD2: -1, DirFD: -1, DirFD2: -1}
			l.Arg[0], l.Arg[1] = syscall.AF_INET, syscall.SOCK_STREAM
			p.Handle(l)
			stream := loopEvents(pid, connect)
			b.ReportAllocs()
			c0 := cpuNow(b)
			for i := 0; b.Loop(); i++ {
				p.Handle(stream[i%len(stream)])
			}
			if cpu := cpuNow(b) - c0; cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu, "events/cpu-s")
			}
		})
	}
}
