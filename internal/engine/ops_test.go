package engine

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
	"github.com/vigilsec/vigil/internal/rules"
)

// compileRule compiles one rule with the given condition, after the extra
// YAML (lists and macros).
func compileRule(t *testing.T, extra, cond string) (*rules.Ruleset, error) {
	t.Helper()
	q, _ := json.Marshal(cond)
	y := extra + "\n- rule: r\n  desc: d\n  condition: " + string(q) + "\n  output: o %proc.name\n  priority: INFO\n"
	hosts := hostnames.New(&hostnames.Options{Lookup: hostnames.StaticLookup(map[string][]netip.Addr{
		"api.example.com": {netip.MustParseAddr("93.184.216.34")}, "client.example": {netip.MustParseAddr("10.0.0.5")}})})
	rs := rules.LoadAndCompile(&rules.CompileOptions{Hosts: hosts}, rules.File{Name: "t.yaml", Data: []byte(y)})
	hosts.Wait()
	return rs, rs.Err()
}

// richEvent: `cat -n /etc/shadow` (child of bash < sshd < systemd) opening
// /etc/shadow read-only in a Kubernetes container.
func richEvent() *event.Event {
	systemd := &event.Process{PID: 1, Comm: "systemd", Exe: "/sbin/init", ExePath: "/usr/lib/systemd/systemd"}
	sshd := &event.Process{PID: 10, PPID: 1, Comm: "sshd", Exe: "sshd", ExePath: "/usr/sbin/sshd", Parent: systemd}
	bash := &event.Process{PID: 20, PPID: 10, Comm: "bash", Exe: "-bash", ExePath: "/usr/bin/bash", Parent: sshd}
	cat := &event.Process{PID: 30, PPID: 20, Comm: "cat", Exe: "cat", ExePath: "/usr/bin/cat",
		Args: []string{"-n", "/etc/shadow"}, Cwd: "/root", Parent: bash, StartTime: 1}
	c := container()
	c.PodName, c.PodNamespace, c.PodUID = "web-0", "prod", "uid-1"
	c.PodLabels = map[string]string{"app": "web", "tier": "front"}
	c.Labels = map[string]string{"enc": "aGVsbG8="}
	c.Mounts = []event.Mount{{Source: "/var/run/docker.sock", Destination: "/run/docker.sock", Mode: "", RW: true, Propagation: "rprivate"}}
	return &event.Event{Type: event.TypeOpenat, Time: 1_700_000_000_000_000_000, PID: 30, TID: 30, Comm: "cat",
		LoginUID: event.NoLoginUID, Ret: 3, FD: -1, DirFD: event.AtFDCWD, Path: "/etc/shadow", Flags: 0o2000000,
		Proc: cat, Container: c,
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDFile, Name: "/etc/shadow", NameRaw: "/etc/shadow", Flags: 0o2000000}}
}

const testLists = `
- list: readers
  items: [ls, cat]
- list: more_readers
  items: [readers, less]
- list: quoted
  items: ['"c a t"', '"cat"']
`

