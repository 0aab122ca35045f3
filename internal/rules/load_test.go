package rules

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/hostnames"
)

// TestBadFiles loads every testdata/bad/*.yaml; the first line of each
// says where the error must be reported and what it must say:
// "# want: LINE:COL substring".
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			spec, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatal("missing # want: header")
			}
			posText, msg, _ := strings.Cut(spec, " ")
			ls, cs, _ := strings.Cut(posText, ":")
			line, _ := strconv.Atoi(ls)
			col, _ := strconv.Atoi(cs)
			rs := LoadAndCompile(&CompileOptions{Hosts: noDNS()}, File{Name: f, Data: data})
			errs := rs.Diags.Errors()
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			for _, d := range errs {
				if strings.Contains(d.Msg, msg) && d.Line == line && d.Col == col && d.File == f {
					if !errors.Is(d, ErrInvalidRules) {
						t.Error("diagnostic does not match ErrInvalidRules")
					}
					return
				}
			}
			t.Fatalf("want %d:%d %q, got %v", line, col, msg, rs.Err())
		})
	}
}

func load(t *testing.T, docs ...string) *Ruleset {
	t.Helper()
	var files []File
	for i, d := range docs {
		files = append(files, File{Name: "f" + strconv.Itoa(i) + ".yaml", Data: []byte(d)})
	}
	return LoadAndCompile(&CompileOptions{Hosts: noDNS()}, files...)
}

const base = `
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: shell
  desc: a shell
  condition: spawned and proc.name in (shells)
  output: shell %proc.name
  priority: WARNING
  tags: [a]
`

