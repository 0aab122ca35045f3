package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/event"
)

func runRulesCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// writeCapture writes a capture in the `vigil trace --json` format: an
// untrusted cat reading /etc/shadow in a container, then benign events.
func writeCapture(t *testing.T) string {
	t.Helper()
	shell := &event.Process{PID: 100, PPID: 1, Comm: "bash", Exe: "bash", ExePath: "/usr/bin/bash", Cwd: "/"}
	ctr := &event.Container{ID: "0123456789ab", FullID: "0123456789ab" + strings.Repeat("0", 52), Type: "containerd",
		MetadataKnown: true, Name: "web", Image: "nginx:1", Repository: "nginx", Tag: "1"}
	cat := &event.Process{PID: 200, PPID: 100, Comm: "cat", Exe: "cat", ExePath: "/usr/bin/cat", Args: []string{"/etc/shadow"},
		Cwd: "/", Parent: shell, StartTime: 1}
	evs := []*event.Event{
		{Type: event.TypeOpenat, Time: 1_700_000_000_000_000_000, PID: 200, TID: 200, PPID: 100, Comm: "cat",
			LoginUID: event.NoLoginUID, Ret: 3, FD: -1, FD2: -1, DirFD: event.AtFDCWD, Path: "/etc/shadow", Flags: 0,
			Proc: cat, Container: ctr, FDInfo: &event.FDInfo{Num: 3, Type: event.FDFile, Name: "/etc/shadow", NameRaw: "/etc/shadow"}},
		{Type: event.TypeOpenat, Time: 1_700_000_000_000_000_100, PID: 200, TID: 200, PPID: 100, Comm: "cat",
			LoginUID: event.NoLoginUID, Ret: 4, FD: -1, FD2: -1, DirFD: event.AtFDCWD, Path: "/etc/hosts",
			Proc: cat, Container: ctr, FDInfo: &event.FDInfo{Num: 4, Type: event.FDFile, Name: "/etc/hosts", NameRaw: "/etc/hosts"}},
		{Type: event.TypeClose, Time: 1_700_000_000_000_000_200, PID: 200, TID: 200, Comm: "cat", FD: 3, FD2: -1,
			DirFD: -1, DirFD2: -1, Proc: cat, Container: ctr},
	}
	var b []byte
	for _, ev := range evs {
		b = event.AppendJSON(b, ev)
	}
	p := filepath.Join(t.TempDir(), "capture.jsonl")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplayFalcoRules(t *testing.T) {
	capture := writeCapture(t)
	args := []string{"replay", "--no-default-rules", "-r", shareddata.FalcoRules(t), "--hostname", "h1", capture}
	out1, stderr, err := runRulesCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out2, _, err := runRulesCLI(t, args...)
	if err != nil || out1 != out2 {
		t.Fatalf("replay is not deterministic:\n%s\n---\n%s", out1, out2)
	}
	lines := strings.Split(strings.TrimSpace(out1), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 alert, got %d:\n%s", len(lines), out1)
	}
	var a map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &a); err != nil {
		t.Fatal(err)
	}
	if a["rule"] != "Read sensitive file untrusted" || a["priority"] != "Warning" || a["source"] != "syscall" ||
		a["hostname"] != "h1" || a["time"] != "2023-11-14T22:13:20.000000000Z" {
		t.Fatalf("alert %v", a)
	}
	of := a["output_fields"].(map[string]any)
	if of["fd.name"] != "/etc/shadow" || of["proc.name"] != "cat" || of["proc.aname[3]"] != nil {
		t.Fatalf("output_fields %v", of)
	}
	if !strings.Contains(a["output"].(string), ": Warning Sensitive file opened for reading by non-trusted program | file=/etc/shadow") {
		t.Fatalf("output %q", a["output"])
	}
	if !strings.Contains(stderr, "3 events, 1 alerts") {
		t.Fatalf("summary %q", stderr)
	}
}

func TestRulesValidateCLI(t *testing.T) {
	out, _, err := runRulesCLI(t, "rules", "validate", shareddata.FalcoRules(t))
	if err != nil || !strings.Contains(out, "rules=25 macros=87 lists=49 errors=0") {
		t.Fatalf("%v\n%s", err, out)
	}
	out, _, err = runRulesCLI(t, "rules", "validate")
	if err != nil || !strings.Contains(out, "rules/vigil_rules.yaml: rules=") || !strings.Contains(out, "errors=0") {
		t.Fatalf("embedded defaults: %v\n%s", err, out)
	}
	bad := filepath.Join("..", "..", "internal", "rules", "testdata", "bad", "unknown_field.yaml")
	out, _, err = runRulesCLI(t, "rules", "validate", shareddata.FalcoRules(t), bad)
	if err == nil || exitCode(err) != exitFindings || !strings.Contains(out, "unknown_field.yaml:5:27: error") ||
		!strings.Contains(out, "errors=1") {
		t.Fatalf("bad file: %v\n%s", err, out)
	}
}

