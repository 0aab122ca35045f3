package profile

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sensor"
)

var web = &event.Container{ID: "abcdefabcdef", FullID: "abcdefabcdef00", Type: "docker", MetadataKnown: true,
	Image: "vigil-test/web:1", Repository: "vigil-test/web", PodLabels: map[string]string{"app": "shop"}}

func execEv(t0 time.Time, exe, filename string) *event.Event {
	return &event.Event{Type: event.TypeExecve, Time: t0.UnixNano(), PID: 10, TID: 10, Container: web,
		Exec: &event.Exec{ExePath: exe, Filename: filename, CapEff: 1 << 10}}
}

func openEv(t0 time.Time, name string, flags uint64) *event.Event {
	return &event.Event{Type: event.TypeOpenat, Time: t0.UnixNano(), PID: 10, TID: 10, Container: web, Path: name, Flags: flags,
		Ret: 3, FDInfo: &event.FDInfo{Name: name}}
}

func connectEv(t0 time.Time, addr string) *event.Event {
	ap := netip.MustParseAddrPort(addr)
	return &event.Event{Type: event.TypeConnect, Time: t0.UnixNano(), PID: 10, TID: 10, Container: web,
		Addr: event.SockAddr{Family: syscall.AF_INET, IP: ap.Addr(), Port: ap.Port()}, FDInfo: &event.FDInfo{L4Proto: "tcp"}}
}

func listenEv(t0 time.Time, port uint16) *event.Event {
	return &event.Event{Type: event.TypeListen, Time: t0.UnixNano(), PID: 10, TID: 10, Container: web,
		FDInfo: &event.FDInfo{L4Proto: "tcp", Server: event.SockAddr{Family: syscall.AF_INET, Port: port}}}
}

