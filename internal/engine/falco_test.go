package engine

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
	"github.com/vigilsec/vigil/internal/rules"
)

// staticUsers is a deterministic user database for tests.
type staticUsers map[uint32]string

func (s staticUsers) UserName(_ *event.Event, uid uint32) (string, bool) {
	n, ok := s[uid]
	return n, ok
}
func (s staticUsers) GroupName(_ *event.Event, gid uint32) (string, bool) {
	n, ok := s[gid]
	return n, ok
}

func falcoEngine(tb testing.TB, opts *Options) *Engine {
	tb.Helper()
	spec, err := rules.LoadFiles(shareddata.FalcoRules(tb))
	if err != nil {
		tb.Fatal(err)
	}
	rs := rules.Compile(spec, &rules.CompileOptions{Hosts: hostnames.New(&hostnames.Options{Lookup: hostnames.StaticLookup(nil)})})
	if err := rs.Err(); err != nil {
		tb.Fatal(err)
	}
	if opts == nil {
		opts = &Options{Hostname: "testhost", Users: staticUsers{1000: "alice"}}
	}
	return New(rs, opts)
}

func container() *event.Container {
	return &event.Container{ID: "0123456789ab", FullID: "0123456789ab" + strings.Repeat("c", 52), Type: "containerd",
		MetadataKnown: true, Name: "web", Image: "docker.io/library/nginx:1.25", Repository: "docker.io/library/nginx", Tag: "1.25"}
}

func shellParent() *event.Process {
	init := &event.Process{PID: 1, Comm: "containerd-shim", Exe: "/usr/bin/containerd-shim", ExePath: "/usr/bin/containerd-shim"}
	return &event.Process{PID: 100, PPID: 1, Comm: "bash", Exe: "bash", ExePath: "/usr/bin/bash", Parent: init, Cwd: "/root"}
}

// openEvent is cat opening path read-only in a container (after startup).
func openEvent(comm, path string) *event.Event {
	p := &event.Process{PID: 200, PPID: 100, Comm: comm, Exe: comm, ExePath: "/usr/bin/" + comm, Args: []string{path},
		Cwd: "/root", Parent: shellParent(), StartTime: 1}
	return &event.Event{Type: event.TypeOpenat, Time: 1_700_000_000_000_000_000, PID: 200, TID: 200, Comm: comm,
		LoginUID: event.NoLoginUID, Ret: 3, FD: -1, DirFD: event.AtFDCWD, Path: path, Flags: 0o2000000,
		Proc: p, Container: container(),
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDFile, Name: path, NameRaw: path, Flags: 0o2000000}}
}

func matchNames(e *Engine, ev *event.Event) []string {
	var names []string
	e.Evaluate(ev, func(m *Match) { names = append(names, m.Rule.Name) })
	return names
}

