package interest

import (
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/shareddata"
	defaultrules "github.com/vigilsec/vigil/rules"
)

func compile(t *testing.T, files ...rules.File) *rules.Ruleset {
	t.Helper()
	rs := rules.Compile(rules.Load(files...), nil)
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func defaults() []rules.File {
	var files []rules.File
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	return files
}

// TestDefaultRules: Vigil's default ruleset reads a few credential files
// and watches writes below /etc and binary directories; the open filter
// says exactly that, and every type a default rule can match is reported.
func TestDefaultRules(t *testing.T) {
	rs := compile(t, defaults()...)
	base := event.TypeSetOf(event.TypeClose)
	in := Of(rs, base)
	for _, r := range rs.Rules {
		if !r.Types.Minus(in.Types).Empty() {
			t.Errorf("rule %q matches %v, not all reported (%v)", r.Name, r.Types, in.Types)
		}
	}
	if !in.Types.Has(event.TypeClose) {
		t.Error("base type close not reported")
	}
	f := in.Open
	if f == nil {
		t.Fatal("no open filter for the default rules")
	}
	read := sensor.AccessRead | sensor.AccessReadWrite
	write := sensor.AccessWrite | sensor.AccessReadWrite
	for p, want := range map[string]sensor.Access{
		"/etc/shadow": read, "/etc/sudoers.d/": read, "/root/.ssh/": read, "/etc/": write, "/usr/bin/": write,
	} {
		if got := f.Prefixes[p]; got&want != want {
			t.Errorf("prefix %q: access %v, want at least %v", p, got, want)
		}
	}
	t.Logf("default open filter: %v", f)
	// Log clearing (O_TRUNC writes to *.log anywhere) wants every write;
	// no rule wants every read: a read-only open of an unlisted absolute
	// path is dropped in the kernel.
	if f.AnyPath&sensor.AccessWrite == 0 || f.AnyPath&sensor.AccessRead != 0 {
		t.Errorf("any-path access %v, want writes and not reads", f.AnyPath)
	}
	// The traversal rule (fd.nameraw contains "../" and fd.name
	// startswith /etc/) adds no read prefix: the kernel sends every path
	// holding "..". So a read of /etc/hostname is dropped in the kernel.
	if f.Prefixes["/etc/"]&sensor.AccessRead != 0 {
		t.Errorf("/etc/ wanted for reading: %v", f.Prefixes["/etc/"])
	}
	// No default rule matches close: the closes of dropped opens are
	// dropped too.
	if !f.Closes {
		t.Error("closes of dropped opens sent with the default rules")
	}
}

// TestClosesSentWhenARuleMatchesClose: a rule on close (even without
// fd.* fields) keeps every close.
func TestClosesSentWhenARuleMatchesClose(t *testing.T) {
	rs := compile(t, append(defaults(), rules.File{Name: "extra.yaml", Data: []byte(`
- rule: close by nc
  desc: d
  condition: evt.type = close and proc.name = nc
  output: x %proc.name
  priority: WARNING
`)})...)
	in := Of(rs, event.TypeSetOf(event.TypeClose))
	if in.Open == nil || in.Open.Closes {
		t.Fatalf("open filter %v: want one that keeps closes", in.Open)
	}
}

// TestFilterOffWhenFDTableNeeded: a rule that reads fd.name on fchmod
// needs every open in the fd table: no open filter.
func TestFilterOffWhenFDTableNeeded(t *testing.T) {
	rs := compile(t, append(defaults(), rules.File{Name: "extra.yaml", Data: []byte(`
- rule: fchmod of a key
  desc: d
  condition: evt.type = fchmod and fd.name startswith /etc/ssl
  output: x %fd.name
  priority: WARNING
`)})...)
	if in := Of(rs, event.TypeSet{}); in.Open != nil {
		t.Fatalf("open filter %v with a rule reading fd.name on fchmod", in.Open)
	}
}

// TestAnyPathRules: a rule on opens whose path is unconstrained (negated,
// transformed, or a suffix) wants every path for its access modes.
func TestAnyPathRules(t *testing.T) {
	for _, cond := range []string{
		`evt.type = openat and evt.is_open_read = true and not fd.name startswith /etc`,
		`evt.type = openat and evt.is_open_read = true and tolower(fd.name) startswith /etc`,
		`evt.type = openat and evt.is_open_read = true and fd.name endswith .pem`,
		`evt.type = openat and evt.is_open_read = true and (fd.name startswith /etc or proc.name = cat)`,
	} {
		rs := compile(t, rules.File{Name: "r.yaml", Data: []byte("- rule: r\n  desc: d\n  condition: " + cond + "\n  output: x\n  priority: WARNING\n")})
		in := Of(rs, event.TypeSet{})
		if in.Open == nil || in.Open.AnyPath&sensor.AccessRead == 0 {
			t.Errorf("%s: filter %v, want every read", cond, in.Open)
		}
	}
}

// TestFalcoRules: Falco's stable ruleset compiles into an interest
// covering every rule.
func TestFalcoRules(t *testing.T) {
	spec, err := rules.LoadFiles(shareddata.FalcoRules(t))
	if err != nil {
		t.Fatal(err)
	}
	rs := rules.Compile(spec, nil)
	in := Of(rs, event.TypeSet{})
	for _, r := range rs.Rules {
		if !r.Types.Minus(in.Types).Empty() {
			t.Errorf("rule %q not covered", r.Name)
		}
	}
	t.Logf("open filter with Falco's rules: %v", in.Open)
}

// TestWithProfiler: the profiler's types join the interest, and opens
// below its roots pass the filter in every access mode, next to what the
// rules asked for; a filter that was off stays off.
func TestWithProfiler(t *testing.T) {
	rs := compile(t, rules.File{Name: "r.yaml", Data: []byte(`
- rule: shadow read
  desc: t
  condition: evt.type = openat and evt.is_open_read = true and fd.name = /etc/shadow
  output: x
  priority: WARNING
`)})
	in := Of(rs, event.TypeSet{})
	types := event.TypeSetOf(event.TypeOpenat, event.TypeListen, event.TypeAccept4)
	out := With(in, types, []string{"/srv", "/etc"})
	if !out.Types.Has(event.TypeListen) || !out.Types.Has(event.TypeAccept4) || !out.Types.Minus(in.Types.Union(types)).Empty() {
		t.Fatalf("types %v", out.Types)
	}
	if out.Open == nil || out.Open.Prefixes["/srv"] != sensor.AccessAll || out.Open.Prefixes["/etc"] != sensor.AccessAll {
		t.Fatalf("filter %v", out.Open)
	}
	if in.Open.Prefixes["/srv"] != 0 {
		t.Fatal("With changed its input")
	}
	for p, a := range in.Open.Prefixes {
		if out.Open.Prefixes[p]&a != a {
			t.Errorf("prefix %s lost access %v", p, a)
		}
	}
	// Rules without opens: the filter is the profiler's alone.
	none := With(sensor.Interest{Types: event.TypeSetOf(event.TypeExecve)}, types, []string{"/srv"})
	if none.Open == nil || len(none.Open.Prefixes) != 1 || none.Open.AnyPath != 0 {
		t.Fatalf("profiler-only filter %v", none.Open)
	}
	// Filter off (every open reported): stays off.
	off := With(sensor.Interest{Types: event.TypeSetOf(event.TypeOpenat)}, types, []string{"/srv"})
	if off.Open != nil {
		t.Fatalf("filter turned on: %v", off.Open)
	}
}

// TestSequenceSteps: a sequence's earlier step on opens puts its prefix in
// the filter (the step's events must reach the engine), and a later step
// reading the step's fd.name (val(s.fd.name) on execve) reads the open's
// fd, not the exec's: the filter stays on.
func TestSequenceSteps(t *testing.T) {
	rs := compile(t, rules.File{Name: "seq.yaml", Data: []byte(`
- rule: read then exec
  desc: d
  condition: evt.type = execve and proc.exepath = val(secret.fd.name)
  sequence:
    by: process
    within: 1m
    steps:
      - as: secret
        condition: evt.type = openat and evt.is_open_read = true and fd.name startswith /opt/vigil-secret/
  output: x %secret.fd.name
  priority: WARNING
`)})
	in := Of(rs, event.TypeSet{})
	if in.Open == nil {
		t.Fatal("no open filter")
	}
	if in.Open.Prefixes["/opt/vigil-secret/"]&sensor.AccessRead == 0 {
		t.Errorf("filter %v: the step's reads below /opt/vigil-secret/ would be dropped", in.Open)
	}
}

// TestSnapOnlyForBufferRules: the sensor copies I/O buffers only for the
// I/O types of rules that read evt.buffer (in the condition or output):
// Falco's sandbox Java class download rule asks for recvfrom's; the
// default rules and Falco's stable rules ask for none.
func TestSnapOnlyForBufferRules(t *testing.T) {
	java := rules.File{Name: "java.yaml", Data: []byte(`
- macro: java_network_read
  condition: (evt.type=recvfrom and fd.type in (ipv4, ipv6) and proc.exe endswith java)
- rule: Java Process Class File Download
  desc: d
  condition: java_network_read and evt.buffer bcontains cafebabe
  output: Java process class file download (server_ip=%fd.sip)
  priority: CRITICAL
- rule: Print sent data
  desc: d
  condition: evt.type = sendto and proc.name = curl
  output: sent (data=%evt.buffer)
  priority: INFO
`)}
	in := Of(compile(t, java), event.TypeSet{})
	if want := event.TypeSetOf(event.TypeRecvfrom, event.TypeSendto); in.Snap != want {
		t.Errorf("snap %v, want recvfrom and sendto", in.Snap.Types())
	}
	if in := Of(compile(t, defaults()...), event.TypeSet{}); !in.Snap.Empty() {
		t.Errorf("default rules: snap %v, want none", in.Snap.Types())
	}
}

func ruleFile(text string) rules.File { return rules.File{Name: "r.yaml", Data: []byte(text)} }

// TestConnectFamilies: connects are filtered by the socket families the
// rules name; a rule that names none, a negation, or a rule reading fd.*
// of another type of the same socket turns the filter off.
func TestConnectFamilies(t *testing.T) {
	const inet = `
- rule: miner port
  desc: d
  condition: evt.type = connect and fd.typechar = 4 and fd.sport in (3333, 4444)
  output: x %fd.name
  priority: WARNING
- rule: metadata
  desc: d
  condition: evt.type = connect and fd.sip in (169.254.169.254)
  output: x %fd.name
  priority: WARNING
`
	for _, c := range []struct {
		name  string
		rules string
		want  sensor.Families
	}{
		{"IPv4 only (an IPv6 socket may connect to a mapped IPv4 address)", inet, sensor.FamilyInet | sensor.FamilyInet6},
		{"IPv6 and unix", `
- rule: r
  desc: d
  condition: evt.type = connect and (fd.typechar = 6 or fd.type = unix)
  output: x
  priority: WARNING
`, sensor.FamilyInet6 | sensor.FamilyUnix},
		{"tcp", `
- rule: r
  desc: d
  condition: evt.type in (connect, accept) and fd.l4proto = tcp and fd.snet in (10.0.0.0/8)
  output: x
  priority: WARNING
`, sensor.FamilyInet | sensor.FamilyInet6},
		{"a refused-connect threshold names no family: every connect", inet + `
- rule: scan
  desc: d
  condition: evt.type = connect and evt.res = ECONNREFUSED
  output: x %fd.name
  priority: WARNING
`, 0},
		{"negation: every connect", `
- rule: r
  desc: d
  condition: evt.type = connect and not fd.typechar = u
  output: x
  priority: WARNING
`, 0},
		{"fd.name of a send reads what the connect described: every connect", inet + `
- rule: send
  desc: d
  condition: evt.type = sendto and fd.name contains 10.
  output: x
  priority: WARNING
`, 0},
		{"no connect rule: every connect (the process table's)", `
- rule: r
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: x
  priority: WARNING
`, 0},
	} {
		rs := compile(t, ruleFile(c.rules))
		if got := Of(rs, event.TypeSetOf(event.TypeConnect)).Connects; got != c.want {
			t.Errorf("%s: connects %v, want %v", c.name, got, c.want)
		}
	}
	// A profiler takes every connect.
	in := Of(compile(t, ruleFile(inet)), event.TypeSet{})
	if out := With(in, event.TypeSetOf(event.TypeConnect), nil); out.Connects != 0 {
		t.Errorf("with a profiler taking connects: %v", out.Connects)
	}
	if out := With(in, event.TypeSetOf(event.TypeOpenat), nil); out.Connects != in.Connects {
		t.Errorf("with a profiler taking opens only: %v, want %v", out.Connects, in.Connects)
	}
	// The default rules: a threshold on refused connects of any family
	// and the stdio rule reading fd.* on dup2 need every connect.
	if got := Of(compile(t, defaults()...), event.TypeSet{}).Connects; got != 0 {
		t.Errorf("default rules: connects %v, want every connect", got)
	}
}

// TestIOTypesOnlyWhenAsked: Vigil's default rules with Falco's stable ones
// leave the read/write family off (their hooks stay detached, so the
// flood benchmarks see no cost); a rule on write that reads evt.buffer
// turns on write alone, with its buffer.
func TestIOTypesOnlyWhenAsked(t *testing.T) {
	falco, err := rules.LoadFiles(shareddata.FalcoRules(t))
	if err != nil {
		t.Fatal(err)
	}
	def := rules.Load(defaults()...)
	for _, rs := range []*rules.Ruleset{rules.Compile(falco, nil), rules.Compile(def, nil)} {
		in := Of(rs, event.TypeSet{})
		if io := in.Types.Intersect(event.IOTypes); !io.Empty() {
			t.Errorf("read/write types on: %v", io.Types())
		}
		if !in.Snap.Intersect(event.IOTypes).Empty() {
			t.Errorf("read/write buffers on: %v", in.Snap.Types())
		}
	}
	w := rules.File{Name: "w.yaml", Data: []byte(`
- rule: Secret written
  desc: d
  condition: evt.type = write and evt.buffer contains SECRET
  output: w (data=%evt.arg.data)
  priority: INFO
`)}
	in := Of(compile(t, w), event.TypeSet{})
	if got := in.Types.Intersect(event.IOTypes); got != event.TypeSetOf(event.TypeWrite) {
		t.Errorf("types %v, want write", got.Types())
	}
	if in.Snap != event.TypeSetOf(event.TypeWrite) {
		t.Errorf("snap %v, want write", in.Snap.Types())
	}
}
