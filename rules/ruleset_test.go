package rules_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/rules"
	defaultrules "github.com/vigilsec/vigil/rules"
)

var update = flag.Bool("update", false, "rewrite docs/ruleset.md from the embedded ruleset")

// capturesDir holds one directory per default rule, named by Slug, with
// fire.jsonl (a real recording of the attack: the rule must fire) and
// benign.jsonl (a real recording of a similar legitimate action: it must
// not). testdata/record.sh re-records them.
const capturesDir = "testdata/captures"

// Slug is the capture directory name of a rule: "Vigil Ptrace Attach" is
// ptrace-attach.
func Slug(name string) string {
	name = strings.TrimPrefix(name, "Vigil ")
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		} else {
			dash = true
		}
	}
	return b.String()
}

func defaultFiles() []rules.File {
	var files []rules.File
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	return files
}

func compileDefault(t *testing.T) *rules.Ruleset {
	t.Helper()
	prio := rules.PriorityDebug
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &prio}, defaultFiles()...)
	if err := rs.Err(); err != nil {
		t.Fatalf("default ruleset: %v", err)
	}
	return rs
}

// replay runs a capture through the pipeline `vigil replay` uses (a
// capture source, no process table: the events carry their context; all
// matches) and returns how often each rule fired.
func replay(t *testing.T, rs *rules.Ruleset, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("capture %s: %v", path, err)
		}
		r = zr
	}
	fired := map[string]int{}
	p := pipeline.New(pipeline.Options{Engine: engine.New(rs, &engine.Options{Hostname: "test"}), Hostname: "test",
		OnAlert: func(_ *event.Event, m *engine.Match, _ *alert.Alert) { fired[m.Rule.Name]++ }})
	if err := p.Run(context.Background(), pipeline.NewCaptureSource(r, path)); err != nil {
		t.Fatalf("replay %s: %v", path, err)
	}
	n := uint64(0)
	for ty := event.Type(0); ty < event.NumTypes; ty++ {
		n += p.Events(ty)
	}
	if n == 0 {
		t.Fatalf("%s: empty capture", path)
	}
	return fired
}

func firedNames(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestCaptures replays the real recordings of every default rule: the
// attack must fire the rule, the benign look-alike must not. A rule without
// a capture pair, or a capture directory without a rule, fails the test.
func TestCaptures(t *testing.T) {
	rs := compileDefault(t)
	if len(rs.Rules) == 0 {
		t.Fatal("default ruleset has no rules")
	}
	want := map[string]bool{}
	for _, r := range rs.Rules {
		slug := Slug(r.Name)
		want[slug] = true
		t.Run(slug, func(t *testing.T) {
			dir := filepath.Join(capturesDir, slug)
			for _, name := range []string{"fire.jsonl", "benign.jsonl"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Fatalf("rule %q has no recorded evidence: %v (record it with testdata/record.sh)", r.Name, err)
				}
			}
			fire := replay(t, rs, filepath.Join(dir, "fire.jsonl"))
			if fire[r.Name] == 0 {
				t.Errorf("%s/fire.jsonl: rule %q did not fire (fired: %v)", slug, r.Name, firedNames(fire))
			}
			benign := replay(t, rs, filepath.Join(dir, "benign.jsonl"))
			if benign[r.Name] != 0 {
				t.Errorf("%s/benign.jsonl: rule %q fired %d times on the legitimate action", slug, r.Name, benign[r.Name])
			}
		})
	}
	ents, err := os.ReadDir(capturesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && !want[e.Name()] {
			t.Errorf("%s/%s: no default rule has this slug (renamed or removed rule?)", capturesDir, e.Name())
		}
	}
}