func ruleByName(rs *Ruleset, name string) *Rule {
	for _, r := range rs.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func TestOverrideSemantics(t *testing.T) {
	t.Run("list append and rule condition append", func(t *testing.T) {
		rs := load(t, base, `
- list: shells
  items: [zsh]
  override: {items: append}
- rule: shell
  condition: and not proc.pname = sshd
  override: {condition: append}
`)
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		spec := Load(File{Name: "a", Data: []byte(base)}, File{Name: "b", Data: []byte(`
- list: shells
  items: [zsh]
  override: {items: append}
- rule: shell
  condition: and not proc.pname = sshd
  override: {condition: append}
`)})
		if got := spec.Rules[0].Cond.Text; got != "spawned and proc.name in (shells) and not proc.pname = sshd" {
			t.Errorf("appended condition %q", got)
		}
		if n := len(spec.Lists[0].Items); n != 3 {
			t.Errorf("list has %d items", n)
		}
	})
	t.Run("replace output and priority", func(t *testing.T) {
		rs := load(t, base, `
- rule: shell
  output: replaced %proc.pname
  priority: CRITICAL
  tags: [b]
  override: {output: replace, priority: replace, tags: append}
`)
		r := ruleByName(rs, "shell")
		if rs.Err() != nil || r == nil || r.Output.Text != "replaced %proc.pname" || r.Priority != PriorityCritical ||
			strings.Join(r.Tags, ",") != "a,b" {
			t.Fatalf("%v %+v", rs.Err(), r)
		}
	})
	t.Run("deprecated append warns", func(t *testing.T) {
		spec := Load(File{Name: "a", Data: []byte(base)}, File{Name: "b", Data: []byte(`
- macro: spawned
  condition: and proc.pid > 0
  append: true
`)})
		if spec.Macros[0].Cond.Text != "evt.type = execve and proc.pid > 0" {
			t.Errorf("macro %q", spec.Macros[0].Cond.Text)
		}
		if len(spec.Diags.Warnings()) != 1 || !strings.Contains(spec.Diags.Warnings()[0].Msg, "deprecated") {
			t.Errorf("warnings %v", spec.Diags)
		}
	})
	t.Run("enabled toggle", func(t *testing.T) {
		rs := load(t, base, "- rule: shell\n  enabled: false\n")
		if rs.Err() != nil || len(rs.Rules) != 0 || rs.Disabled != 1 {
			t.Fatalf("%v rules=%d disabled=%d", rs.Err(), len(rs.Rules), rs.Disabled)
		}
		rs = load(t, base, "- rule: shell\n  enabled: false\n", "- rule: shell\n  override: {enabled: replace}\n  enabled: true\n")
		if rs.Err() != nil || len(rs.Rules) != 1 {
			t.Fatalf("re-enable: %v %d", rs.Err(), len(rs.Rules))
		}
	})
	t.Run("redefinition replaces in place", func(t *testing.T) {
		rs := load(t, base+`
- rule: second
  desc: d
  condition: evt.type = open
  output: o
  priority: INFO
`, `
- rule: shell
  desc: redefined
  condition: evt.type = execve and proc.name = fish
  output: fish
  priority: ERROR
`)
		if rs.Err() != nil || len(rs.Rules) != 2 || rs.Rules[0].Name != "shell" || rs.Rules[0].Desc != "redefined" {
			t.Fatalf("%v %+v", rs.Err(), rs.Rules)
		}
	})
	t.Run("unknown source skipped", func(t *testing.T) {
		rs := load(t, base, `
- rule: trail
  desc: d
  condition: ct.name = CreateUser
  output: o
  priority: INFO
  source: aws_cloudtrail
`)
		if rs.Err() != nil || rs.Skipped != 1 || len(rs.Rules) != 1 {
			t.Fatalf("%v skipped=%d", rs.Err(), rs.Skipped)
		}
		found := false
		for _, d := range rs.Diags.Warnings() {
			if strings.Contains(d.Msg, `source "aws_cloudtrail"`) && d.Line == 2 {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning with position: %v", rs.Diags)
		}
	})
	t.Run("exceptions append", func(t *testing.T) {
		spec := Load(File{Name: "a", Data: []byte(base + `
  exceptions:
    - name: parents
      fields: [proc.pname]
      values: [[sshd]]
`)}, File{Name: "b", Data: []byte(`
- rule: shell
  exceptions:
    - name: parents
      values: [[cron]]
    - name: users
      fields: user.name
      values: [root]
  override: {exceptions: append}
`)})
		ex := spec.Rules[0].Exceptions
		if len(ex) != 2 || len(ex[0].Values) != 2 || ex[1].Name != "users" {
			t.Fatalf("exceptions %+v", ex)
		}
		if rs := Compile(spec, &CompileOptions{Hosts: noDNS()}); rs.Err() != nil {
			t.Fatal(rs.Err())
		}
	})
}

func TestFileStats(t *testing.T) {
	rs := load(t, base, "- list: x\n  items: []\n- rule: shell\n  enabled: false\n- rule: bad\n  desc: d\n  condition: nope\n  output: o\n  priority: INFO\n")
	a, b := rs.Files[0], rs.Files[1]
	if a.Rules != 1 || a.Macros != 1 || a.Lists != 1 || a.Errors != 0 {
		t.Errorf("file 0 %+v", a)
	}
	if b.Rules != 2 || b.Lists != 1 || b.Errors != 1 || b.Warnings == 0 {
		t.Errorf("file 1 %+v", b)
	}
}

func TestConditionPositionsInFoldedScalars(t *testing.T) {
	y := "- rule: r\n  desc: d\n  condition: >\n    evt.type = execve\n      and proc.name = bash\n      and bogus.field = 1\n  output: o\n  priority: INFO\n"
	rs := load(t, y)
	errs := rs.Diags.Errors()
	if len(errs) != 1 || errs[0].Line != 6 || errs[0].Col != 11 {
		t.Fatalf("%v", rs.Diags)
	}
}

func TestHostileInputIsBounded(t *testing.T) {
	// Macros that double the condition at each level: 2^40 nodes if
	// expanded naively; shared macro expressions keep it linear.
	var b strings.Builder
	b.WriteString("- macro: m0\n  condition: proc.name = a\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "- macro: m%d\n  condition: (m%d or m%d)\n", i, i-1, i-1)
	}
	b.WriteString("- rule: r\n  desc: d\n  condition: evt.type = open and m40\n  output: o\n  priority: INFO\n")
	rs := load(t, b.String())
	if err := rs.Err(); err != nil || rs.Slots != 41 {
		t.Fatalf("doubling macros: %v (slots %d)", err, rs.Slots)
	}
	// A condition that is itself too large is an error.
	big := "- rule: r\n  desc: d\n  condition: evt.type = open" + strings.Repeat(" and proc.name = a", MaxNodes) + "\n  output: o\n  priority: INFO\n"
	if err := load(t, big).Err(); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("want a size error, got %v", err)
	}
	// Deeply nested YAML and conditions do not crash.
	deep := "- rule: r\n  desc: " + strings.Repeat("[", 20000) + "\n"
	if rs := load(t, deep); rs.Err() == nil {
		t.Fatal("deep YAML loaded")
	}
	cond := strings.Repeat("(", 100000)
	if rs := load(t, "- rule: r\n  desc: d\n  condition: '"+cond+"'\n  output: o\n  priority: INFO\n"); rs.Err() == nil {
		t.Fatal("deep condition compiled")
	}
}

func TestErrorInAppendedConditionPointsToTheAppend(t *testing.T) {
	rs := load(t, base, "- rule: shell\n  condition: and nope.field = 1\n  override: {condition: append}\n")
	errs := rs.Diags.Errors()
	if len(errs) != 1 || errs[0].File != "f1.yaml" || errs[0].Line != 2 || errs[0].Col != 18 {
		t.Fatalf("%v", rs.Diags)
	}
}

// TestCompileDoesNotWaitForDNS: compiling rules with host names against a
// DNS server that never answers returns (the lookups are released only
// after Compile returned, so a compile that waited would hang).
func TestCompileDoesNotWaitForDNS(t *testing.T) {
	release := make(chan struct{})
	hosts := hostnames.New(&hostnames.Options{Lookup: func(context.Context, string) ([]netip.Addr, error) {
		<-release
		return nil, context.DeadlineExceeded
	}})
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "- rule: r%d\n  desc: d\n  condition: evt.type = connect and fd.sip.name in (a%d.invalid, b%d.invalid)\n  output: o\n  priority: INFO\n", i, i, i)
	}
	rs := LoadAndCompile(&CompileOptions{Hosts: hosts}, File{Name: "hosts.yaml", Data: []byte(b.String())})
	close(release)
	hosts.Wait()
	if err := rs.Err(); err != nil || len(rs.Rules) != 20 {
		t.Fatalf("%d rules, %v", len(rs.Rules), err)
	}
}

