package engine

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
	"github.com/vigilsec/vigil/internal/k8saudit"
	"github.com/vigilsec/vigil/internal/rules"
	defaultrules "github.com/vigilsec/vigil/rules"
)

// fullEngine loads the upstream stable ruleset and Vigil's embedded
// default rules.
func fullEngine(tb testing.TB) *Engine {
	tb.Helper()
	b, err := os.ReadFile(shareddata.FalcoRules(tb))
	if err != nil {
		tb.Fatal(err)
	}
	files := []rules.File{{Name: "falco_rules.yaml", Data: b}}
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	rs := rules.LoadAndCompile(&rules.CompileOptions{Hosts: hostnames.New(&hostnames.Options{Lookup: hostnames.StaticLookup(nil)})}, files...)
	if err := rs.Err(); err != nil {
		tb.Fatal(err)
	}
	return New(rs, &Options{Users: staticUsers{1000: "alice"}})
}

// mixedStream builds a realistic stream: mostly file opens/closes, some
// network and process events, nearly all of which match no rule.
func mixedStream() []*event.Event {
	host := &event.Container{ID: "host"}
	ctr := container()
	sh := shellParent()
	var evs []*event.Event
	files := []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/status",
		"/var/log/nginx/access.log", "/tmp/build/obj.o", "/etc/hosts", "/usr/share/zoneinfo/UTC", "/home/alice/.bashrc"}
	comms := []string{"nginx", "python3", "java", "node", "cc1", "make"}
	for i := 0; i < 1000; i++ {
		comm := comms[i%len(comms)]
		c := host
		if i%3 == 0 {
			c = ctr
		}
		p := &event.Process{PID: uint32(1000 + i), PPID: 100, Comm: comm, Exe: comm, ExePath: "/usr/bin/" + comm,
			Args: []string{"-x", "run"}, Cwd: "/srv", Parent: sh, StartTime: 1}
		base := event.Event{Time: int64(1_700_000_000_000_000_000 + i), PID: p.PID, TID: p.PID, UID: 33, GID: 33,
			LoginUID: event.NoLoginUID, Comm: comm, Proc: p, Container: c, FD: -1}
		ev := base
		switch k := i % 20; {
		case k < 9: // openat
			f := files[i%len(files)]
			ev.Type, ev.Ret, ev.DirFD, ev.Path = event.TypeOpenat, 5, event.AtFDCWD, f
			if k%4 == 0 {
				ev.Flags = 0o1101 // O_WRONLY|O_CREAT|O_TRUNC
			}
			ev.FDInfo = &event.FDInfo{Num: 5, Type: event.FDFile, Name: f, NameRaw: f, Flags: ev.Flags}
		case k < 13:
			ev.Type, ev.FD = event.TypeClose, 5
			ev.FDInfo = &event.FDInfo{Num: 5, Type: event.FDFile, Name: files[i%len(files)]}
		case k < 15: // connect to a service inside the cluster
			ev.Type, ev.FD = event.TypeConnect, 7
			ev.Addr = event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.96.0.10"), Port: 53}
			ev.FDInfo = &event.FDInfo{Num: 7, Type: event.FDIPv4, L4Proto: "udp", Connected: true,
				Client: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.1.0.5"), Port: 40000},
				Server: ev.Addr, Name: "10.1.0.5:40000->10.96.0.10:53"}
		case k < 17:
			ev.Type, ev.FD, ev.Arg[0] = event.TypeSendto, 7, 64
			ev.FDInfo = &event.FDInfo{Num: 7, Type: event.FDIPv4, L4Proto: "tcp", Connected: true,
				Client: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.1.0.5"), Port: 40000},
				Server: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.96.0.20"), Port: 8080}}
		case k == 17: // exec of a benign tool on the host
			ev.Type = event.TypeExecve
			ev.Exec = &event.Exec{Filename: "/usr/bin/" + comm, Argv: []string{comm, "-x"}}
		case k == 18:
			ev.Type, ev.Ret, ev.Arg = event.TypeSocket, 8, [4]int64{2, 1, 0}
			ev.FDInfo = &event.FDInfo{Num: 8, Type: event.FDIPv4, L4Proto: "tcp"}
		default:
			ev.Type, ev.Ret, ev.FD = event.TypeDup2, 1, 5
			ev.FDInfo = &event.FDInfo{Num: 1, Type: event.FDFile, Name: "/dev/null"}
		}
		e := ev
		evs = append(evs, &e)
	}
	return evs
}

func TestNonMatchingEventsDoNotAllocate(t *testing.T) {
	e := fullEngine(t)
	evs := mixedStream()
	for _, ev := range evs {
		if n := e.Evaluate(ev, nil); n != 0 {
			t.Fatalf("stream event %v matched %d rules: %v", ev.Type, n, matchNames(e, ev))
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		e.Evaluate(evs[i%len(evs)], nil)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per non-matching event, want 0", allocs)
	}
}

// BenchmarkEngineFalco evaluates the upstream stable ruleset over the mixed
// stream and reports events/s and the cost relative to a baseline measured
// in the same run: an engine with no rules (dispatch only).
func BenchmarkEngineFalco(b *testing.B) {
	evs := mixedStream()
	base := New(nil, &Options{Users: staticUsers{}})
	e := fullEngine(b)
	b.ReportMetric(float64(len(e.Ruleset().Rules)), "rules")
	// CPU time of this thread, not wall time: the machine is shared, and
	// the figure wanted is events per second per core.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	run := func(e *Engine, n int) time.Duration {
		start := threadCPU()
		for i := 0; i < n; i++ {
			e.Evaluate(evs[i%len(evs)], nil)
		}
		return threadCPU() - start
	}
	run(e, len(evs)) // warm up
	b.ReportAllocs()
	b.ResetTimer()
	d := run(e, b.N)
	b.StopTimer()
	bd := run(base, b.N)
	b.ReportMetric(float64(b.N)/d.Seconds(), "events/cpu-s")
	if bd > 0 {
		b.ReportMetric(float64(d)/float64(bd), "x_no_rules_baseline")
	}
}