// corpusProbes are what the benign corpus must contain for its silence to
// mean something: each probe rule must match at least one of its events.
var corpusProbes = map[string]string{
	"shell entrypoint of a container":    `evt.type = execve and container.id != host and proc.name = sh and proc.vpid = 1`,
	"Docker health check exec":           `evt.type = execve and container.id != host and container.healthcheck != NONE and proc.vpid != 1 and proc.name = sh`,
	"health check process tagged":        `evt.type = execve and proc.is_container_healthcheck = true`,
	"runc init bind mount of its binary": `evt.type = mount and container.id != host and evt.arg.dev = /proc/self/exe and proc.exepath endswith /runc`,
	"> build.log in a build directory":   `evt.type in (open, openat, openat2) and evt.arg.flags contains O_TRUNC and fd.name endswith build.log`,
	"log rotation under /var/log":        `evt.type in (open, openat, openat2) and proc.name = logrotate and fd.name startswith /var/log/`,
	"package install below /usr/bin":     `evt.type in (open, openat, openat2, renameat, rename) and proc.name = dpkg and evt.args contains /usr/bin/vigil-benign-hello`,
	"containerd start":                   `evt.type = execve and container.type = containerd and proc.vpid = 1`,
	"CRI pod start, shell entrypoint":    `evt.type = execve and k8s.ns.name = vigil-benign and k8s.pod.label[app] = web and proc.vpid = 1 and proc.name = sh`,
}

// TestBenignCorpus replays the recording of ordinary operation
// (testdata/benign/workload.sh: Docker and containerd container starts with
// shell entrypoints, a health check, builds, a package install, log
// rotation; then a CRI pod as kubelet starts one; recorded by
// TestRecordBenign): no default rule may fire, and the
// corpus must hold each kind of activity it stands for.
func TestBenignCorpus(t *testing.T) {
	fired := replay(t, compileDefault(t), benignCorpus)
	for _, name := range firedNames(fired) {
		t.Errorf("default rule %q fired %d times on the benign corpus", name, fired[name])
	}
	var probes bytes.Buffer
	for name, cond := range corpusProbes {
		fmt.Fprintf(&probes, "- rule: %q\n  desc: probe\n  condition: %q\n  output: x\n  priority: INFO\n", name, cond)
	}
	prio := rules.PriorityDebug
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &prio}, rules.File{Name: "probes.yaml", Data: probes.Bytes()})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	seen := replay(t, rs, benignCorpus)
	for name := range corpusProbes {
		if seen[name] == 0 {
			t.Errorf("the benign corpus holds no %s (re-record it: testdata/record.sh benign-corpus)", name)
		}
	}
}