func has(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

func TestFalcoReadSensitiveFileUntrusted(t *testing.T) {
	e := falcoEngine(t, nil)
	const rule = "Read sensitive file untrusted"

	ev := openEvent("cat", "/etc/shadow")
	var got *Match
	e.Evaluate(ev, func(m *Match) {
		if m.Rule.Name == rule {
			got = m
		}
	})
	if got == nil {
		t.Fatalf("%q did not fire for cat reading /etc/shadow; matches: %v", rule, matchNames(e, ev))
	}
	want := "Sensitive file opened for reading by non-trusted program | file=/etc/shadow gparent=containerd-shim ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=0"
	if got.Output != want {
		t.Errorf("output\n got %s\nwant %s", got.Output, want)
	}
	if got.Rule.Priority != rules.PriorityWarning {
		t.Errorf("priority %v", got.Rule.Priority)
	}
	fv := map[string]any{}
	for _, f := range got.Fields {
		fv[f.Name] = f.Value
	}
	if fv["fd.name"] != "/etc/shadow" || fv["user.loginuid"] != int64(-1) || fv["proc.aname[3]"] != nil || fv["proc.tty"] != uint64(0) {
		t.Errorf("output fields %v", fv)
	}

	// Trusted programs (the list expands nested lists) do not fire.
	for _, trusted := range []string{"passwd", "sshd", "bash", "dpkg"} {
		if has(matchNames(e, openEvent(trusted, "/etc/shadow")), rule) {
			t.Errorf("%q fired for trusted %s", rule, trusted)
		}
	}
	// Not sensitive, or opened for writing only: no alert.
	if has(matchNames(e, openEvent("cat", "/etc/hosts")), rule) {
		t.Error("fired for /etc/hosts")
	}
	w := openEvent("cat", "/etc/shadow")
	w.Flags = 0o1 // O_WRONLY
	if has(matchNames(e, w), rule) {
		t.Error("fired for a write-only open")
	}
	// A failed open has fd.num=-1 and does not match open_read.
	f := openEvent("cat", "/etc/shadow")
	f.Ret, f.FDInfo = -13, nil
	if has(matchNames(e, f), rule) {
		t.Error("fired for a failed open")
	}
	// Directory sensitive: /etc/pam.d/x
	if !has(matchNames(e, openEvent("cat", "/etc/pam.d/common-auth")), rule) {
		t.Error("did not fire for /etc/pam.d/common-auth")
	}
	// Unknown process name (<NA>) is excluded by proc_name_exists.
	if has(matchNames(e, openEvent("<NA>", "/etc/shadow")), rule) {
		t.Error("fired for proc.name <NA>")
	}
}

func execEvent(comm string, args []string, parent *event.Process) *event.Event {
	p := &event.Process{PID: 300, PPID: parent.PID, Comm: comm, Exe: comm, ExePath: "/usr/bin/" + comm, Args: args,
		Cwd: "/", Parent: parent, StartTime: 1, Tty: 34816}
	return &event.Event{Type: event.TypeExecve, Time: 1_700_000_000_000_000_000, PID: 300, TID: 300, Comm: comm,
		LoginUID: event.NoLoginUID, Proc: p, Container: container(),
		Exec: &event.Exec{Filename: "/usr/bin/" + comm, ExePath: "/usr/bin/" + comm, Argv: append([]string{comm}, args...), Tty: 34816}}
}

func TestFalcoTerminalShellInContainer(t *testing.T) {
	e := falcoEngine(t, nil)
	const rule = "Terminal shell in container"
	parent := &event.Process{PID: 50, Comm: "runc", Exe: "runc", ExePath: "/usr/bin/runc"}
	ev := execEvent("bash", nil, parent)
	names := matchNames(e, ev)
	if !has(names, rule) {
		t.Fatalf("%q did not fire: %v", rule, names)
	}
	// Host process: container.id = host → no alert.
	ev.Container = &event.Container{ID: "host"}
	if has(matchNames(e, ev), rule) {
		t.Error("fired on host")
	}
	// Unknown container state: container.id has no value → `container` false.
	ev.Container = nil
	if has(matchNames(e, ev), rule) {
		t.Error("fired without container info")
	}
	// No tty → no alert.
	ev = execEvent("bash", nil, parent)
	ev.Proc.Tty = 0
	if has(matchNames(e, ev), rule) {
		t.Error("fired without a tty")
	}
}

func TestFalcoPtraceAndPacketSocket(t *testing.T) {
	e := falcoEngine(t, nil)
	p := &event.Process{PID: 400, PPID: 1, Comm: "gdb", Exe: "gdb", ExePath: "/usr/bin/gdb", Parent: shellParent()}
	ev := &event.Event{Type: event.TypePtrace, PID: 400, Comm: "gdb", Arg: [4]int64{16, 401}, Proc: p, Container: container()}
	if !has(matchNames(e, ev), "PTRACE attached to process") {
		t.Errorf("PTRACE_ATTACH: %v", matchNames(e, ev))
	}
	ev.Arg[0] = 0 // PTRACE_TRACEME
	if !has(matchNames(e, ev), "PTRACE anti-debug attempt") {
		t.Errorf("PTRACE_TRACEME: %v", matchNames(e, ev))
	}
	ev.Arg[0] = 1 // PEEKTEXT: neither
	if n := matchNames(e, ev); has(n, "PTRACE attached to process") || has(n, "PTRACE anti-debug attempt") {
		t.Errorf("PEEKTEXT matched %v", n)
	}
	s := &event.Event{Type: event.TypeSocket, PID: 400, Comm: "tcpdump", Ret: 3, Arg: [4]int64{17, 3, 768},
		Proc: &event.Process{PID: 400, Comm: "tcpdump", Parent: shellParent()}, Container: container(),
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDUnknown}}
	var out string
	e.Evaluate(s, func(m *Match) {
		if m.Rule.Name == "Packet socket created in container" {
			out = m.Output
		}
	})
	if !strings.Contains(out, "socket_info=fd=3 domain=AF_PACKET type=SOCK_RAW proto=768") {
		t.Errorf("packet socket output %q", out)
	}
}