func TestOperators(t *testing.T) {
	cases := []struct {
		cond string
		want bool
	}{
		{"proc.name = cat", true},
		{"proc.name == cat", true},
		{"proc.name != cat", false},
		{"proc.name != bash", true},
		{"fd.num < 4", true},
		{"fd.num <= 3", true},
		{"fd.num > 3", false},
		{"fd.num >= 3", true},
		{"fd.num = 0x3", true},
		{"fd.num in (1, 2, 3)", true},
		{"fd.num intersects (5, 6)", false},
		{"fd.name contains shad", true},
		{"fd.name contains passwd", false},
		{"proc.cmdline icontains 'ETC/SHA'", true},
		{"fd.name bcontains 736861646f77", true},
		{"fd.name bstartswith 2f657463", true},
		{"fd.name bstartswith 2f757372", false},
		{"fd.name startswith /etc/", true},
		{"fd.name endswith dow", true},
		{"fd.name glob '/etc/*'", true},
		{"fd.name glob '/e?c/[s]hadow'", true},
		{"fd.name glob '/e?c/[!s]hadow'", false},
		{"fd.name glob '/etc/*/x'", false},
		{"fd.name iglob '/ETC/SH*'", true},
		{"fd.name regex '/etc/s.*'", true},
		{"fd.name regex 'shadow'", false}, // full match only
		{"proc.name in (ls, cat)", true},
		{"proc.name in (readers)", true},
		{"proc.name in (more_readers)", true}, // nested list
		{"proc.name in ('readers')", false},   // quoted: not a list name
		{"proc.name in (quoted)", true},       // '"cat"' unquotes to cat
		{"proc.name in ()", false},
		{"k8s.pod.labels intersects ('app:web', 'x:y')", true},
		{"k8s.pod.labels in ('app:web', 'tier:front', 'other:1')", true},
		{"k8s.pod.labels in ('app:web')", false}, // tier:front is not in the set
		{"fd.name pmatch (/etc, /usr)", true},
		{"fd.name pmatch (/et)", false},
		{"fd.name pmatch (/e*)", true},
		{"fd.directory pmatch (/etc/shadow)", false},
		{"proc.pname exists", true},
		{"proc.aname[9] exists", false},
		{"k8s.ns.name exists", true},
		{"proc.name startswith anyof (ca, xx)", true},
		{"proc.name startswith oneof (xx, yy)", false},
		{"proc.name startswith oneof (ca, xx)", true},
		{"proc.name startswith oneof (ca, c, xx)", false}, // two match: not exactly one
		{"proc.name contains oneof (a, t)", false},
		{"proc.name contains oneof (a, z)", true},
		{"fd.name contains allof (etc, shadow)", true},
		{"fd.name contains allof (etc, passwd)", false},
		{"tolower(proc.exe) = cat", true},
		{"toupper(proc.name) = CAT", true},
		{"basename(fd.name) = shadow", true},
		{"basename(fd.directory) = etc", true},
		{"len(fd.name) = 11", true},
		{"len(k8s.pod.labels) = 2", true},
		{"b64(container.label[enc]) = hello", true},
		{"toupper(basename(fd.name)) = SHADOW", true},
		{"proc.name = val(proc.exe)", true},
		{"proc.name = val(proc.pname)", false},
		{"tolower(proc.name) = tolower(proc.exe)", true},
		{"proc.name != val(proc.pname)", true},
		{"proc.aname = bash", true},
		{"proc.aname = cat", false}, // never the process itself
		{"proc.aname[0] = cat", true},
		{"proc.aname[2] = sshd", true},
		{"proc.aname in (systemd)", true},
		{"proc.aname != bash", true}, // some ancestor differs
		{"not proc.aname = nginx", true},
		{"proc.aexepath endswith /sshd", true},
		{"proc.apid[3] = 1", true},
		{"proc.aname[9] = x", false},
		{"proc.aname[9] != x", false}, // missing: even != is false
		{"not proc.aname[9] = x", true},
		{"proc.sname != x", false},
		{"evt.arg.flags contains O_RDONLY", true},
		{"evt.arg.flags = 'O_RDONLY|O_CLOEXEC'", true},
		{"evt.arg[2] = /etc/shadow", true},
		{"evt.arg.name = /etc/shadow", true},
		{"evt.arg.dirfd = AT_FDCWD", true},
		{"evt.arg.request exists", false}, // openat has no request argument
		{"evt.arg.request != x", false},
		{"container.mount.dest[/var/run/docker.sock] = /run/docker.sock", true},
		{"container.mount.source[/run/docker.sock] = /var/run/docker.sock", true},
		{"container.mount.dest[0] = /run/docker.sock", true},
		{"k8s.pod.label[app] = web", true},
		{"k8s.pod.label.app = web", true},
		{"k8s.pod.label[nope] exists", false},
		{`proc.cmdline = "cat -n /etc/shadow"`, true},
		{`proc.name = 'c\x61t'`, true},
		{`proc.name = "ca\"t"`, false},
		{"evt.res = SUCCESS", true},
		{"evt.rawres = 3", true},
		{"evt.is_open_read = true", true},
		{"evt.is_open_write = false", true},
		{"user.name = root", true},
		{"user.loginuid = -1", true},
		{"user.loginname = '<NA>'", true},
		{"proc.cwd = /root/", true},
		{"container.id != host", true},
		{"container.image.repository = docker.io/library/nginx", true},
		{"container.privileged = false", true},
		{"thread.cap_effective = ''", true},
		{"evt.type = openat and evt.dir = '<'", true},
		{"evt.type in (open, openat)", true},
		{"evt.type != openat", false},
		{"proc.name = cat or proc.name = ls and proc.name = ls", true}, // and binds tighter
		{"not proc.name = ls and proc.name = cat", true},
		{"not (proc.name = ls or proc.name = cat)", false},
		{"(((proc.name = cat)))", true},
		{"proc.name=cat and(fd.num=3)", true},
		{"evt.num > 0", true},
	}
	for _, c := range cases {
		t.Run(c.cond, func(t *testing.T) {
			rs, err := compileRule(t, testLists, c.cond)
			if err != nil {
				t.Fatal(err)
			}
			e := New(rs, &Options{Users: staticUsers{}})
			if got := e.Evaluate(richEvent(), nil) == 1; got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func netEvent(client, server string, cport, sport uint16, typ event.Type) *event.Event {
	ev := richEvent()
	ev.Type, ev.FD, ev.Ret = typ, 4, 0
	ev.FDInfo = &event.FDInfo{Num: 4, Type: event.FDIPv4, L4Proto: "tcp", Connected: true,
		Client: event.SockAddr{Family: 2, IP: netip.MustParseAddr(client), Port: cport},
		Server: event.SockAddr{Family: 2, IP: netip.MustParseAddr(server), Port: sport},
		Name:   client + ":" + itoa(int(cport)) + "->" + server + ":" + itoa(int(sport))}
	return ev
}

func TestNetworkFields(t *testing.T) {
	out := netEvent("10.0.0.5", "93.184.216.34", 40000, 443, event.TypeConnect)
	in := netEvent("93.184.216.34", "10.0.0.5", 40000, 22, event.TypeAccept4)
	cases := []struct {
		cond string
		ev   *event.Event
		want bool
	}{
		{"fd.ip = 10.0.0.5", out, true},
		{"fd.ip = 93.184.216.34", out, true},
		{"fd.ip != 10.0.0.5", out, false}, // neither endpoint may match
		{"fd.ip != 1.1.1.1", out, true},
		{"fd.ip in (1.1.1.1, 93.184.216.34)", out, true},
		{"fd.net = 10.0.0.0/8", out, true},
		{"fd.net != 10.0.0.0/8", out, false},
		{"fd.net != 127.0.0.0/8", out, true},
		{"fd.snet in ('10.0.0.0/8', '192.168.0.0/16')", out, false},
		{"fd.cnet = 10.0.0.0/8", out, true},
		{"fd.port = 443 and fd.port = 40000 and fd.port in (1, 443)", out, true},
		{"fd.port = 22", out, false},
		{"fd.port != 443", out, false},
		{"fd.port != 22", out, true},
		{"fd.rnet = 93.184.0.0/16 and fd.lnet = 10.0.0.0/8", out, true},
		{"fd.rnet = 10.0.0.0/8", out, false},
		{"fd.sockfamily = ip", out, true},
		{"fd.sip = 93.184.216.34", out, true},
		{"fd.cip = 10.0.0.5", out, true},
		{"fd.sport = 443", out, true},
		{"fd.lport = 40000 and fd.rport = 443", out, true},
		{"fd.lport = 22 and fd.rport = 40000", in, true},
		{"fd.l4proto = tcp", out, true},
		{"fd.typechar = 4 and fd.type = ipv4", out, true},
		{"fd.connected = true", out, true},
		{"fd.name = 10.0.0.5:40000->93.184.216.34:443", out, true},
		{"fd.sip.name = api.example.com", out, true},
		{"fd.sip.name = unresolvable.invalid", out, false},
		{"fd.sip.name != unresolvable.invalid", out, true},
		{"fd.sip.name in (unresolvable.invalid, api.example.com)", out, true},
		{"fd.cip.name = client.example", out, true},
		{"fd.cip.name = api.example.com", out, false},
		{"fd.rip.name = api.example.com and fd.lip.name = client.example", out, true},
		{"fd.filename exists", out, false},
		{"fd.directory exists", out, false},
		{"fd.nameraw exists", out, true},
	}
	for _, c := range cases {
		t.Run(c.cond, func(t *testing.T) {
			rs, err := compileRule(t, "", c.cond)
			if err != nil {
				t.Fatal(err)
			}
			e := New(rs, &Options{Users: staticUsers{}})
			if got := e.Evaluate(c.ev, nil) == 1; got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestMissingFdOnExec(t *testing.T) {
	ev := execEvent("bash", []string{"-c", "id"}, shellParent())
	for _, cond := range []string{"fd.num exists", "fd.typechar exists", "fd.name != x", "fd.num != 3"} {
		rs, err := compileRule(t, "", cond)
		if err != nil {
			t.Fatal(err)
		}
		if New(rs, nil).Evaluate(ev, nil) != 0 {
			t.Errorf("%s matched an execve (fd.* must have no value)", cond)
		}
	}
}

func TestFailedOpenFields(t *testing.T) {
	ev := richEvent()
	ev.Ret, ev.FDInfo, ev.Path = -2, nil, "../etc/./shadow"
	ev.Proc.Cwd = "/root/x"
	for cond, want := range map[string]bool{
		"fd.num = -1":                        true,
		"fd.typechar = f":                    true,
		"fd.name = /root/etc/shadow":         true,
		"fd.directory = /root/etc":           true,
		"fd.filename exists":                 false,
		"fd.nameraw = '../etc/./shadow'":     true,
		"evt.res = ENOENT":                   true,
		"evt.rawres = -2":                    true,
		"evt.res startswith E":               true,
		"evt.is_open_read = true":            true, // regardless of success
		"fd.type exists":                     false,
		"evt.arg.name = /root/etc/shadow":    true,
		"evt.arg.fd = ENOENT":                true,
		"evt.args contains 'name=/root/etc'": true,
	} {
		rs, err := compileRule(t, "", cond)
		if err != nil {
			t.Fatal(err)
		}
		if got := New(rs, nil).Evaluate(ev, nil) == 1; got != want {
			t.Errorf("%s: got %v, want %v", cond, got, want)
		}
	}
	// A failed open() (not openat) gives typechar o.
	ev.Type = event.TypeOpen
	rs, _ := compileRule(t, "", "fd.typechar = o")
	if New(rs, nil).Evaluate(ev, nil) != 1 {
		t.Error("failed open(): fd.typechar != o")
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct{ cond, want string }{
		{"proc.nme = cat", `unknown field "proc.nme"`},
		{"proc.name = ", "expected a value"},
		{"(proc.name = cat", "expected ')'"},
		{"proc.name < cat", "not supported for string field"},
		{"fd.num = abc", "is not a number"},
		{"fd.num contains 1", "not supported for numeric field"},
		{"fd.name regex '('", "invalid regular expression"},
		{"undefined_macro", `undefined macro "undefined_macro"`},
		{"proc.name", "used without an operator"},
		{"evt.arg.nosucharg = 1", "unknown event argument"},
		{"evt.arg = 1", "evt.arg requires an argument"},
		{"tolower(fd.num) = 1", "needs a string field"},
		{"proc.name = val(fd.num)", "has type"},
		{"fd.ip contains 1", "not supported"},
		{"fd.ip = notanip", "not an IP address"},
		{"fd.net = 300.0.0.0/8", "not a network"},
		{"container.privileged = maybe", "not a boolean"},
		{"proc.name in (a, b", "unterminated list"},
		{"proc.name = 'abc", "unterminated quoted string"},
		{"proc.name = cat and", "unexpected end of condition"},
		{"proc.name = cat cat", "unexpected"},
		{"fd.name bcontains zz", "not a hex byte string"},
		{"k8s.pod.label = x", "requires an argument"},
		{"proc.name[2] = x", "takes no argument"},
		{"k8s.pod.labels = x", "list field"},
		{"fd.sip.name contains x", "supports only"},
		{strings.Repeat("(", 500) + "proc.name = cat" + strings.Repeat(")", 500), "nested too deeply"},
		{strings.Repeat("not ", 500) + "proc.name = cat", "nested too deeply"},
	}
	for _, c := range cases {
		t.Run(c.cond[:min(len(c.cond), 40)], func(t *testing.T) {
			_, err := compileRule(t, "", c.cond)
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "t.yaml:") {
				t.Fatalf("error %q has no position", err)
			}
		})
	}
}

func TestOutputFormatting(t *testing.T) {
	y := `
- rule: r
  desc: d
  condition: evt.type = openat
  output: "f=%fd.name n=%proc.name a=%proc.aname g=%proc.aname[2] x=%proc.aname[7] flags=%evt.arg.flags pct=100%% up=%toupper(proc.name) end=%fd.name."
  priority: CRITICAL
  tags: [a, b]
`
	rs := rules.LoadAndCompile(nil, rules.File{Name: "o.yaml", Data: []byte(y)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	e := New(rs, &Options{Hostname: "h"})
	ev := richEvent()
	ev.FDInfo.Name = "/tmp/evil\nname\x1b[31m"
	var m *Match
	e.Evaluate(ev, func(x *Match) { m = x })
	if m == nil {
		t.Fatal("no match")
	}
	want := `f=/tmp/evil\nname\x1b[31m n=cat a=bash sshd systemd g=sshd x=<NA> flags=O_RDONLY|O_CLOEXEC pct=100% up=CAT end=/tmp/evil\nname\x1b[31m.`
	if m.Output != want {
		t.Fatalf("output\n got %q\nwant %q", m.Output, want)
	}
	if m.Rule.Priority != rules.PriorityCritical || strings.Join(m.Rule.Tags, ",") != "a,b" || m.Hostname != "h" {
		t.Fatalf("match %+v", m)
	}
	names := []string{}
	for _, f := range m.Fields {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "fd.name,proc.name,proc.aname,proc.aname[2],proc.aname[7],evt.arg.flags,toupper(proc.name)" {
		t.Fatalf("fields %s", got)
	}
	if m.Fields[0].Value != "/tmp/evil\nname\x1b[31m" || m.Fields[4].Value != nil {
		t.Fatalf("values %#v", m.Fields)
	}
	// Output fields that are filter-only or unknown are errors.
	for _, out := range []string{"%fd.ip", "%no.such"} {
		bad := strings.Replace(y, `"f=%fd.name`, `"`+out+` f=%fd.name`, 1)
		rs := rules.LoadAndCompile(nil, rules.File{Name: "o.yaml", Data: []byte(bad)})
		if rs.Err() == nil {
			t.Errorf("output %s compiled", out)
		}
	}
}

func TestMatchFirstAndSwap(t *testing.T) {
	y := `
- rule: one
  desc: d
  condition: proc.name = cat
  output: one
  priority: INFO
- rule: two
  desc: d
  condition: fd.name = /etc/shadow
  output: two
  priority: INFO
- rule: net
  desc: d
  condition: evt.type = connect
  output: net
  priority: INFO
`
	rs := rules.LoadAndCompile(nil, rules.File{Name: "m.yaml", Data: []byte(y)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if n := New(rs, nil).Evaluate(richEvent(), nil); n != 2 {
		t.Fatalf("MatchAll: %d matches", n)
	}
	e := New(rs, &Options{Mode: MatchFirst})
	var got []string
	e.Evaluate(richEvent(), func(m *Match) { got = append(got, m.Rule.Name) })
	if strings.Join(got, ",") != "one" {
		t.Fatalf("MatchFirst: %v", got)
	}
	// Rules that constrain evt.type run only for those types.
	if r := e.RulesFor(event.TypeOpenat); len(r) != 2 {
		t.Fatalf("openat runs %d rules", len(r))
	}
	if r := e.RulesFor(event.TypeConnect); len(r) != 3 {
		t.Fatalf("connect runs %d rules", len(r))
	}
	old := e.Swap(nil)
	if old != rs || e.Evaluate(richEvent(), nil) != 0 {
		t.Fatal("Swap(nil) did not remove the rules")
	}
	e.Swap(rs)
	if e.Evaluate(richEvent(), nil) != 1 {
		t.Fatal("Swap back failed")
	}
}

func TestExceptions(t *testing.T) {
	y := `
- list: trusted_dirs
  items: [/etc, /usr]
- rule: r
  desc: d
  condition: evt.type = openat and fd.name startswith /
  output: o
  priority: INFO
  exceptions:
    - name: proc_dir
      fields: [proc.name, fd.directory]
      comps: [=, in]
      values:
        - [vim, trusted_dirs]
        - [cat, [/tmp, /etc]]
    - name: parents
      fields: proc.pname
      values: [sshd, cron]
    - name: prefix
      fields: [fd.name]
      comps: [startswith]
      values: [[/proc/]]
    - name: unused
      fields: [proc.name]
`
	rs := rules.LoadAndCompile(nil, rules.File{Name: "e.yaml", Data: []byte(y)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	e := New(rs, &Options{Users: staticUsers{}})
	mk := func(comm, pname, file string) *event.Event {
		ev := richEvent()
		ev.Proc.Comm = comm
		ev.Proc.Parent.Comm = pname
		ev.FDInfo.Name = file
		return ev
	}
	cases := []struct {
		comm, pname, file string
		want              bool
	}{
		{"cat", "bash", "/etc/shadow", false}, // proc_dir row 2 (inline list)
		{"cat", "bash", "/tmp/x", false},
		{"cat", "bash", "/usr/x", true},
		{"vim", "bash", "/usr/x", false}, // row 1: list name in values
		{"vim", "bash", "/home/x", true},
		{"ls", "sshd", "/home/x", false}, // single-field form: pname in (sshd, cron)
		{"ls", "cron", "/home/x", false},
		{"ls", "bash", "/proc/1/status", false},
		{"ls", "bash", "/home/x", true},
	}
	for _, c := range cases {
		if got := e.Evaluate(mk(c.comm, c.pname, c.file), nil) == 1; got != c.want {
			t.Errorf("%s (parent %s) %s: got %v, want %v", c.comm, c.pname, c.file, got, c.want)
		}
	}
}

// TestSwapWhileEvaluating swaps rulesets from another goroutine while
// events are evaluated (run with -race to check the handoff).
func TestSwapWhileEvaluating(t *testing.T) {
	a, err := compileRule(t, "", "proc.name = cat")
	if err != nil {
		t.Fatal(err)
	}
	b, err := compileRule(t, "", "proc.name = nope")
	if err != nil {
		t.Fatal(err)
	}
	e := New(a, &Options{Users: staticUsers{}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			if i%2 == 0 {
				e.Swap(b)
			} else {
				e.Swap(a)
			}
		}
	}()
	ev := richEvent()
	for {
		select {
		case <-done:
			e.Swap(a)
			if e.Evaluate(ev, nil) != 1 {
				t.Fatal("final ruleset not in effect")
			}
			return
		default:
			if n := e.Evaluate(ev, nil); n > 1 {
				t.Fatalf("%d matches", n)
			}
		}
	}
}

func TestMinPriorityAndBadEvents(t *testing.T) {
	y := `
- rule: loud
  desc: d
  condition: evt.type = openat
  output: o
  priority: DEBUG
- rule: important
  desc: d
  condition: evt.type = openat
  output: o
  priority: ERROR
`
	p := rules.PriorityWarning
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &p}, rules.File{Name: "p.yaml", Data: []byte(y)})
	if rs.Err() != nil || len(rs.Rules) != 1 || rs.Rules[0].Name != "important" {
		t.Fatalf("%v %d", rs.Err(), len(rs.Rules))
	}
	e := New(rs, nil)
	// Out-of-range types and empty events never panic and match nothing.
	for _, ev := range []*event.Event{{Type: 9999}, {}, {Type: event.TypeOpenat}} {
		e.Evaluate(ev, nil)
	}
	if n := e.Evaluate(&event.Event{Type: event.TypeOpenat}, nil); n != 1 {
		t.Fatalf("bare openat: %d", n)
	}
}

// TestEveryFieldOnEveryEventType formats every field of each source on
// empty and rich events of every type of the source: no extractor may
// panic on missing enrichment or a missing audit payload.
func TestEveryFieldOnEveryEventType(t *testing.T) {
	var p fastjson.Parser
	auditDoc, err := p.Parse(`{"kind":"Event","verb":"create","user":{"username":"u","groups":["g"]},"objectRef":{"resource":"pods"},` +
		`"requestObject":{"spec":{"containers":[{"image":"nginx:1","securityContext":{"privileged":true},"ports":[{"containerPort":80}]}],"volumes":[{"name":"v","hostPath":{"path":"/"}}]},"rules":[{"verbs":["get"]}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{event.SourceSyscall, event.SourceK8sAudit} {
		var out, cond []string
		for _, f := range event.Fields() {
			if f.Source != src && f.Source != event.SourceAny {
				continue
			}
			tok := f.Name
			switch f.Arg {
			case event.ArgIndexOptional, event.ArgIndexOrKey:
				tok += "[0]"
			case event.ArgKeyRequired:
				tok += "[app]"
			case event.ArgEvtArg:
				tok = f.Name + ".fd"
			}
			if !f.FilterOnly {
				out = append(out, tok+"=%"+tok)
			}
			if f.Multi != event.MultiList {
				cond = append(cond, tok+" exists")
			}
		}
		q, _ := json.Marshal(strings.Join(out, " "))
		y := "- rule: all\n  desc: d\n  condition: " + strings.Join(cond, " or ") + " or evt.num > 0\n  output: " + string(q) + "\n  priority: INFO\n  source: " + src + "\n"
		rs := rules.LoadAndCompile(&rules.CompileOptions{Hosts: hostnames.New(&hostnames.Options{Lookup: hostnames.StaticLookup(nil)})}, rules.File{Name: "all.yaml", Data: []byte(y)})
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		e := New(rs, &Options{Users: staticUsers{}})
		for _, ty := range event.SourceTypes(src).Types() {
			rich := richEvent()
			rich.Type = ty
			rich.Audit = &event.Audit{V: auditDoc}
			for _, ev := range []*event.Event{{Type: ty}, rich} {
				n := e.Evaluate(ev, func(m *Match) {
					if len(m.Fields) != len(out) {
						t.Fatalf("%v: %d fields", ty, len(m.Fields))
					}
				})
				if n != 1 {
					t.Fatalf("%v: rule did not match", ty)
				}
			}
		}
	}
}

func TestAppendOutput(t *testing.T) {
	y := "- rule: r\n  desc: d\n  condition: evt.type = openat\n  output: file=%fd.name\n  priority: INFO\n"
	rs := rules.LoadAndCompile(&rules.CompileOptions{AppendOutput: "container_id=%container.id container_name=%container.name"},
		rules.File{Name: "a.yaml", Data: []byte(y)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	var m *Match
	New(rs, nil).Evaluate(richEvent(), func(x *Match) { m = x })
	if m == nil || m.Output != "file=/etc/shadow container_id=0123456789ab container_name=web" || len(m.Fields) != 3 {
		t.Fatalf("%+v", m)
	}
}

// TestDerivedFields: the fields computed from data the event already has.
func TestDerivedFields(t *testing.T) {
	ev := richEvent()
	for cond, want := range map[string]bool{
		"evt.rawtime.s = 1700000000 and evt.rawtime.ns = 0":                                             true,
		"evt.source = syscall and evt.is_async = false":                                                 true,
		"proc.cmdnargs = 2 and proc.cmdlenargs = 13":                                                    true,
		"proc.exeline = 'cat -n /etc/shadow'":                                                           true,
		"proc.pid.ts = 1 and thread.ismain = true":                                                      true,
		"fd.containername = '0123456789ab:/etc/shadow' and fd.containerdirectory = '0123456789ab:/etc'": true,
		"evt.datetime startswith '2023-11-1' and evt.time.s exists":                                     true,
		"proc.ppid.ts exists":                                                                           false, // bash's start time is unknown
	} {
		rs, err := compileRule(t, "", cond)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if got := New(rs, &Options{Users: staticUsers{}}).Evaluate(ev, nil) == 1; got != want {
			t.Errorf("%s: %v, want %v", cond, got, want)
		}
	}
}

// TestChmodModeFlagNames: a chmod mode renders as Falco's mode flag names,
// so the upstream `evt.arg.mode contains "S_ISUID"` matches a setuid chmod.
func TestChmodModeFlagNames(t *testing.T) {
	ev := richEvent()
	ev.Type, ev.Mode, ev.Path = event.TypeFchmodat, 0o4755, "/tmp/x"
	for cond, want := range map[string]bool{
		`evt.arg.mode = "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"`: true,
		`evt.arg.mode contains "S_ISUID" and evt.arg.mode contains "S_IXUSR"`:              true,
		`evt.arg.mode contains "S_ISGID"`:                                                  false,
	} {
		rs, err := compileRule(t, "", "evt.type = fchmodat and "+cond)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if got := New(rs, &Options{Users: staticUsers{}}).Evaluate(ev, nil) == 1; got != want {
			t.Errorf("%s: %v, want %v", cond, got, want)
		}
	}
}

// TestIOSessionAndHealthcheckFields: evt.is_io*, evt.io_dir, evt.buflen
// on the I/O calls, evt.type.is, proc.loginshellid (the oldest shell
// above), proc.aenv (ancestors' environments, nearest first) and
// proc.is_container_healthcheck (the runtime's run of the configured
// health check and its children).
func TestIOSessionAndHealthcheckFields(t *testing.T) {
	open := richEvent()
	bash := open.Proc.Parent
	bash.Env = []string{"HOME=/root", "SHELL=/bin/bash"}
	bash.Parent.Env = []string{"HOME=/var/empty", "LANG=C"}
	recv := richEvent()
	recv.Type, recv.Ret = event.TypeRecvfrom, 12
	send := richEvent()
	send.Type, send.Ret = event.TypeSendmsg, 7
	failed := richEvent()
	failed.Type, failed.Ret = event.TypeRecvmsg, -11
	hc := richEvent()
	hc.Container.Healthcheck = "/bin/sh -c curl -f http://localhost/"
	runtime := &event.Process{PID: 40, Comm: "runc", Exe: "runc"}
	check := &event.Process{PID: 41, PPID: 40, Comm: "sh", Exe: "/bin/sh", Args: []string{"-c", "curl -f http://localhost/"}, Parent: runtime, IDs: event.NSIDs{VPID: 9}}
	curl := &event.Process{PID: 42, PPID: 41, Comm: "curl", Exe: "curl", Args: []string{"-f", "http://localhost/"}, Parent: check, IDs: event.NSIDs{VPID: 10}}
	hc.Proc = curl
	for _, c := range []struct {
		ev   *event.Event
		cond string
		want bool
	}{
		{recv, "evt.is_io = true and evt.is_io_read = true and evt.is_io_write = false and evt.io_dir = r and evt.buflen = 12", true},
		{send, "evt.is_io = true and evt.is_io_write = true and evt.io_dir = w and evt.buflen = 7", true},
		{failed, "evt.is_io = true and evt.buflen exists", false},
		{open, "evt.is_io = false and evt.is_io_read = false and not evt.io_dir exists and not evt.buflen exists", true},
		{open, "evt.type.is.openat = 1 and evt.type.is.execve = 0 and evt.type.is[openat] = 1", true},
		{open, "proc.loginshellid = 20", true},
		{open, "proc.aenv[HOME] = /root and proc.aenv[LANG] = C and proc.aenv contains 'SHELL=/bin/bash' and proc.aenv contains 'LANG=C'", true},
		{open, "proc.aenv[PATH] exists", false},
		{hc, "proc.is_container_healthcheck = true", true},
		{open, "proc.is_container_healthcheck = true", false},
	} {
		rs, err := compileRule(t, "", c.cond)
		if err != nil {
			t.Fatalf("%s: %v", c.cond, err)
		}
		if got := New(rs, &Options{Users: staticUsers{}}).Evaluate(c.ev, nil) == 1; got != c.want {
			t.Errorf("%v %s: %v, want %v", c.ev.Type, c.cond, got, c.want)
		}
	}
}

// TestBufferField: evt.buffer holds the captured I/O bytes (binary safe):
// Falco's sandbox Java class download condition matches the class file
// magic; an event without a captured buffer has no value.
func TestBufferField(t *testing.T) {
	ev := richEvent()
	ev.Type, ev.Ret = event.TypeRecvfrom, 8
	ev.Buffer = []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34}
	none := richEvent()
	none.Type, none.Ret = event.TypeRecvfrom, 8
	for _, c := range []struct {
		ev   *event.Event
		cond string
		want bool
	}{
		{ev, "evt.type = recvfrom and evt.buffer bcontains cafebabe", true},
		{ev, "evt.type = recvfrom and evt.buffer bstartswith cafe and evt.buffer bcontains 00000034", true},
		{ev, "evt.type = recvfrom and evt.buffer bcontains deadbeef", false},
		{none, "evt.type = recvfrom and evt.buffer exists", false},
	} {
		rs, err := compileRule(t, "", c.cond)
		if err != nil {
			t.Fatalf("%s: %v", c.cond, err)
		}
		if got := New(rs, &Options{Users: staticUsers{}}).Evaluate(c.ev, nil) == 1; got != c.want {
			t.Errorf("%s: %v, want %v", c.cond, got, c.want)
		}
	}
}

// TestRefFieldsWithoutKernel: the fields of Falco's reference that the
// real-kernel test (pipeline.TestFieldsOnRealKernel) cannot reach: the
// server end of an accepted socket, the plugin fields of an audit event,
// evt.around's window and the errors a misuse gets.
func TestRefFieldsWithoutKernel(t *testing.T) {
	acc := richEvent()
	acc.Type, acc.Ret = event.TypeAccept4, 5
	srv, cli := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	acc.FDInfo = &event.FDInfo{Num: 5, Type: event.FDIPv4, L4Proto: "tcp", Connected: true,
		Client: event.SockAddr{Family: 2, IP: cli, Port: 40000}, Server: event.SockAddr{Family: 2, IP: srv, Port: 443}}
	var p fastjson.Parser
	doc, err := p.Parse(`{"kind":"Event","verb":"get"}`)
	if err != nil {
		t.Fatal(err)
	}
	audit := &event.Event{Type: event.TypeK8sAudit, Time: 1, Audit: &event.Audit{V: doc}}
	for _, c := range []struct {
		ev   *event.Event
		src  string
		cond string
		want bool
	}{
		{acc, "", "fd.is_server = true and fd.sproto = 443 and fd.lproto = 443 and fd.rproto = 40000 and fd.proto = 443 and fd.proto != 80", true},
		{richEvent(), "", "fd.is_server = false and evt.around[1700000000500000000] = 500 and not evt.around[1700000000500000000] = 499", true},
		{sandboxed(), "", "k8s.pod.sandbox_id = 0123456789ab and k8s.pod.full_sandbox_id = 0123456789abcdef", true},
		{richEvent(), "", "evt.pluginname exists or evt.plugininfo exists or evt.asynctype exists or evt.is_async = true", false},
		{audit, "k8s_audit", `evt.pluginname = k8saudit and evt.plugininfo = '{"kind":"Event","verb":"get"}' and evt.is_async = false`, true},
	} {
		rs := rules.LoadAndCompile(nil, rules.File{Name: "r.yaml", Data: []byte("- rule: r\n  desc: d\n  condition: " + strconv.Quote(c.cond) + "\n  output: o\n  priority: INFO\n" +
			map[bool]string{true: "  source: " + c.src + "\n"}[c.src != ""])})
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", c.cond, err)
		}
		if got := New(rs, nil).Evaluate(c.ev, nil) == 1; got != c.want {
			t.Errorf("%s: %v, want %v", c.cond, got, c.want)
		}
	}
	for cond, msg := range map[string]string{"evt.around[1] > 5": "evt.around supports only =", "evt.rawarg[0] = 1": "takes an argument name"} {
		if _, err := compileRule(t, "", cond); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", cond, err, msg)
		}
	}
}

func sandboxed() *event.Event {
	ev := richEvent()
	ev.Container.PodSandboxID = "0123456789abcdef"
	return ev
}