// attempts says for every default rule whether a failed syscall fires it
// (the attempt is the signal) or only a successful one, and why.
// docs/ruleset.md prints it; TestAttempts checks every rule has an entry
// and that the conditions agree.
var attempts = map[string][2]string{
	"Vigil Shell Spawned In Container":                    {"success", "an exec that failed ran nothing"},
	"Vigil Terminal Shell In Container":                   {"success", "an exec that failed ran nothing"},
	"Vigil Drop And Execute New Binary In Container":      {"success", "an exec that failed ran nothing"},
	"Vigil Fileless Execution Via Memfd":                  {"success", "an exec that failed ran nothing"},
	"Vigil Execution From Dev Shm":                        {"success", "an exec that failed ran nothing"},
	"Vigil Netcat Remote Shell":                           {"success", "an exec that failed ran nothing"},
	"Vigil System User Interactive":                       {"success", "an exec that failed ran nothing"},
	"Vigil Package Manager In Container":                  {"success", "an exec that failed ran nothing"},
	"Vigil Credential Search":                             {"success", "an exec that failed ran nothing"},
	"Vigil Bulk Data Removal":                             {"success", "an exec that failed ran nothing"},
	"Vigil Debugfs In Privileged Container":               {"success", "an exec that failed ran nothing"},
	"Vigil Sensitive File Read":                           {"attempt", "an unprivileged process denied /etc/shadow is hunting credentials"},
	"Vigil Directory Traversal To Sensitive File":         {"success", "a traversal that opens nothing is a scanner's probe, not a read"},
	"Vigil Write Below Etc In Container":                  {"success", "a failed open changed nothing; read-only root filesystems deny these all day"},
	"Vigil Write Below Binary Directory":                  {"success", "a failed open changed nothing"},
	"Vigil Log Files Cleared":                             {"success", "a failed open erased nothing"},
	"Vigil Symlink Over Sensitive File":                   {"success", "the link exists only if the call succeeded"},
	"Vigil Hardlink Over Sensitive File":                  {"success", "the link exists only if the call succeeded"},
	"Vigil Ptrace Attach":                                 {"attempt", "an attach refused by Yama or permissions is still an injection attempt"},
	"Vigil Ptrace Anti Debug":                             {"attempt", "TRACEME fails only under a debugger, which is what the malware tests"},
	"Vigil Kernel Module Loaded":                          {"attempt", "a module load from a container is an escape attempt even when refused"},
	"Vigil Release Agent Container Escape":                {"success", "release_agent opens for writing fail only without the hierarchy mounted"},
	"Vigil Namespace Change In Container":                 {"attempt", "an unprivileged container's unshare/setns fails with EPERM: the escape attempt is the signal"},
	"Vigil Mount In Container":                            {"attempt", "an unprivileged container's mount fails with EPERM: the escape attempt is the signal"},
	"Vigil Unexpected BPF Program Load":                   {"success", "unprivileged BPF_PROG_LOAD fails by default on every distribution; a loaded program is the rootkit"},
	"Vigil Userfaultfd In Container":                      {"attempt", "exploits probe for it; a refused call is the same intent"},
	"Vigil Packet Socket In Container":                    {"attempt", "a refused AF_PACKET socket is a sniffing attempt"},
	"Vigil Kubernetes API Contacted From Container":       {"success", "only an established (or in-progress) connection reached the API server"},
	"Vigil SSH To Non Standard Port":                      {"success", "only an established (or in-progress) connection is a channel"},
	"Vigil Crypto Miner Stratum Connection":               {"success", "only an established (or in-progress) connection mines"},
	"Vigil Standard Stream Redirected To Socket":          {"success", "a failed dup2 wired nothing"},
	"Vigil Payload Decoded In Container":                  {"success", "an exec that failed ran nothing"},
	"Vigil Cloud Metadata Access From Container":          {"attempt", "a request blocked by the network still shows a workload hunting node credentials"},
	"Vigil Port Scan From Container":                      {"attempt", "the refused connections are the scan"},
	"Vigil Download Then Execute":                         {"success", "an exec that failed ran nothing"},
	"Vigil Write Then Execute":                            {"success", "an exec that failed ran nothing"},
	"Vigil Shell Then Outbound Connection In Container":   {"attempt", "egress blocked by a network policy still shows the shell reaching out"},
	"Vigil Shell Configuration Modified":                  {"success", "a failed open changed nothing"},
	"Vigil Shell History Deleted":                         {"success", "the history is gone only if the call succeeded"},
	"Vigil Cron Job Scheduled":                            {"success", "a failed open scheduled nothing; an exec that failed ran nothing"},
	"Vigil SSH Authorized Keys Modified":                  {"success", "a failed open added no key"},
	"Vigil Setuid Or Setgid Bit Set":                      {"success", "a refused chmod set no bit"},
	"Vigil Executable Created In Container":               {"success", "a refused chmod or open created nothing"},
	"Vigil Process Environment Read In Container":         {"success", "a refused open leaked nothing (the kernel hides other users' environments)"},
	"Vigil Database Server Spawned Process":               {"success", "an exec that failed ran nothing"},
	"Vigil Remote Copy Or Cluster Client In Container":    {"success", "an exec that failed ran nothing"},
	"Vigil Privilege Escalation Exploit Attempt":          {"success", "the exploit runs inside the setuid program: its exec must succeed"},
	"Vigil Hidden File In Staging Directory":              {"success", "a refused create hid nothing"},
	"Vigil Privileged Or Host Mounting Container Started": {"attempt", "there is no failed form: a container event is made only for a container whose first process started"},
	"Vigil Package Database Modified":                     {"success", "a failed open changed nothing"},
	"Vigil Web Server Spawned Shell Or Tool":              {"success", "an exec that failed ran nothing"},
	"Vigil Block Device Opened In Container":              {"attempt", "an unprivileged container is refused by the device cgroup: trying to read the host's disk is the escape attempt"},
}

// successChecks are the condition fragments that restrict a rule to
// successful calls.
var successChecks = []string{"evt.res = SUCCESS", "evt.rawres >=", "evt.rawres in", "fd.num >= 0", "vigil_spawned_process", "vigil_open_write", "vigil_open_read and", "vigil_open_read\n"}