func TestFalcoDisallowedSSHOutbound(t *testing.T) {
	e := falcoEngine(t, nil)
	const rule = "Disallowed SSH Connection Non Standard Port"
	mk := func(dst string, port uint16) *event.Event {
		return &event.Event{Type: event.TypeConnect, PID: 500, Comm: "ssh", Ret: 0, FD: 3,
			Proc: &event.Process{PID: 500, Comm: "ssh", Exe: "ssh", Parent: shellParent()}, Container: container(),
			FDInfo: &event.FDInfo{Num: 3, Type: event.FDIPv4, L4Proto: "tcp", Connected: true,
				Name:   "172.17.0.2:40000->" + dst + ":" + itoa(int(port)),
				Client: event.SockAddr{Family: 2, IP: netip.MustParseAddr("172.17.0.2"), Port: 40000},
				Server: event.SockAddr{Family: 2, IP: netip.MustParseAddr(dst), Port: port}}}
	}
	if !has(matchNames(e, mk("8.8.8.8", 443)), rule) {
		t.Error("ssh to a public IP on port 443 did not fire")
	}
	if has(matchNames(e, mk("8.8.8.8", 22)), rule) {
		t.Error("fired for port 22")
	}
	if has(matchNames(e, mk("10.1.2.3", 443)), rule) {
		t.Error("fired for an RFC 1918 destination")
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func TestFalcoArgRules(t *testing.T) {
	e := falcoEngine(t, nil)
	// Clear Log Activities: open_write of /var/log/syslog with O_TRUNC.
	ev := openEvent("sh", "/var/log/syslog")
	ev.Flags = 0o1001 // O_WRONLY|O_TRUNC
	ev.FDInfo.Flags = ev.Flags
	if !has(matchNames(e, ev), "Clear Log Activities") {
		t.Errorf("O_TRUNC of /var/log/syslog: %v", matchNames(e, ev))
	}
	ev.Flags = 0o2001 // O_WRONLY|O_APPEND: no truncation
	if has(matchNames(e, ev), "Clear Log Activities") {
		t.Error("append to a log fired")
	}

	// Create Symlink Over Sensitive Files compares the raw target.
	sym := func(target string) *event.Event {
		return &event.Event{Type: event.TypeSymlinkat, PID: 600, Comm: "ln", Path: target, Path2: "x", DirFD: event.AtFDCWD,
			Proc: &event.Process{PID: 600, Comm: "ln", Cwd: "/tmp", Parent: shellParent()}, Container: container()}
	}
	var out string
	e.Evaluate(sym("/etc/shadow"), func(m *Match) {
		if m.Rule.Name == "Create Symlink Over Sensitive Files" {
			out = m.Output
		}
	})
	if !strings.HasPrefix(out, "Symlinks created over sensitive files | target=/etc/shadow linkpath=/tmp/x ") {
		t.Errorf("symlink output %q", out)
	}
	if has(matchNames(e, sym("../etc/shadow")), "Create Symlink Over Sensitive Files") {
		t.Error("relative target matched (Falco compares the raw target)")
	}

	// Fileless execution and dropped binaries, with exe_flags rendered.
	mem := execEvent("x", nil, shellParent())
	mem.Proc.ExeFromMemfd, mem.Exec.FromMemfd = true, true
	mem.Proc.ExePath = "memfd:x"
	out = ""
	e.Evaluate(mem, func(m *Match) {
		if m.Rule.Name == "Fileless execution via memfd_create" {
			out = m.Output
		}
	})
	if !strings.Contains(out, "exe_flags=EXE_FROM_MEMFD") || !strings.Contains(out, "proc_sname=<NA>") {
		t.Errorf("memfd output %q", out)
	}
	up := execEvent("payload", nil, shellParent())
	up.Proc.ExeUpperLayer, up.Exec.UpperLayer = true, true
	if !has(matchNames(e, up), "Drop and execute new binary in container") {
		t.Errorf("upper layer exec: %v", matchNames(e, up))
	}
	up.Container.Repository = "docker.io/library/nginx"
	up.Proc.ExeUpperLayer = false
	if has(matchNames(e, up), "Drop and execute new binary in container") {
		t.Error("lower layer exec fired")
	}
}
