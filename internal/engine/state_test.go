package engine

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
	"github.com/vigilsec/vigil/internal/rules"
)

const statefulRules = `
- rule: Write Then Exec
  desc: a file written then executed in the same container
  condition: evt.type = execve and evt.res = SUCCESS and proc.exepath = val(write.fd.name)
  sequence:
    by: container
    within: 60s
    steps:
      - as: write
        condition: evt.type = openat and evt.arg.flags contains O_WRONLY and proc.name != cc1
  output: exec of written file (file=%proc.exepath writer=%write.proc.name upper=%toupper(write.proc.name))
  priority: WARNING
- rule: Port Scan
  desc: refused connects to distinct ports
  condition: evt.type = connect and evt.res = ECONNREFUSED
  threshold: {count: 5, distinct: fd.sport, within: 10s, by: container}
  output: scan (port=%fd.sport)
  priority: NOTICE
- rule: Shell Then Connect
  desc: a shell, then a connect from it or its children
  condition: evt.type = connect and proc.name != sh
  sequence:
    by: process_tree
    within: 30s
    steps:
      - condition: evt.type = execve and proc.name = sh
  output: connect after shell (proc=%proc.name shell=%step1.proc.pid)
  priority: NOTICE
`

const t0 = int64(1_700_000_000_000_000_000)

func statefulEngine(t testing.TB, text string, opts *Options) *Engine {
	t.Helper()
	rs := compileText(t, text)
	if opts == nil {
		opts = &Options{}
	}
	opts.Users = staticUsers{}
	return New(rs, opts)
}