// TestLearnThenDeviate: behaviour seen in the window is the profile; after
// it, new behaviour of each deviation kind raises one alert naming the
// profile and the behaviour, old behaviour none; Load of an accepted
// version stops the alert.
func TestLearnThenDeviate(t *testing.T) {
	var got []*alert.Alert
	l := NewLearner(Options{Window: time.Minute, Hostname: "h1", OnDeviation: func(a *alert.Alert) { got = append(got, a) }})
	t0 := time.Unix(1_700_000_000, 0)
	learn := []*event.Event{
		execEv(t0, "/bin/busybox", "/bin/httpd"),
		openEv(t0, "/etc/passwd", syscall.O_RDONLY),
		openEv(t0, "/var/log/web.log", syscall.O_WRONLY|syscall.O_APPEND),
		openEv(t0, "/proc/self/stat", syscall.O_RDONLY), // not under a root
		connectEv(t0, "10.0.0.5:5432"),
		listenEv(t0, 8080),
	}
	for _, ev := range learn {
		l.Observe(ev)
	}
	if len(got) != 0 {
		t.Fatalf("alerts while learning: %v", got)
	}
	p := l.Profiles()[0]
	if p.Name != "image:vigil-test/web" || p.State != Learning || p.Version != 0 {
		t.Fatalf("profile %s %s v%d", p.Name, p.State, p.Version)
	}
	want := map[Kind]string{KindProgram: "/bin/busybox (httpd)", KindRead: "/etc/passwd", KindWrite: "/var/log/web.log",
		KindEgress: "10.0.0.5:5432/tcp", KindListen: "8080/tcp", KindCap: "CAP_NET_BIND_SERVICE", KindUID: "0"}
	for k, v := range want {
		if it := p.Items(k); len(it) != 1 || it[0] != v {
			t.Errorf("%s: %q, want [%s]", k, it, v)
		}
	}
	if it := p.Items(KindSyscall); strings.Join(it, ",") != "connect,execve,listen,openat" {
		t.Errorf("syscalls %q", it)
	}

	after := t0.Add(2 * time.Minute)
	for _, ev := range learn { // the same behaviour again: no alert
		ev.Time = after.UnixNano()
		l.Observe(ev)
	}
	if len(got) != 0 {
		t.Fatalf("alerts for learned behaviour: %s", got[0].Output)
	}
	news := []*event.Event{
		execEv(after, "/bin/busybox", "/bin/sh"),
		openEv(after, "/etc/passwd", syscall.O_WRONLY),
		connectEv(after, "10.9.9.9:4444"),
		listenEv(after, 31337),
		{Type: event.TypeUnshare, Time: after.UnixNano(), PID: 10, TID: 10, Container: web},
	}
	for _, ev := range news {
		l.Observe(ev)
		l.Observe(ev) // once per behaviour
	}
	wantAlerts := []string{"program /bin/busybox (sh)", "write /etc/passwd", "egress 10.9.9.9:4444/tcp", "listen 31337/tcp", "syscall unshare"}
	if len(got) != len(wantAlerts) {
		var outs []string
		for _, a := range got {
			outs = append(outs, a.Output)
		}
		t.Fatalf("%d alerts, want %d: %q", len(got), len(wantAlerts), outs)
	}
	for i, a := range got {
		kind, _ := a.Field(FieldKind)
		val, _ := a.Field(FieldValue)
		prof, _ := a.Field(FieldProfile)
		if kind.(string)+" "+val.(string) != wantAlerts[i] || prof != "image:vigil-test/web" || a.Rule != RuleDeviation ||
			!strings.Contains(a.Output, "profile=image:vigil-test/web") || a.Vigil.Container == nil {
			t.Errorf("alert %d: %s %+v", i, a.Output, a.OutputFields)
		}
	}

	// Accept the shell: a new version without it alerting again.
	acc := l.Profiles()[0]
	if acc.Version != 1 || acc.State != Monitoring {
		t.Fatalf("after the window: v%d %s", acc.Version, acc.State)
	}
	if err := acc.Add(Item{KindProgram, "/bin/busybox (sh)"}); err != nil {
		t.Fatal(err)
	}
	acc.Version++
	if !l.Load(acc) || l.Load(acc) {
		t.Fatal("Load: a newer version is taken once")
	}
	got = nil
	l.Observe(execEv(after.Add(time.Second), "/bin/busybox", "/bin/sh"))
	l.Observe(connectEv(after.Add(time.Second), "10.9.9.9:4444")) // not accepted: alerts again after the change
	if len(got) != 1 || !strings.Contains(got[0].Output, "egress 10.9.9.9:4444/tcp") {
		t.Fatalf("after accept: %d alerts", len(got))
	}

	// Known opens are decided without the lock, from the sets of the
	// version in force: a loaded version's writes count at once, and a
	// write it no longer holds deviates.
	edited := New(acc.Name, Limits{}, t0, time.Minute)
	edited.State, edited.Version = Monitoring, acc.Version+1
	for _, it := range []Item{{KindWrite, "/var/log/new.log"}, {KindSyscall, "openat"}} {
		if err := edited.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	if !l.Load(edited) {
		t.Fatal("Load of the edited version")
	}
	got = nil
	l.Observe(openEv(after.Add(2*time.Second), "/var/log/web.log", syscall.O_WRONLY|syscall.O_APPEND))
	for range 2 {
		l.Observe(openEv(after.Add(2*time.Second), "/var/log/new.log", syscall.O_WRONLY))
		l.Observe(openEv(after.Add(2*time.Second), "/etc/passwd", syscall.O_RDONLY))
	}
	if len(got) != 1 || !strings.Contains(got[0].Output, "write /var/log/web.log") {
		var outs []string
		for _, a := range got {
			outs = append(outs, a.Output)
		}
		t.Fatalf("after the edited version: %q, want the write to /var/log/web.log only", outs)
	}
}

// TestRateLimit: at most AlertsPerMinute alerts per profile in a burst;
// the rest are counted.
func TestRateLimit(t *testing.T) {
	n := 0
	l := NewLearner(Options{Window: time.Second, AlertsPerMinute: 3, OnDeviation: func(*alert.Alert) { n++ }})
	t0 := time.Unix(1_700_000_000, 0)
	l.Observe(execEv(t0, "/bin/app", "/bin/app"))
	l.Observe(openEv(t0, "/etc/app.conf", syscall.O_RDONLY))
	for i := range 10 {
		l.Observe(openEv(t0.Add(2*time.Second), "/etc/new"+string(rune('a'+i)), syscall.O_WRONLY))
	}
	if n != 3 || l.suppressed.Value() != 7 {
		t.Fatalf("alerts %d suppressed %d", n, l.suppressed.Value())
	}
	// A minute later the bucket is full again.
	l.Observe(openEv(t0.Add(70*time.Second), "/etc/later", syscall.O_WRONLY))
	if n != 4 {
		t.Fatalf("after refill: %d alerts", n)
	}
}

// TestLimitsCounted: a full set refuses new entries and counts them.
func TestLimitsCounted(t *testing.T) {
	l := NewLearner(Options{Window: time.Hour, Limits: Limits{Files: 4}})
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		l.Observe(openEv(t0, "/etc/f"+string(rune('a'+i)), syscall.O_RDONLY))
	}
	p := l.Profiles()[0]
	if p.Len(KindRead) != 4 || p.Overflow(KindRead) != 6 {
		t.Fatalf("reads %d overflow %d", p.Len(KindRead), p.Overflow(KindRead))
	}
}

// TestKeyByLabel: label:app keys by the pod label; without it, by image.
func TestKeyByLabel(t *testing.T) {
	k, err := ParseKeyBy("label:app")
	if err != nil {
		t.Fatal(err)
	}
	if key, _ := k.Of(web); key != "label:app=shop" {
		t.Fatalf("key %q", key)
	}
	other := *web
	other.PodLabels = nil
	if key, _ := k.Of(&other); key != "image:vigil-test/web" {
		t.Fatalf("key %q", key)
	}
	if _, ok := k.Of(&event.Container{ID: "host"}); ok {
		t.Fatal("host keyed")
	}
	if _, err := ParseKeyBy("pod"); err == nil {
		t.Fatal("bad key accepted")
	}
}