// TestBrokenListsSkippedRules: a rule that does not compile, directly or
// through a macro, is named in Broken at its own position; the others
// compile.
func TestBrokenListsSkippedRules(t *testing.T) {
	y := `- macro: bad_macro
  condition: proc.nosuchfield = 1
- rule: good
  desc: d
  condition: evt.type = execve
  output: o
  priority: INFO
- rule: uses bad macro
  desc: d
  condition: evt.type = execve and bad_macro
  output: o
  priority: INFO
- rule: bad output
  desc: d
  condition: evt.type = execve
  output: o %nosuch.field
  priority: INFO
`
	rs := LoadAndCompile(&CompileOptions{Hosts: noDNS()}, File{Name: "b.yaml", Data: []byte(y)})
	if len(rs.Rules) != 1 || rs.Rules[0].Name != "good" || rs.Err() == nil {
		t.Fatalf("rules %d, err %v", len(rs.Rules), rs.Err())
	}
	var got []string
	for _, d := range rs.Broken {
		got = append(got, d.Error())
	}
	want := []string{
		`b.yaml:8:3: error: rule "uses bad macro": skipped: b.yaml:10:36: macro "bad_macro" has errors`,
		`b.yaml:13:3: error: rule "bad output": skipped: b.yaml:16:11: output: offset 2: unknown field "nosuch.field"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("broken:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestListExpansionIsBounded: lists that each hold the previous one twice
// (2^40 items if expanded) are a positioned error at the first list past
// MaxListItems, and so are conditions that name a big list many times
// (each under the limit, too many in all).
func TestListExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("- list: l0\n  items: [a, b]\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "- list: l%d\n  items: [l%d, l%d]\n", i, i-1, i-1)
	}
	b.WriteString("- rule: r\n  desc: d\n  condition: evt.type = open and proc.name in (l39)\n  output: o\n  priority: INFO\n")
	if b.Len() > 1400 {
		t.Fatalf("the bomb is %d bytes", b.Len())
	}
	rs := load(t, b.String())
	first := 0
	for ; 2<<first <= MaxListItems; first++ {
	}
	// l<first> is the first list holding more than MaxListItems items; its
	// second item is where it crosses the limit.
	wantLine := 2*first + 2
	found := false
	for _, d := range rs.Diags.Errors() {
		if d.Name == fmt.Sprintf("l%d", first) && d.Line == wantLine && d.Col == 16 && strings.Contains(d.Msg, "too large") {
			found = true
		}
	}
	if !found {
		t.Fatalf("want a too-large error at f0.yaml:%d:16 for list l%d, got %v", wantLine, first, rs.Err())
	}
	if len(rs.Rules) != 0 {
		t.Errorf("the rule using the bomb compiled")
	}

	// Many lists each under the limit, named by many conditions.
	b.Reset()
	b.WriteString("- list: big\n  items: [")
	for i := 0; i < MaxListItems/2; i++ {
		fmt.Fprintf(&b, "x%d, ", i)
	}
	b.WriteString("y]\n")
	for i := 0; i*MaxListItems/2 <= MaxListValues; i++ {
		fmt.Fprintf(&b, "- rule: r%d\n  desc: d\n  condition: evt.type = open and proc.name in (big)\n  output: o\n  priority: INFO\n", i)
	}
	err := load(t, b.String()).Err()
	if err == nil || !strings.Contains(err.Error(), "list values in all") {
		t.Fatalf("want a total-size error, got %v", err)
	}
}

// TestVersionRequirements: required_engine_version and
// required_plugin_versions are met as Falco meets them: an integer engine
// version is 0.N.0, a version is compatible when its major version is the
// same and it is not older, and a plugin requirement is met by any of its
// alternatives.
func TestVersionRequirements(t *testing.T) {
	for _, ok := range []string{
		"- required_engine_version: 15\n",
		"- required_engine_version: 0.57.0\n",
		"- required_engine_version: 0.10.3\n",
		"- required_plugin_versions:\n  - {name: container, version: 0.4.0}\n",
		"- required_plugin_versions:\n  - {name: container, version: 0.7.0}\n",
		"- required_plugin_versions:\n  - name: k8saudit-eks\n    version: 0.1.0\n    alternatives:\n      - {name: k8saudit, version: 0.11.0}\n",
	} {
		s := Load(File{Name: "ok.yaml", Data: []byte(ok)})
		for _, d := range s.Diags {
			t.Errorf("%q: %v", ok, d)
		}
	}
	for _, bad := range []string{
		"- required_engine_version: 0.58.0\n",
		"- required_engine_version: 58\n",
		"- required_engine_version: 1.0.0\n",
		"- required_engine_version: 0.57.0-rc1\n",
		"- required_plugin_versions:\n  - {name: json, version: 0.8.0}\n",
		"- required_plugin_versions:\n  - {name: container, version: 0.7}\n",
		"- required_plugin_versions:\n  - name: k8saudit-eks\n    version: 0.1.0\n    alternatives:\n      - {name: k8saudit, version: 0.19.0}\n",
	} {
		s := Load(File{Name: "bad.yaml", Data: []byte(bad)})
		if len(s.Diags.Errors()) == 0 {
			t.Errorf("%q: loaded without an error", bad)
		}
	}
}

// TestSkipIfUnknownFilter: as in Falco, a rule with skip-if-unknown-filter
// whose condition names a field Vigil does not know (directly or through
// a macro) is skipped with a positioned warning, not an error; the same
// rule without the key is an error; a macro naming an unknown field that no
// rule that runs uses is a warning.
func TestSkipIfUnknownFilter(t *testing.T) {
	y := `- macro: plugin_macro
  condition: someplugin.field = x
- macro: unused_plugin_macro
  condition: otherplugin.field = y
- rule: direct
  desc: d
  condition: evt.type = execve and someplugin.other = 1
  output: o
  priority: INFO
  skip-if-unknown-filter: true
- rule: through macro
  desc: d
  condition: evt.type = execve and plugin_macro
  output: o
  priority: INFO
  skip-if-unknown-filter: true
- rule: good
  desc: d
  condition: evt.type = execve
  output: o
  priority: INFO
  skip-if-unknown-filter: true
`
	rs := LoadAndCompile(&CompileOptions{Hosts: noDNS()}, File{Name: "s.yaml", Data: []byte(y)})
	if err := rs.Err(); err != nil {
		t.Fatalf("skip-if-unknown-filter rules gave errors: %v", err)
	}
	if len(rs.Rules) != 1 || rs.Rules[0].Name != "good" || len(rs.Broken) != 0 {
		t.Fatalf("rules %d, broken %v", len(rs.Rules), rs.Broken)
	}
	var warns []string
	for _, d := range rs.Diags {
		warns = append(warns, d.Error())
	}
	all := strings.Join(warns, "\n")
	for _, want := range []string{
		`s.yaml:5:3: warning: rule "direct": rule skipped (skip-if-unknown-filter): s.yaml:7:36: unknown field "someplugin.other"`,
		`s.yaml:11:3: warning: rule "through macro": rule skipped (skip-if-unknown-filter): s.yaml:2:14: unknown field "someplugin.field"`,
		`s.yaml:4:14: warning: macro "unused_plugin_macro": unknown field "otherplugin.field" (no rule uses the macro)`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %s in\n%s", want, all)
		}
	}
	// Without the key the same rules are errors.
	rs = LoadAndCompile(&CompileOptions{Hosts: noDNS()}, File{Name: "s.yaml", Data: []byte(strings.ReplaceAll(y, "  skip-if-unknown-filter: true\n", ""))})
	if len(rs.Broken) != 2 {
		t.Fatalf("without skip-if-unknown-filter: broken %v", rs.Broken)
	}
}

// TestWarnEvttypes: warn_evttypes: false silences the warning for a
// condition that does not restrict evt.type, as in Falco.
func TestWarnEvttypes(t *testing.T) {
	rule := "- rule: any\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n"
	warned := func(y string) bool {
		rs := LoadAndCompile(&CompileOptions{Hosts: noDNS()}, File{Name: "w.yaml", Data: []byte(y)})
		for _, d := range rs.Diags {
			if strings.Contains(d.Msg, "does not restrict evt.type") {
				return true
			}
		}
		return false
	}
	if !warned(rule) {
		t.Error("no warning for an unrestricted condition")
	}
	if warned(rule + "  warn_evttypes: false\n") {
		t.Error("warn_evttypes: false still warns")
	}
	if warned(rule + "- rule: any\n  warn_evttypes: false\n  override: {warn_evttypes: replace}\n") {
		t.Error("warn_evttypes replaced by override still warns")
	}
}

// TestImpossibleComparisonWarnings: a comparison of a field whose values
// come from a fixed vocabulary with a constant it can never produce is a
// positioned warning (the rule still loads); the forms upstream rules use
// are not.
func TestImpossibleComparisonWarnings(t *testing.T) {
	rule := func(cond string) string {
		return "- rule: r\n  desc: d\n  condition: " + cond + "\n  output: o\n  priority: INFO\n"
	}
	warnings := func(cond string) []string {
		rs := LoadAndCompile(&CompileOptions{Hosts: noDNS()}, File{Name: "i.yaml", Data: []byte(rule(cond))})
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		var out []string
		for _, d := range rs.Diags {
			if strings.Contains(d.Msg, "can never hold") {
				out = append(out, d.Error())
			}
		}
		return out
	}
	for _, bad := range []string{
		`evt.type = chmod and evt.arg.mode contains "04600"`,
		`evt.type = chmod and evt.arg.mode = 2048`, // no: decimal is possible; replaced below
		`evt.type = openat and evt.arg.flags contains O_TRUNK`,
		`evt.type = openat and evt.arg.flags in (O_RDONLY, O_WRONGLY)`,
		`evt.type = openat and evt.res = EPERMX`,
		`evt.type = openat and fd.typechar = x`,
		`evt.type = connect and fd.type in (ipv4, ipv5)`,
		`evt.type = connect and fd.l4proto = sctp`,
		`evt.type = ptrace and evt.arg.request startswith ATTACH`,
	} {
		if bad == `evt.type = chmod and evt.arg.mode = 2048` {
			if w := warnings(bad); len(w) != 0 {
				t.Errorf("%s: a decimal (an unnamed value) is possible: %v", bad, w)
			}
			continue
		}
		w := warnings(bad)
		if len(w) != 1 || !strings.HasPrefix(w[0], "i.yaml:3:") {
			t.Errorf("%s: warnings %v, want one at line 3", bad, w)
		}
	}
	for _, good := range []string{
		`evt.type = chmod and (evt.arg.mode contains "S_ISUID" or evt.arg.mode contains S_IXOTH)`,
		`evt.type = openat and evt.arg.flags contains O_TRUNC and evt.arg.flags contains "O_WRONLY|O_CREAT"`,
		`evt.type = openat and evt.arg.flags icontains o_trunc`,
		`evt.type = openat and (evt.res = SUCCESS or evt.res = EINPROGRESS or evt.res != ENOENT)`,
		`evt.type = openat and fd.typechar in (f, d, 4, 6) and fd.type = file`,
		`evt.type = ptrace and evt.arg.request contains PTRACE_ATTACH and evt.arg.request startswith PTRACE_`,
		`evt.type = openat and evt.arg.name contains "04600"`,
	} {
		if w := warnings(good); len(w) != 0 {
			t.Errorf("%s: unexpected %v", good, w)
		}
	}
}