func compileText(t testing.TB, text string) *rules.Ruleset {
	t.Helper()
	rs := rules.LoadAndCompile(&rules.CompileOptions{Hosts: hostnames.New(&hostnames.Options{Lookup: hostnames.StaticLookup(nil)})},
		rules.File{Name: "stateful.yaml", Data: []byte(text)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func proc(pid uint32, comm, exe string, parent *event.Process) *event.Process {
	return &event.Process{PID: pid, Comm: comm, Exe: comm, ExePath: exe, StartTime: int64(pid) * 1000, Parent: parent}
}

func writeEv(at time.Duration, ctr *event.Container, p *event.Process, path string) *event.Event {
	return &event.Event{Type: event.TypeOpenat, Time: t0 + int64(at), PID: p.PID, TID: p.PID, Comm: p.Comm, Ret: 3, FD: -1,
		DirFD: event.AtFDCWD, Path: path, Flags: 0o1101, Proc: p, Container: ctr,
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDFile, Name: path, NameRaw: path, Flags: 0o1101}}
}

func execEv(at time.Duration, ctr *event.Container, p *event.Process) *event.Event {
	return &event.Event{Type: event.TypeExecve, Time: t0 + int64(at), PID: p.PID, TID: p.PID, Comm: p.Comm, FD: -1, Proc: p,
		Container: ctr, Exec: &event.Exec{Filename: p.ExePath, Argv: []string{p.Comm}}}
}

func connectEv(at time.Duration, ctr *event.Container, p *event.Process, port uint16, ret int64) *event.Event {
	srv := event.SockAddr{Family: 2, IP: netip.MustParseAddr("127.0.0.1"), Port: port}
	return &event.Event{Type: event.TypeConnect, Time: t0 + int64(at), PID: p.PID, TID: p.PID, Comm: p.Comm, Ret: ret, FD: 3,
		Addr: srv, Proc: p, Container: ctr,
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDIPv4, L4Proto: "tcp", Server: srv,
			Client: event.SockAddr{Family: 2, IP: netip.MustParseAddr("127.0.0.1"), Port: 40000}}}
}

func fired(e *Engine, evs ...*event.Event) []string {
	var out []string
	for _, ev := range evs {
		e.Evaluate(ev, func(m *Match) { out = append(out, m.Rule.Name+": "+m.Output) })
	}
	return out
}

func TestSequenceWriteThenExec(t *testing.T) {
	e := statefulEngine(t, statefulRules, nil)
	ctr, other := container(), &event.Container{ID: "fedcba987654"}
	sh := proc(10, "sh", "/bin/sh", nil)
	cp := proc(11, "cp", "/bin/cp", sh)
	x := proc(12, "x", "/tmp/x", sh)
	y := proc(13, "y", "/tmp/y", sh)

	// Written then executed in the same container: fires, with the
	// writer's fields in the output.
	got := fired(e, writeEv(0, ctr, cp, "/tmp/x"), execEv(time.Second, ctr, x))
	if len(got) != 1 || got[0] != "Write Then Exec: exec of written file (file=/tmp/x writer=cp upper=CP)" {
		t.Fatalf("write then exec: %q", got)
	}
	// Once: the sequence is consumed.
	if got := fired(e, execEv(2*time.Second, ctr, x)); len(got) != 0 {
		t.Errorf("second exec fired again: %q", got)
	}
	// Another file, another container, or too late: nothing.
	if got := fired(e, writeEv(3*time.Second, ctr, cp, "/tmp/y"), execEv(4*time.Second, ctr, x)); len(got) != 0 {
		t.Errorf("exec of another file fired: %q", got)
	}
	if got := fired(e, execEv(5*time.Second, other, y)); len(got) != 0 {
		t.Errorf("exec in another container fired: %q", got)
	}
	if got := fired(e, execEv(64*time.Second, ctr, y)); len(got) != 0 {
		t.Errorf("exec after the window fired: %q", got)
	}
	// Exec before write (wrong order): nothing.
	if got := fired(e, execEv(100*time.Second, ctr, x), writeEv(101*time.Second, ctr, cp, "/tmp/x")); len(got) != 0 {
		t.Errorf("exec before write fired: %q", got)
	}
	if got := fired(e, execEv(102*time.Second, ctr, x)); len(got) != 1 {
		t.Errorf("exec after write: %q", got)
	}
}

func TestThresholdOncePerWindow(t *testing.T) {
	e := statefulEngine(t, statefulRules, nil)
	ctr := container()
	nc := proc(20, "nc", "/bin/nc", nil)
	refused := -111
	var evs []*event.Event
	// 4 distinct ports, the same port again and again: below the count.
	for i := 0; i < 4; i++ {
		evs = append(evs, connectEv(time.Duration(i)*time.Millisecond, ctr, nc, uint16(1000+i), int64(refused)))
	}
	for i := 0; i < 10; i++ {
		evs = append(evs, connectEv(5*time.Millisecond, ctr, nc, 1000, int64(refused)))
	}
	if got := fired(e, evs...); len(got) != 0 {
		t.Fatalf("fired below the count: %q", got)
	}
	// A scan of 100 ports within the window fires once.
	evs = evs[:0]
	for i := 0; i < 100; i++ {
		evs = append(evs, connectEv(time.Second+time.Duration(i)*time.Millisecond, ctr, nc, uint16(2000+i), int64(refused)))
	}
	if got := fired(e, evs...); len(got) != 1 || !strings.HasPrefix(got[0], "Port Scan: scan (port=") {
		t.Fatalf("scan of 100 ports: %q", got)
	}
	// The next window fires again.
	evs = evs[:0]
	for i := 0; i < 10; i++ {
		evs = append(evs, connectEv(20*time.Second+time.Duration(i)*time.Millisecond, ctr, nc, uint16(3000+i), int64(refused)))
	}
	if got := fired(e, evs...); len(got) != 1 {
		t.Fatalf("scan in the next window: %q", got)
	}
	// Distinct ports spread wider than the window: nothing.
	evs = evs[:0]
	for i := 0; i < 10; i++ {
		evs = append(evs, connectEv(time.Minute+time.Duration(i)*3*time.Second, ctr, nc, uint16(4000+i), int64(refused)))
	}
	if got := fired(e, evs...); len(got) != 0 {
		t.Fatalf("slow connects fired: %q", got)
	}
}

func TestSequenceProcessTree(t *testing.T) {
	e := statefulEngine(t, statefulRules, nil)
	ctr := container()
	sh := proc(30, "sh", "/bin/sh", nil)
	nc := proc(31, "nc", "/bin/nc", sh)
	unrelated := proc(40, "curl", "/usr/bin/curl", nil)
	if got := fired(e, execEv(0, ctr, sh), connectEv(time.Second, ctr, unrelated, 80, 0)); len(got) != 0 {
		t.Fatalf("connect outside the shell's tree fired: %q", got)
	}
	got := fired(e, connectEv(2*time.Second, ctr, nc, 80, 0))
	if len(got) != 1 || got[0] != "Shell Then Connect: connect after shell (proc=nc shell=30)" {
		t.Fatalf("connect from the shell's child: %q", got)
	}
}

// TestStateSurvivesReload: a reload that keeps a stateful rule's
// definition keeps its state; one that changes it starts afresh.
func TestStateSurvivesReload(t *testing.T) {
	ctr := container()
	cp := proc(11, "cp", "/bin/cp", nil)
	x := proc(12, "x", "/tmp/x", nil)
	e := statefulEngine(t, statefulRules, nil)
	fired(e, writeEv(0, ctr, cp, "/tmp/x"))
	// The same rules plus an unrelated one.
	e.Swap(compileText(t, statefulRules+"\n- rule: Other\n  desc: d\n  condition: evt.type = unlinkat\n  output: o\n  priority: INFO\n"))
	if got := fired(e, execEv(time.Second, ctr, x)); len(got) != 1 {
		t.Fatalf("state lost on a reload that kept the rule: %q", got)
	}
	if e.StateStats().Kept == 0 {
		t.Error("kept state not counted")
	}
	fired(e, writeEv(2*time.Second, ctr, cp, "/tmp/x"))
	e.Swap(compileText(t, strings.Replace(statefulRules, "within: 60s", "within: 61s", 1)))
	if got := fired(e, execEv(3*time.Second, ctr, x)); len(got) != 0 {
		t.Fatalf("state kept although the rule changed: %q", got)
	}
	if st := e.StateStats(); st.Entries != 0 {
		t.Errorf("%d entries left of a changed rule", st.Entries)
	}
	// A reload that removes every stateful rule frees their state at the
	// next event, whatever its type.
	fired(e, writeEv(4*time.Second, ctr, cp, "/tmp/x"))
	if st := e.StateStats(); st.Entries != 1 {
		t.Fatalf("%d entries, want 1", st.Entries)
	}
	e.Swap(compileText(t, "- rule: Other\n  desc: d\n  condition: evt.type = unlinkat\n  output: o\n  priority: INFO\n"))
	fired(e, connectEv(5*time.Second, ctr, cp, 1, 0))
	if st := e.StateStats(); st.Entries != 0 || st.Bytes != 0 {
		t.Errorf("state of removed rules kept: %+v", st)
	}
}

// TestStateBounded: keys beyond the limit evict the least recently
// updated ones, counted; memory stays under the cap.
func TestStateBounded(t *testing.T) {
	e := statefulEngine(t, statefulRules, &Options{StateMaxEntries: 100, StateMaxBytes: 64 << 10})
	cp := proc(11, "cp", "/bin/cp", nil)
	for i := 0; i < 1000; i++ {
		ctr := &event.Container{ID: fmt.Sprintf("c%011d", i)}
		fired(e, writeEv(time.Duration(i)*time.Millisecond, ctr, cp, "/tmp/"+strings.Repeat("x", 200)))
		if st := e.StateStats(); st.Entries > 100 || st.Bytes > 64<<10 {
			t.Fatalf("after %d keys: %+v", i+1, st)
		}
	}
	st := e.StateStats()
	if st.Evicted < 900 {
		t.Errorf("evicted %d, want ≥ 900", st.Evicted)
	}
	// The most recent key is still there.
	last := &event.Container{ID: fmt.Sprintf("c%011d", 999)}
	x := proc(12, "x", "/tmp/"+strings.Repeat("x", 200), nil)
	if got := fired(e, execEv(time.Second, last, x)); len(got) != 1 {
		t.Errorf("most recent key evicted: %q", got)
	}
	// Idle keys expire as later events pass their window.
	for i := 0; i < 200; i++ {
		fired(e, connectEv(10*time.Minute+time.Duration(i), container(), cp, 1, 0))
	}
	if st := e.StateStats(); st.Expired == 0 || st.Entries > 1 {
		t.Errorf("after the windows passed: %+v", st)
	}
}

// TestStatefulNonMatchingDoNotAllocate: events that stateful rules look
// at but that match no step allocate nothing, nor do repeats of a step
// already recorded.
func TestStatefulNonMatchingDoNotAllocate(t *testing.T) {
	e := statefulEngine(t, statefulRules, nil)
	ctr := container()
	cp := proc(11, "cp", "/bin/cp", nil)
	cc := proc(12, "cc1", "/usr/bin/cc1", nil)
	ls := proc(13, "ls", "/bin/ls", nil)
	evs := []*event.Event{writeEv(0, ctr, cp, "/tmp/a"), writeEv(0, ctr, cc, "/tmp/b.o"), execEv(0, ctr, ls),
		connectEv(0, ctr, ls, 80, 0)}
	fired(e, evs...)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		e.Evaluate(evs[i%len(evs)], nil)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per event", allocs)
	}
}

