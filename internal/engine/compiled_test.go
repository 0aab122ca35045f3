package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hostnames"
	"github.com/vigilsec/vigil/internal/k8saudit"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/shareddata"
	defaultrules "github.com/vigilsec/vigil/rules"
)

// everyRule compiles Falco's stable and Kubernetes audit rulesets and
// Vigil's default rules, every rule enabled (Falco's disabled ones too) and
// every priority kept, so that the comparison covers every condition.
func everyRule(t *testing.T) *rules.Ruleset {
	t.Helper()
	var files []rules.File
	for _, path := range []string{shareddata.FalcoRules(t), shareddata.K8sAuditRules(t)} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, rules.File{Name: filepath.Base(path), Data: b})
	}
	for _, f := range defaultrules.Default() {
		files = append(files, rules.File{Name: f.Name, Data: f.Data})
	}
	spec := rules.Load(files...)
	for _, r := range spec.Rules {
		r.Enabled = true
	}
	prio := rules.PriorityDebug
	rs := rules.Compile(spec, &rules.CompileOptions{MinPriority: &prio,
		Hosts: hostnames.New(&hostnames.Options{Lookup: hostnames.StaticLookup(nil)})})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

// matcher compares, event by event, the rules Engine.Evaluate reports (the
// compiled program: conditions specialised by event type, operands
// reordered, comparisons merged) with the stateless rules whose condition
// as written holds (Engine.Matches, the reference).
type matcher struct {
	t        *testing.T
	ref      *engine.Engine
	rs       *rules.Ruleset
	got      []string
	events   int
	matches  int
	failures int
}

func (m *matcher) onMatch(mt *engine.Match) {
	if mt.Rule.State == nil {
		m.got = append(m.got, mt.Rule.Name)
	}
}

func (m *matcher) check(where string, ev *event.Event) {
	var want []string
	for _, r := range m.rs.Rules {
		if r.State == nil && r.Types.Has(ev.Type) && m.ref.Matches(r, ev) {
			want = append(want, r.Name)
		}
	}
	slices.Sort(want)
	slices.Sort(m.got)
	if !slices.Equal(m.got, want) {
		m.failures++
		if m.failures <= 10 {
			m.t.Errorf("%s: %s event at %d: compiled program matched %q, the conditions as written %q", where, ev.Type, ev.Time, m.got, want)
		}
	}
	m.events++
	m.matches += len(want)
	m.got = m.got[:0]
}

// TestCompiledMatchesReference replays every recorded capture in the
// repository (each default rule's attack and benign look-alike, the benign
// corpus) and the Kubernetes audit test events through Falco's stable and
// audit rules and Vigil's, and checks that the compiled program reports
// exactly the rules whose conditions hold.
func TestCompiledMatchesReference(t *testing.T) {
	rs := everyRule(t)
	m := &matcher{t: t, rs: rs, ref: engine.New(rs, &engine.Options{Hostname: "test"})}
	captures, err := filepath.Glob("../../rules/testdata/*/*/*.jsonl*")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../rules/testdata/*/*.jsonl*")
	captures = append(captures, more...)
	if len(captures) < 50 {
		t.Fatalf("%d captures found, want the recorded ones under rules/testdata", len(captures))
	}
	for _, path := range captures {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if strings.HasSuffix(path, ".gz") {
			if r, err = gzip.NewReader(f); err != nil {
				t.Fatal(err)
			}
		}
		p := pipeline.New(pipeline.Options{Engine: engine.New(rs, &engine.Options{Hostname: "test"}), Hostname: "test",
			OnAlert: func(_ *event.Event, mt *engine.Match, _ *alert.Alert) { m.onMatch(mt) },
			Tap:     func(ev *event.Event) { m.check(path, ev) }})
		if err := p.Run(context.Background(), pipeline.NewCaptureSource(r, path)); err != nil {
			t.Fatalf("replay %s: %v", path, err)
		}
		f.Close()
	}
	syscallMatches := m.matches

	audit, err := filepath.Glob("../k8saudit/testdata/*.json")
	if err != nil || len(audit) == 0 {
		t.Fatalf("no audit test events: %v", err)
	}
	e := engine.New(rs, &engine.Options{Hostname: "test"})
	var d k8saudit.Decoder
	for _, path := range audit {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + string(bytes.TrimSpace(b)) + `]}`)
		if _, err := d.Batch(body, func(ev *event.Event) {
			e.Evaluate(ev, m.onMatch)
			m.check(path, ev)
		}); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	t.Logf("%d events, %d matches (%d of the audit events)", m.events, m.matches, m.matches-syscallMatches)
	if syscallMatches == 0 || m.matches == syscallMatches {
		t.Fatalf("%d syscall and %d audit matches: the captures should make rules of both sources fire", syscallMatches, m.matches-syscallMatches)
	}
}