// TestMergeAndRoundTrip: the union of two replicas' profiles, version one
// more than the greater; the JSON document decodes to the same profile.
func TestMergeAndRoundTrip(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	a := New("image:web", Limits{}, t0, time.Minute)
	a.addHost("node-a")
	a.Version = 3
	b := New("image:web", Limits{}, t0.Add(-time.Minute), time.Minute)
	b.addHost("node-b")
	b.Version = 5
	b.State = Monitoring
	for _, it := range []Item{{KindProgram, "/bin/app"}, {KindEgress, "[fd00::1]:443/tcp"}, {KindCap, "CAP_CHOWN"}} {
		if err := a.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range []Item{{KindProgram, "/bin/busybox (sh)"}, {KindListen, "53/udp"}, {KindUID, "1000"}} {
		if err := b.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	a.Merge(b)
	if a.Version != 6 || a.State != Monitoring || !a.LearnStart.Equal(b.LearnStart) || strings.Join(a.Hosts, ",") != "node-a,node-b" {
		t.Fatalf("merged: v%d %s %v %v", a.Version, a.State, a.LearnStart, a.Hosts)
	}
	if !a.Contains(b) || len(Diff(b, a)) != 3 {
		t.Fatalf("merge is not the union: %v", Diff(b, a))
	}
	js, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(js, "a.json", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(a, back); len(d) != 0 || back.Version != 6 {
		t.Fatalf("round trip: %v", d)
	}
}

// TestDecodeErrors: bad documents get positioned errors, never a panic.
func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{"name": "x", "egress": ["1.2.3.4/tcp"]}`, "x.json:1:26: egress: peer"},
		{"{\n  \"name\": \"x\",\n  \"program\": [\"bin/sh\"]\n}", "x.json:3:15: program: program \"bin/sh\": not an absolute path"},
		{`{"name": "x", "colour": 1}`, "x.json:1:15: unknown key colour"},
		{`{"name": "x", "version": "two"}`, "x.json:1:"},
		{`{"name": "x",`, "x.json:1:"},
		{`{"program": []}`, "x.json:1:1: name: missing"},
		{`{"name": "x", "state": "sleeping"}`, "x.json:1:24: state"},
		{`{"name": "x", "cap": ["CAP_FLY"]}`, "x.json:1:23: cap: capability"},
	} {
		_, err := Decode([]byte(c.doc), "x.json", Limits{})
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s...", c.doc, err, c.want)
		}
	}
}

type fakeSets map[uint64]sensor.SyscallSet

func (f fakeSets) Syscalls(cg uint64) (sensor.SyscallSet, bool) { s, ok := f[cg]; return s, ok }

// TestPollSyscalls: the cgroup's syscall set joins the profile while it
// learns; a syscall added after the window is a deviation, once.
func TestPollSyscalls(t *testing.T) {
	var got []*alert.Alert
	l := NewLearner(Options{Window: time.Minute, OnDeviation: func(a *alert.Alert) { got = append(got, a) }})
	sets := fakeSets{}
	l.SetSyscallSets(sets, func(cg uint64) bool { return cg == 42 })
	t0 := time.Unix(1_700_000_000, 0)
	ev := execEv(t0, "/bin/app", "/bin/app")
	ev.CgroupID = 42
	l.Observe(ev)
	var s sensor.SyscallSet
	s[0] = 1<<0 | 1<<1 | 1<<9 // read, write, mmap
	sets[42] = s
	l.PollSyscalls(t0.Add(time.Second))
	if it := l.Profiles()[0].Items(KindSyscall); strings.Join(it, ",") != "execve,mmap,read,write" || !l.Profiles()[0].SyscallsComplete() {
		t.Fatalf("syscalls %q", it)
	}
	// A shared cgroup's set is not used.
	shared := execEv(t0, "/bin/app", "/bin/app")
	shared.CgroupID, shared.Container = 1, &event.Container{ID: "bbbbbbbbbbbb", Type: "docker", MetadataKnown: true, Repository: "other"}
	l.Observe(shared)
	sets[1] = sensor.SyscallSet{^uint64(0)}
	l.PollSyscalls(t0.Add(time.Second))
	for _, p := range l.Profiles() {
		if p.Name == "image:other" && (p.SyscallsComplete() || p.Len(KindSyscall) != 1) {
			t.Fatalf("a shared cgroup's set was used: %q", p.Items(KindSyscall))
		}
	}
	s[272/64] |= 1 << (272 % 64) // unshare
	sets[42] = s
	l.PollSyscalls(t0.Add(2 * time.Minute))
	l.PollSyscalls(t0.Add(3 * time.Minute))
	if len(got) != 1 || !strings.Contains(got[0].Output, "new syscall unshare") || got[0].Vigil.Container == nil {
		t.Fatalf("alerts %v", got)
	}
}