// TestAttempts: every default rule says whether a failed attempt fires it,
// and a rule that says so has no success check in its condition (one that
// needs success has one).
func TestAttempts(t *testing.T) {
	spec := rules.Load(defaultFiles()...)
	for _, r := range spec.Rules {
		a, ok := attempts[r.Name]
		if !ok {
			t.Errorf("%s: no entry in attempts (does a failed attempt fire it?)", r.Name)
			continue
		}
		cond := r.Cond.Text + "\n"
		checked := false
		for _, c := range successChecks {
			if strings.Contains(cond, c) {
				checked = true
			}
		}
		if a[0] == "attempt" && checked {
			t.Errorf("%s: documented to fire on failed attempts but its condition checks for success", r.Name)
		}
		if a[0] == "success" && !checked {
			t.Errorf("%s: documented to need success but its condition has no success check", r.Name)
		}
	}
}

// TestValidateDefault is `vigil rules validate` with no argument: the
// embedded ruleset loads with zero errors and zero warnings.
func TestValidateDefault(t *testing.T) {
	prio := rules.PriorityDebug
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &prio}, defaultFiles()...)
	for _, d := range rs.Diags {
		t.Errorf("%v", d)
	}
	if rs.Disabled != 0 || rs.Skipped != 0 {
		t.Errorf("disabled=%d skipped=%d, want every default rule compiled", rs.Disabled, rs.Skipped)
	}
}

var (
	mitreID   = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
	tuneMacro = regexp.MustCompile(`\bvigil_user_known_[a-z0-9_]+\b`)
)

// TestRuleConventions checks what every default rule promises: a MITRE
// ATT&CK technique id and tactic in its tags, a description, and a
// vigil_user_known_* tuning macro used by its condition.
func TestRuleConventions(t *testing.T) {
	spec := rules.Load(defaultFiles()...)
	if len(spec.Rules) == 0 {
		t.Fatal("no rules")
	}
	for _, r := range spec.Rules {
		var ids, tactics int
		for _, tag := range r.Tags {
			if mitreID.MatchString(tag) {
				ids++
			}
			if strings.HasPrefix(tag, "mitre_") {
				tactics++
			}
		}
		if ids == 0 || tactics == 0 {
			t.Errorf("%s: tags %v lack a MITRE technique id or mitre_ tactic", r.Name, r.Tags)
		}
		if len(strings.TrimSpace(r.Desc)) < 40 {
			t.Errorf("%s: description too short to explain the rule", r.Name)
		}
		if !tuneMacro.MatchString(r.Cond.Text) {
			t.Errorf("%s: condition uses no vigil_user_known_* tuning macro", r.Name)
		}
		if !strings.HasPrefix(r.Name, "Vigil ") {
			t.Errorf("%s: default rule names start with \"Vigil \" (no clash with Falco's)", r.Name)
		}
	}
	// Macros and lists live in one namespace with every file loaded after
	// the defaults: a Vigil name must never be one an upstream ruleset
	// defines (Falco's incubating file redefines user_known_* macros in
	// terms of its own never_true, which then does not exist at the
	// default's position).
	for _, m := range spec.Macros {
		if !strings.HasPrefix(m.Name, "vigil_") {
			t.Errorf("macro %s: default macro names start with vigil_", m.Name)
		}
	}
	for _, l := range spec.Lists {
		if !strings.HasPrefix(l.Name, "vigil_") {
			t.Errorf("list %s: default list names start with vigil_", l.Name)
		}
	}
}

// TestLoadsBeforeUpstreamTuningMacros reproduces loading Falco's
// incubating ruleset after the defaults: it redefines its tuning macros
// (user_known_package_manager_in_container among them) as (never_true),
// a macro of its own file. A default macro of the same name would be
// replaced in place, before never_true exists, and the load would fail.
func TestLoadsBeforeUpstreamTuningMacros(t *testing.T) {
	upstream := []byte(`- macro: never_true
  condition: (evt.num=0)
- macro: user_known_package_manager_in_container
  condition: (never_true)
- macro: user_known_shell_in_container
  condition: (never_true)
- list: shell_binaries
  items: [ash, bash, sh]
- rule: Upstream Package Manager
  desc: d
  condition: evt.type = execve and proc.name = apt and not user_known_package_manager_in_container
  output: pm (proc=%proc.name)
  priority: ERROR
`)
	files := append(defaultFiles(), rules.File{Name: "falco-incubating_rules.yaml", Data: upstream})
	rs := rules.LoadAndCompile(nil, files...)
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != len(rules.LoadAndCompile(nil, defaultFiles()...).Rules)+1 {
		t.Errorf("%d rules", len(rs.Rules))
	}
}