// TestFalcoRulesAreStateless: Falco's own rules never use the stateful
// keys, so they compile without state and evaluating them keeps none.
func TestFalcoRulesAreStateless(t *testing.T) {
	e := falcoEngine(t, nil)
	for _, r := range e.Ruleset().Rules {
		if r.State != nil {
			t.Errorf("Falco rule %q compiled as stateful", r.Name)
		}
	}
	for _, ev := range mixedStream() {
		e.Evaluate(ev, nil)
	}
	if st := e.StateStats(); st != (StateStats{}) {
		t.Errorf("state after Falco's rules: %+v", st)
	}
}

// TestSequenceByPodAndProcess: by: pod joins the containers of one pod
// (not of another pod); by: process keeps processes apart.
func TestSequenceByPodAndProcess(t *testing.T) {
	text := strings.Replace(statefulRules, "by: container\n", "by: pod\n", 1)
	e := statefulEngine(t, text, nil)
	podA1 := &event.Container{ID: "aaaaaaaaaaa1", PodUID: "uid-a", PodName: "a", PodNamespace: "ns"}
	podA2 := &event.Container{ID: "aaaaaaaaaaa2", PodUID: "uid-a", PodName: "a", PodNamespace: "ns"}
	podB := &event.Container{ID: "bbbbbbbbbbbb", PodUID: "uid-b", PodName: "b", PodNamespace: "ns"}
	cp := proc(11, "cp", "/bin/cp", nil)
	x := proc(12, "x", "/tmp/x", nil)
	if got := fired(e, writeEv(0, podA1, cp, "/tmp/x"), execEv(time.Second, podB, x)); len(got) != 0 {
		t.Fatalf("another pod fired: %q", got)
	}
	if got := fired(e, execEv(2*time.Second, podA2, x)); len(got) != 1 {
		t.Fatalf("a sibling container of the pod did not fire: %q", got)
	}

	text = strings.Replace(statefulRules, "by: container\n", "by: process\n", 1)
	e = statefulEngine(t, text, nil)
	ctr := container()
	other := proc(13, "x", "/tmp/x", nil)
	if got := fired(e, writeEv(0, ctr, cp, "/tmp/x"), execEv(time.Second, ctr, other)); len(got) != 0 {
		t.Fatalf("another process fired: %q", got)
	}
	self := proc(11, "x", "/tmp/x", nil) // cp's process execs the file it wrote
	if got := fired(e, execEv(2*time.Second, ctr, self)); len(got) != 1 {
		t.Fatalf("the same process did not fire: %q", got)
	}
}
