package profile

import (
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// BenchmarkProfileMemory learns 1,000 workloads, each with a typical
// service's behaviour (12 programs, 150 files read, 20 written, 30 egress
// peers, 2 listening ports, 90 syscalls), and reports the heap the
// profiles take per profile (measured) and the Learner's own estimate
// (Profile.Size, the vigil_profile_bytes gauge) and their ratio, then one
// profile filled to every limit (the bound).
func BenchmarkProfileMemory(b *testing.B) {
	sysNames := make([]string, 0, 90)
	for i := range 90 {
		sysNames = append(sysNames, fmt.Sprintf("sys_%d", i))
	}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		l := NewLearner(Options{Window: time.Hour})
		t0 := time.Unix(1_700_000_000, 0)
		for w := range 1000 {
			c := &event.Container{ID: fmt.Sprintf("%012d", w), Type: "docker", MetadataKnown: true, Repository: fmt.Sprintf("registry.example/team/service-%d", w)}
			ev := func(e *event.Event) { e.Container, e.Time = c, t0.UnixNano(); l.Observe(e) }
			for i := range 12 {
				ev(&event.Event{Type: event.TypeExecve, Exec: &event.Exec{ExePath: fmt.Sprintf("/usr/local/bin/tool-%d", i), Filename: fmt.Sprintf("/usr/local/bin/tool-%d", i)}})
			}
			for i := range 170 {
				flags := uint64(syscall.O_RDONLY)
				if i >= 150 {
					flags = syscall.O_WRONLY | syscall.O_CREAT
				}
				p := fmt.Sprintf("/usr/lib/service/module-%03d/data.bin", i)
				ev(&event.Event{Type: event.TypeOpenat, Path: p, Flags: flags, FDInfo: &event.FDInfo{Name: p}})
			}
			for i := range 30 {
				ip := netip.AddrFrom4([4]byte{10, 0, byte(i), 1})
				ev(&event.Event{Type: event.TypeConnect, Addr: event.SockAddr{Family: syscall.AF_INET, IP: ip, Port: 443}, FDInfo: &event.FDInfo{L4Proto: "tcp"}})
			}
			for _, port := range []uint16{8080, 9090} {
				ev(&event.Event{Type: event.TypeListen, FDInfo: &event.FDInfo{L4Proto: "tcp", Server: event.SockAddr{Family: syscall.AF_INET, Port: port}}})
			}
			pr := l.byName["image:"+c.Repository].p
			for _, s := range sysNames {
				pr.syscalls.add(s, pr.limits.Syscalls)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := l.Stats()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1000, "heap-B/profile")
		b.ReportMetric(float64(st.Bytes)/1000, "est-B/profile")
		b.ReportMetric(100*float64(after.HeapAlloc-before.HeapAlloc)/float64(st.Bytes), "heap/est-%")
		runtime.KeepAlive(l)

		// One profile at every limit.
		full := New("image:full", Limits{}, t0, time.Hour)
		runtime.GC()
		runtime.ReadMemStats(&before)
		lim := DefaultLimits
		long := string(make([]byte, 200))
		for i := range lim.Programs {
			full.addProgram(Program{Path: fmt.Sprintf("/usr/local/bin/%s%d", long, i)})
		}
		for i := range lim.Files {
			full.addFile(false, fmt.Sprintf("/var/lib/r/%s%d", long, i))
			full.addFile(true, fmt.Sprintf("/var/lib/w/%s%d", long, i))
		}
		for i := range lim.Peers {
			ip := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
			full.egress.add(Peer{Addr: ip, Port: 443, Proto: "tcp"}, lim.Peers)
			full.ingres.add(Peer{Addr: ip, Port: 8080, Proto: "tcp"}, lim.Peers)
		}
		for i := range lim.Syscalls {
			full.syscalls.add(fmt.Sprintf("syscall_%d", i), lim.Syscalls)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "heap-B/full-profile")
		b.ReportMetric(float64(full.Size()), "est-B/full-profile")
		b.ReportMetric(100*float64(after.HeapAlloc-before.HeapAlloc)/float64(full.Size()), "full-heap/est-%")
		runtime.KeepAlive(full)
	}
}