// TestLoadsWithFalcoRules loads Falco's upstream stable ruleset and the
// default ruleset together, as `vigil rules validate falco_rules.yaml
// rules/vigil_rules.yaml` does: no errors, no warnings, and no name of a
// rule, macro or list defined by both.
func TestLoadsWithFalcoRules(t *testing.T) {
	falco, err := os.ReadFile(shareddata.FalcoRules(t))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]rules.File{{Name: "falco_rules.yaml", Data: falco}}, defaultFiles()...)
	prio := rules.PriorityDebug
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &prio}, files...)
	for _, d := range rs.Diags {
		t.Errorf("%v", d)
	}
	up := rules.Load(rules.File{Name: "falco_rules.yaml", Data: falco})
	own := rules.Load(defaultFiles()...)
	names := map[string]bool{}
	for _, r := range up.Rules {
		names["rule "+r.Name] = true
	}
	for _, m := range up.Macros {
		names["macro "+m.Name] = true
	}
	for _, l := range up.Lists {
		names["list "+l.Name] = true
	}
	for _, r := range own.Rules {
		if names["rule "+r.Name] {
			t.Errorf("rule %q is also defined by Falco's ruleset", r.Name)
		}
	}
	for _, m := range own.Macros {
		if names["macro "+m.Name] {
			t.Errorf("macro %q is also defined by Falco's ruleset", m.Name)
		}
	}
	for _, l := range own.Lists {
		if names["list "+l.Name] {
			t.Errorf("list %q is also defined by Falco's ruleset", l.Name)
		}
	}
	if len(rs.Rules) != len(up.Rules)+len(own.Rules) {
		t.Errorf("compiled %d rules, want %d + %d", len(rs.Rules), len(up.Rules), len(own.Rules))
	}
}

// falcoCoverage maps every rule of Falco's upstream stable ruleset to the
// default rules that detect the same threat (docs/ruleset.md prints it;
// TestFalcoCoverage fails when an upstream rule is not mapped).
var falcoCoverage = [][2]string{
	{"Directory traversal monitored file read", "Vigil Directory Traversal To Sensitive File"},
	{"Read sensitive file trusted after startup", "Vigil Sensitive File Read"},
	{"Read sensitive file untrusted", "Vigil Sensitive File Read"},
	{"Run shell untrusted", "Vigil Shell Spawned In Container"},
	{"System user interactive", "Vigil System User Interactive"},
	{"Terminal shell in container", "Vigil Terminal Shell In Container"},
	{"Contact K8S API Server From Container", "Vigil Kubernetes API Contacted From Container"},
	{"Netcat Remote Code Execution in Container", "Vigil Netcat Remote Shell"},
	{"Search Private Keys or Passwords", "Vigil Credential Search"},
	{"Clear Log Activities", "Vigil Log Files Cleared"},
	{"Remove Bulk Data from Disk", "Vigil Bulk Data Removal"},
	{"Create Symlink Over Sensitive Files", "Vigil Symlink Over Sensitive File"},
	{"Create Hardlink Over Sensitive Files", "Vigil Hardlink Over Sensitive File"},
	{"Packet socket created in container", "Vigil Packet Socket In Container"},
	{"Redirect STDOUT/STDIN to Network Connection in Container", "Vigil Standard Stream Redirected To Socket"},
	{"Linux Kernel Module Injection Detected", "Vigil Kernel Module Loaded"},
	{"Debugfs Launched in Privileged Container", "Vigil Debugfs In Privileged Container"},
	{"Detect release_agent File Container Escapes", "Vigil Release Agent Container Escape"},
	{"PTRACE attached to process", "Vigil Ptrace Attach"},
	{"PTRACE anti-debug attempt", "Vigil Ptrace Anti Debug"},
	{"Find AWS Credentials", "Vigil Credential Search"},
	{"Execution from /dev/shm", "Vigil Execution From Dev Shm"},
	{"Drop and execute new binary in container", "Vigil Drop And Execute New Binary In Container"},
	{"Disallowed SSH Connection Non Standard Port", "Vigil SSH To Non Standard Port"},
	{"Fileless execution via memfd_create", "Vigil Fileless Execution Via Memfd"},
}

