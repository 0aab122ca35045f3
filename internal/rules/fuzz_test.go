package rules

import (
	"os"
	"strings"
	"testing"
)

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"evt.type = execve and proc.name in (bash, sh)",
		"not (fd.name startswith /etc/ or fd.directory in (/etc/pam.d))",
		`proc.cmdline contains "a \"b\" \x41" and proc.aname[2] = sshd`,
		"tolower(basename(fd.name)) = val(proc.name)",
		"fd.name contains allof (a, b) and fd.num >= 0 and k8s.pod.label[app] exists",
		"container.mount.dest[/var/run/docker.sock] exists",
		"evt.arg[1] = x and evt.arg.flags contains O_TRUNC",
		strings.Repeat("(", 300),
		strings.Repeat("not ", 300) + "a",
		"a = 'unterminated",
		"x in (a, b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCondition(s)
		if err != nil {
			se, ok := err.(*SyntaxError)
			if !ok || se.Off < 0 || se.Off > len(s) {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		// What parses prints to something that parses again.
		if _, err := ParseCondition(n.String()); err != nil {
			t.Fatalf("%q parsed, but its printed form %q does not: %v", s, n.String(), err)
		}
	})
}

func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile("testdata/fuzz_seed.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Add([]byte("- rule: r\n  override: {condition: append}\n  condition: x\n"))
	f.Add([]byte("- list: l\n  items: [a, '\"b\"', l]\n- macro: m\n  condition: x in (l)\n"))
	f.Add([]byte("- required_engine_version: 0.1.0\n- required_plugin_versions: [{name: container, version: 1}]\n"))
	f.Add([]byte("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: '%fd.name'\n  priority: x\n  exceptions: [{name: e, fields: [a], values: [[b]]}]\n"))
	f.Add([]byte("- rule: s\n  desc: d\n  condition: evt.type=execve and proc.exepath = val(w.fd.name)\n  output: '%w.proc.name'\n  priority: info\n" +
		"  sequence: {by: container, within: 5s, steps: [{as: w, condition: evt.type=openat}, {condition: evt.type=close and fd.name=val(w.fd.name)}]}\n"))
	f.Add([]byte("- rule: t\n  desc: d\n  condition: evt.type=connect\n  output: x\n  priority: info\n  threshold: {count: 3, distinct: evt.arg.addr, within: 1s, by: pod}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs := LoadAndCompile(&CompileOptions{Hosts: noDNS()}, File{Name: "fuzz.yaml", Data: data})
		for _, d := range rs.Diags {
			if d.File != "fuzz.yaml" || d.Line < 0 || d.Col < 0 {
				t.Fatalf("bad diagnostic %v", d)
			}
		}
	})
}