// TestReplayAuditLog: `vigil replay` of a Kubernetes audit log (JSON lines
// as the log backend writes them) with Falco's k8s_audit_rules.yaml prints
// the upstream rule's alert with source k8s_audit; a malformed line fails
// naming its line.
func TestReplayAuditLog(t *testing.T) {
	var log []byte
	for _, n := range []string{"benign-list-pods", "exec-pod"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "k8saudit", "testdata", n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		log = append(append(log, bytes.TrimSpace(b)...), '\n')
	}
	p := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(p, log, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, err := runRulesCLI(t, "replay", "--no-default-rules", "-r", shareddata.K8sAuditRules(t), p)
	if err != nil {
		t.Fatalf("%v: %s", err, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"rule":"Attach/Exec Pod"`) || !strings.Contains(lines[0], `"source":"k8s_audit"`) ||
		!strings.Contains(lines[0], `Attach/Exec to pod (user=mallory pod=web-7d4b9c resource=pods ns=default action=exec command=sh)`) {
		t.Fatalf("alerts:\n%s", out)
	}
	if !strings.Contains(errs, "replay: 2 events, 1 alerts") {
		t.Errorf("summary %q", errs)
	}
	if err := os.WriteFile(p, append(log, []byte("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\"}\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runRulesCLI(t, "replay", "--no-default-rules", "-r", shareddata.K8sAuditRules(t), p); err == nil || !strings.Contains(err.Error(), "audit.log:3:") {
		t.Fatalf("malformed line: %v", err)
	}
}

// TestFalcoFieldCoverage compares `vigil rules fields --format json` with
// the syscall-source fields of Falco's reference, kept as facts in
// internal/event/testdata/falco_syscall_fields.tsv: every field is there
// with Falco's class and a compatible type, or is listed with a written
// reason in falco_fields_missing.tsv (and a reason for a field Vigil has
// is stale).
func TestFalcoFieldCoverage(t *testing.T) {
	out, _, err := runRulesCLI(t, "rules", "fields", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var fields []event.FieldJSON
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatal(err)
	}
	have := map[string]event.FieldJSON{}
	for _, f := range fields {
		have[f.Name] = f
	}
	tsv := func(name string) [][]string {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "event", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var rows [][]string
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				rows = append(rows, strings.Split(l, "\t"))
			}
		}
		return rows
	}
	missing := map[string]string{}
	for _, r := range tsv("falco_fields_missing.tsv") {
		if len(r) != 2 || r[1] == "" {
			t.Fatalf("missing-field line without a reason: %q", r)
		}
		missing[r[0]] = r[1]
	}
	// Falco's integer types are all compared as numbers by Vigil.
	family := func(typ string) string {
		switch typ {
		case "INT16", "INT32", "INT64", "UINT32", "UINT64", "PORT", "RELTIME", "ABSTIME":
			return "number"
		case "BYTEBUF", "DYNAMIC":
			return "CHARBUF"
		}
		return typ
	}
	n, got := 0, 0
	for _, r := range tsv("falco_syscall_fields.tsv") {
		class, name, typ := r[0], r[1], r[2]
		n++
		f, ok := have[name]
		if !ok {
			if _, why := missing[name]; !why {
				t.Errorf("%s (%s %s): missing, and no reason in falco_fields_missing.tsv", name, class, typ)
			}
			continue
		}
		got++
		if _, stale := missing[name]; stale {
			t.Errorf("%s: Vigil has it, remove it from falco_fields_missing.tsv", name)
		}
		if f.Class != class {
			t.Errorf("%s: class %s, Falco's is %s", name, f.Class, class)
		}
		if family(f.Type) != family(typ) {
			t.Errorf("%s: type %s, Falco's is %s", name, f.Type, typ)
		}
		if f.Source != "syscall" && f.Source != "any" {
			t.Errorf("%s: source %s", name, f.Source)
		}
	}
	t.Logf("%d of Falco's %d syscall-source fields, %d missing with a reason", got, n, n-got)
}

// TestRulesByTag: -t and -T select Falco's rules by tag in replay and rules
// list, as falco -t and -T do, and vigil run's flags become the
// configuration's rules.enable_tags and rules.disable_tags.
func TestRulesByTag(t *testing.T) {
	capture := writeCapture(t)
	falco := shareddata.FalcoRules(t)
	for _, c := range []struct {
		flags  []string
		alerts int
	}{
		{nil, 1},                          // Read sensitive file untrusted: tags include filesystem and host
		{[]string{"-T", "filesystem"}, 0}, // disabled by one of its tags
		{[]string{"-t", "network"}, 0},    // not among the enabled tags
		{[]string{"-t", "network", "-t", "mitre_credential_access"}, 1},
		{[]string{"-t", "mitre_credential_access", "-T", "host"}, 0}, // disable wins
	} {
		args := append([]string{"replay", "--no-default-rules", "-r", falco}, c.flags...)
		out, stderr, err := runRulesCLI(t, append(args, capture)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.flags, err, stderr)
		}
		if n := strings.Count(out, `"rule":"Read sensitive file untrusted"`); n != c.alerts || strings.Count(out, "\n") != c.alerts {
			t.Errorf("replay %v: %d alerts, want %d:\n%s", c.flags, n, c.alerts, out)
		}
	}
	out, _, err := runRulesCLI(t, "rules", "list", "--no-default-rules", "-r", falco, "-T", "host")
	if err != nil || !strings.Contains(out, "8 rules enabled, 17 disabled") || strings.Contains(out, "Read sensitive file untrusted") {
		t.Fatalf("rules list -T host: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("rules:\n  disable_tags: [network]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runRulesCLI(t, "config", "show", "--config", cfg, "-T", "host", "-t", "mitre_execution")
	if err != nil || !strings.Contains(out, "enable_tags:\n    - mitre_execution\n  disable_tags:\n    - network\n    - host\n") {
		t.Fatalf("config show: %v\n%s", err, out)
	}
}