// TestFalcoCoverage: every upstream stable rule maps to an existing
// default rule.
func TestFalcoCoverage(t *testing.T) {
	own := map[string]bool{}
	for _, r := range rules.Load(defaultFiles()...).Rules {
		own[r.Name] = true
	}
	mapped := map[string]bool{}
	for _, m := range falcoCoverage {
		mapped[m[0]] = true
		if !own[m[1]] {
			t.Errorf("Falco rule %q maps to %q, which is not a default rule", m[0], m[1])
		}
	}
	falco, err := os.ReadFile(shareddata.FalcoRules(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.Load(rules.File{Name: "falco_rules.yaml", Data: falco}).Rules {
		if !mapped[r.Name] {
			t.Errorf("upstream Falco rule %q has no Vigil counterpart in falcoCoverage", r.Name)
		}
	}
}

// upstreamRule is one row of testdata/falco_upstream_rules.tsv: a rule of
// Falco's incubating or sandbox ruleset, the default rules that detect the
// same behaviour, and why there is none (or how Vigil's scope differs).
type upstreamRule struct {
	Ruleset, Name string
	Vigil         []string
	Note          string
}

// upstreamRules reads testdata/falco_upstream_rules.tsv.
func upstreamRules(t *testing.T) []upstreamRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "falco_upstream_rules.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []upstreamRule
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("falco_upstream_rules.tsv:%d: %d columns, want 4", i+1, len(f))
		}
		u := upstreamRule{Ruleset: f[0], Name: f[1], Note: f[3]}
		if f[2] != "" {
			u.Vigil = strings.Split(f[2], ";")
		}
		out = append(out, u)
	}
	return out
}

// TestUpstreamCoverage: every rule of Falco's incubating and sandbox
// rulesets (kept by name in testdata/falco_upstream_rules.tsv) maps to
// default rules that exist, or says why there is none.
func TestUpstreamCoverage(t *testing.T) {
	own := map[string]bool{}
	for _, r := range rules.Load(defaultFiles()...).Rules {
		own[r.Name] = true
	}
	count := map[string]int{}
	seen := map[string]bool{}
	for _, u := range upstreamRules(t) {
		count[u.Ruleset]++
		if seen[u.Ruleset+"/"+u.Name] {
			t.Errorf("%s rule %q listed twice", u.Ruleset, u.Name)
		}
		seen[u.Ruleset+"/"+u.Name] = true
		if u.Ruleset != "incubating" && u.Ruleset != "sandbox" {
			t.Errorf("%q: ruleset %q, want incubating or sandbox", u.Name, u.Ruleset)
		}
		if len(u.Vigil) == 0 && len(u.Note) < 30 {
			t.Errorf("%s rule %q has no Vigil counterpart and no written reason", u.Ruleset, u.Name)
		}
		for _, v := range u.Vigil {
			if !own[v] {
				t.Errorf("%s rule %q maps to %q, which is not a default rule", u.Ruleset, u.Name, v)
			}
		}
	}
	// The upstream files as read (falcosecurity/rules): 27 incubating and
	// 37 sandbox syscall rules.
	if count["incubating"] != 27 || count["sandbox"] != 37 {
		t.Errorf("rules listed: %v, want 27 incubating and 37 sandbox", count)
	}
}