// threadCPU returns the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStatefulOverhead measures what the default stateful rules add:
// the full ruleset (Falco's stable rules plus Vigil's defaults, stateful
// ones included) over the mixed stream, against the same ruleset without
// its stateful rules, measured in the same run on the same thread,
// alternating in rounds (the machine is shared). x_without_stateful is the
// ratio of CPU time per event.
func BenchmarkStatefulOverhead(b *testing.B) {
	evs := mixedStream()
	with := fullEngine(b)
	rs := *with.Ruleset()
	rs.Rules = nil
	stateful := 0
	for _, r := range with.Ruleset().Rules {
		if r.State != nil {
			stateful++
			continue
		}
		rs.Rules = append(rs.Rules, r)
	}
	if stateful == 0 {
		b.Fatal("the default ruleset has no stateful rule")
	}
	without := New(&rs, &Options{Users: staticUsers{1000: "alice"}})
	b.ReportMetric(float64(stateful), "stateful_rules")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	run := func(e *Engine, n int) time.Duration {
		start := threadCPU()
		for i := 0; i < n; i++ {
			e.Evaluate(evs[i%len(evs)], nil)
		}
		return threadCPU() - start
	}
	run(with, len(evs))
	run(without, len(evs))
	b.ReportAllocs()
	b.ResetTimer()
	var dw, dn time.Duration
	const rounds = 10
	for r := 0; r < rounds; r++ {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - n*(rounds-1)
		}
		if r%2 == 1 { // alternate which engine runs first in a round
			b.StopTimer()
			dn += run(without, n)
			b.StartTimer()
		}
		dw += run(with, n)
		if r%2 == 0 {
			b.StopTimer()
			dn += run(without, n)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)/dw.Seconds(), "events/cpu-s")
	if dn > 0 {
		b.ReportMetric(float64(dw)/float64(dn), "x_without_stateful")
	}
}

// BenchmarkEngineK8sAudit evaluates Falco's Kubernetes audit rules
// (../shared/falco/k8s_audit_rules.yaml, 48 rules, every one run on every
// audit event) over the audit events written for the k8saudit tests (an
// attack in five of six: privileged pod, exec, attach, binding to
// cluster-admin, secret read; a controller listing pods), formatting the
// alerts of the matches, and reports events per CPU second of the
// evaluating thread, for the mix and for the non-matching event alone.
// The events are decoded once, before: this is the engine's cost.
func BenchmarkEngineK8sAudit(b *testing.B) {
	rs, evs, benign := auditTestEvents(b)
	e := New(rs, &Options{Users: staticUsers{}})
	matches := 0
	for _, ev := range evs {
		matches += e.Evaluate(ev, func(*Match) {})
	}
	if matches == 0 || e.Evaluate(benign, nil) != 0 {
		b.Fatalf("%d matches over the test events; the benign one must match nothing", matches)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	run := func(evs []*event.Event, n int) time.Duration {
		start := threadCPU()
		for i := 0; i < n; i++ {
			e.Evaluate(evs[i%len(evs)], func(*Match) {})
		}
		return threadCPU() - start
	}
	b.ReportAllocs()
	b.ResetTimer()
	d := run(evs, b.N)
	b.StopTimer()
	db := run([]*event.Event{benign}, b.N)
	b.ReportMetric(float64(b.N)/d.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(b.N)/db.Seconds(), "non-matching_events/cpu-s")
}

// auditTestEvents compiles Falco's Kubernetes audit rules and decodes the
// audit events written for the k8saudit tests; benign is the one that
// matches no rule (a controller listing pods).
func auditTestEvents(tb testing.TB) (rs *rules.Ruleset, evs []*event.Event, benign *event.Event) {
	tb.Helper()
	data, err := os.ReadFile(shareddata.K8sAuditRules(tb))
	if err != nil {
		tb.Fatal(err)
	}
	rs = rules.LoadAndCompile(nil, rules.File{Name: "k8s_audit_rules.yaml", Data: data})
	if err := rs.Err(); err != nil {
		tb.Fatal(err)
	}
	paths, _ := filepath.Glob("../k8saudit/testdata/*.json")
	for _, path := range paths {
		body, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		d := new(k8saudit.Decoder) // one per event: the event reads the decoder's parsed JSON
		if _, err := d.Batch(body, func(ev *event.Event) {
			cp := *ev
			evs = append(evs, &cp)
			if strings.Contains(path, "benign") {
				benign = &cp
			}
		}); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
	}
	if len(evs) < 6 || benign == nil {
		tb.Fatalf("%d audit test events", len(evs))
	}
	return rs, evs, benign
}

func TestNonMatchingAuditEventDoesNotAllocate(t *testing.T) {
	rs, _, benign := auditTestEvents(t)
	e := New(rs, &Options{Users: staticUsers{}})
	if n := e.Evaluate(benign, nil); n != 0 {
		t.Fatalf("the benign audit event matched %d rules", n)
	}
	if allocs := testing.AllocsPerRun(1000, func() { e.Evaluate(benign, nil) }); allocs != 0 {
		t.Fatalf("%.2f allocations per non-matching audit event, want 0", allocs)
	}
}