// rulesetDoc renders docs/ruleset.md from the embedded ruleset.
func rulesetDoc(spec *rules.Spec, upstream []upstreamRule) []byte {
	var b bytes.Buffer
	b.WriteString("# Default ruleset\n\n")
	b.WriteString("<!-- Generated from rules/*.yaml by `go test ./rules -run TestRulesetDoc -update`. Do not edit. -->\n\n")
	b.WriteString("Vigil embeds `rules/vigil_rules.yaml` and `rules/vigil_stateful_rules.yaml` (rules that use the `sequence` and\n")
	b.WriteString("`threshold` keys, see [rules](rules.md#sequence-and-threshold-stateful-rules-vigil-extension)) and loads them\n")
	b.WriteString("before any `-r` file (`--no-default-rules` turns them off).\n")
	b.WriteString("Every rule is evaluated (not only the first match), comes with MITRE ATT&CK technique ids in its tags,\n")
	b.WriteString("and has a tuning macro named `vigil_user_known_*` that is false by default. To silence known-good activity,\n")
	b.WriteString("redefine the macro in your own rules file, loaded after the defaults:\n\n")
	b.WriteString("```yaml\n- macro: vigil_user_known_shell_in_container\n  condition: (container.image.repository = registry.example.com/debug-tools)\n  override:\n    condition: replace\n```\n\n")
	b.WriteString("Lists (`vigil_sensitive_files`, `vigil_package_managers`, `vigil_bpf_programs`, ...) can be extended the same way\n")
	b.WriteString("with `override: {items: append}`.\n\n")
	b.WriteString("Each rule is tested against real recordings: `rules/testdata/captures/<slug>/fire.jsonl` (the attack, recorded\n")
	b.WriteString("with `vigil trace --json`) must fire it and `benign.jsonl` (a similar legitimate action) must not.\n")
	b.WriteString("`rules/testdata/record.sh` re-records them as root (`go test ./rules -run TestRecord -record`).\n")
	b.WriteString("No default rule may fire on the benign corpus `rules/testdata/benign/corpus.jsonl.gz`: ordinary operation\n")
	b.WriteString("recorded from `rules/testdata/benign/workload.sh` (Docker and containerd container starts with shell entrypoints,\n")
	b.WriteString("runc's start-up mounts, a Docker health check, builds writing `> build.log`, a dpkg install, logrotate).\n\n")
	fmt.Fprintf(&b, "%d rules.\n\n", len(spec.Rules))
	b.WriteString("The *Attempts* column says whether a failed call fires the rule (the attempt is the signal) or only a\n")
	b.WriteString("successful one, and why.\n\n")
	b.WriteString("| Rule | Priority | MITRE ATT&CK | Tuning macro | Attempts |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range spec.Rules {
		var ids, tactics []string
		for _, tag := range r.Tags {
			if mitreID.MatchString(tag) {
				ids = append(ids, tag)
			} else if strings.HasPrefix(tag, "mitre_") {
				tactics = append(tactics, strings.TrimPrefix(tag, "mitre_"))
			}
		}
		att := attempts[r.Name]
		what := "fire on failure too"
		if att[0] == "success" {
			what = "success only"
		}
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s (%s) | `%s` | %s: %s |\n", r.Name, anchor(r.Name), r.Priority,
			strings.Join(ids, ", "), strings.Join(tactics, ", "), strings.Join(uniq(tuneMacro.FindAllString(r.Cond.Text, -1)), "`, `"), what, att[1])
	}
	b.WriteString("\n## Coverage of Falco's stable rules\n\n")
	b.WriteString("Every rule of Falco's upstream stable ruleset has a counterpart here (the upstream file also loads beside\n")
	b.WriteString("this one without name clashes). Rules with no Falco counterpart: ")
	var extra []string
	cover := map[string]bool{}
	for _, m := range falcoCoverage {
		cover[m[1]] = true
	}
	for _, u := range upstream {
		for _, v := range u.Vigil {
			cover[v] = true
		}
	}
	for _, r := range spec.Rules {
		if !cover[r.Name] {
			extra = append(extra, r.Name)
		}
	}
	b.WriteString(strings.Join(extra, ", ") + ".\n\n")
	b.WriteString("| Falco rule | Vigil rule |\n| --- | --- |\n")
	for _, m := range falcoCoverage {
		fmt.Fprintf(&b, "| %s | %s |\n", m[0], m[1])
	}
	mapped, reasons := 0, 0
	for _, u := range upstream {
		if len(u.Vigil) > 0 {
			mapped++
		} else {
			reasons++
		}
	}
	b.WriteString("\n## Coverage of Falco's incubating and sandbox rules\n\n")
	fmt.Fprintf(&b, "Every rule of Falco's incubating and sandbox rulesets (%d rules, listed by name in\n", len(upstream))
	b.WriteString("`rules/testdata/falco_upstream_rules.tsv`, checked by `TestUpstreamCoverage`) has a counterpart here or a written\n")
	fmt.Fprintf(&b, "reason why not: %d are covered, %d are not, mostly templates that need the operator's own lists or\n", mapped, reasons)
	b.WriteString("rules upstream ships disabled. Those files also load beside this one, for the rules not covered.\n\n")
	b.WriteString("| Ruleset | Falco rule | Vigil rule | Scope or reason |\n| --- | --- | --- | --- |\n")
	for _, u := range upstream {
		v := strings.Join(u.Vigil, ", ")
		if v == "" {
			v = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", u.Ruleset, strings.ReplaceAll(u.Name, "|", "\\|"), v, u.Note)
	}
	for _, r := range spec.Rules {
		fmt.Fprintf(&b, "\n## %s\n\n", r.Name)
		b.WriteString(strings.Join(strings.Fields(r.Desc), " "))
		fmt.Fprintf(&b, "\n\n- Priority: %s\n- Tags: %s\n- Tune: `%s`\n- Evidence: `rules/testdata/captures/%s/`\n",
			r.Priority, strings.Join(r.Tags, ", "), strings.Join(uniq(tuneMacro.FindAllString(r.Cond.Text, -1)), "`, `"), Slug(r.Name))
		if sq := r.Sequence; sq != nil {
			fmt.Fprintf(&b, "- Sequence: by %s within %s, after\n", sq.By, sq.Within)
			for _, st := range sq.Steps {
				fmt.Fprintf(&b, "  - `%s`: `%s`\n", st.As, strings.Join(strings.Fields(st.Cond.Text), " "))
			}
		}
		if th := r.Threshold; th != nil {
			distinct := ""
			if th.Distinct != "" {
				distinct = " with distinct " + th.Distinct
			}
			fmt.Fprintf(&b, "- Threshold: %d events%s within %s, by %s (once per window)\n", th.Count, distinct, th.Within, th.By)
		}
		fmt.Fprintf(&b, "- Condition:\n\n```\n%s\n```\n", strings.TrimSpace(r.Cond.Text))
	}
	return b.Bytes()
}

func anchor(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), " ", "-")
}

func uniq(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// TestRulesetDoc fails when docs/ruleset.md is not what the embedded
// ruleset generates (-update rewrites it).
func TestRulesetDoc(t *testing.T) {
	spec := rules.Load(defaultFiles()...)
	got := rulesetDoc(spec, upstreamRules(t))
	path := filepath.Join("..", "docs", "ruleset.md")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./rules -run TestRulesetDoc -update)", err)
	}
	if !bytes.Equal(have, got) {
		t.Errorf("docs/ruleset.md is stale: run go test ./rules -run TestRulesetDoc -update")
	}
	for _, r := range spec.Rules {
		if !bytes.Contains(have, []byte("## "+r.Name+"\n")) {
			t.Errorf("docs/ruleset.md does not describe %q", r.Name)
		}
	}
}

// TestTuningMacroOverride silences a rule the way docs/ruleset.md tells
// users to: a user_known_* macro redefined in a later file with
// override: condition: replace. The recorded attack then no longer fires
// the rule, and still fires it without the override.
func TestTuningMacroOverride(t *testing.T) {
	user := rules.File{Name: "user.yaml", Data: []byte(`
- macro: vigil_user_known_sensitive_file_read
  condition: (proc.name = cat and fd.name = /etc/shadow)
  override:
    condition: replace
`)}
	prio := rules.PriorityDebug
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &prio}, append(defaultFiles(), user)...)
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(capturesDir, "sensitive-file-read", "fire.jsonl")
	if n := replay(t, compileDefault(t), capture)["Vigil Sensitive File Read"]; n == 0 {
		t.Fatal("the recorded shadow read does not fire without the override")
	}
	if n := replay(t, rs, capture)["Vigil Sensitive File Read"]; n != 0 {
		t.Errorf("rule fired %d times although vigil_user_known_sensitive_file_read allows the action", n)
	}
}
