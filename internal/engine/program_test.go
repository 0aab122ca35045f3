package engine

import (
	"slices"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
)

// TestCompiledMatchesReferenceOnRuleConstants compares the compiled program
// with the conditions as written (Matches) on events built to reach deep
// into the rules: the benchmark's stream with each string constant the
// default ruleset compares fd.name, fd.directory, fd.filename, fd.nameraw,
// proc.name or proc.pname with put in that field, in containers and on the
// host, as reads, writes, failed opens and execs.
func TestCompiledMatchesReferenceOnRuleConstants(t *testing.T) {
	e := fullEngine(t)
	rs := e.Ruleset()
	consts := map[string][]string{}
	seen := map[string]bool{}
	var walk func(x rules.Expr)
	walk = func(x rules.Expr) {
		switch x := x.(type) {
		case *rules.And:
			for _, y := range x.Xs {
				walk(y)
			}
		case *rules.Or:
			for _, y := range x.Xs {
				walk(y)
			}
		case *rules.Not:
			walk(x.X)
		case *rules.Cached:
			walk(x.X)
		case *rules.Cmp:
			if x.L.Field == nil || x.L.Type != event.FieldString {
				return
			}
			for _, s := range x.Strs {
				k := x.L.Field.Name + "\x00" + s
				if !seen[k] {
					seen[k] = true
					consts[x.L.Field.Name] = append(consts[x.L.Field.Name], s)
				}
			}
		}
	}
	for _, r := range rs.Rules {
		walk(r.Cond)
	}
	templates := mixedStream()[:20]
	var evs []*event.Event
	add := func(ev event.Event, mut func(*event.Event)) {
		cp := ev
		if ev.Proc != nil {
			p := *ev.Proc
			cp.Proc = &p
		}
		if ev.FDInfo != nil {
			fi := *ev.FDInfo
			cp.FDInfo = &fi
		}
		mut(&cp)
		evs = append(evs, &cp)
	}
	setName := func(ev *event.Event, name string) {
		ev.Path = name
		if ev.FDInfo != nil {
			ev.FDInfo.Name, ev.FDInfo.NameRaw = name, name
		}
	}
	for _, tpl := range templates {
		for _, host := range []bool{false, true} {
			base := *tpl
			if host {
				base.Container = &event.Container{ID: "host"}
			} else {
				base.Container = container()
			}
			for _, c := range consts["fd.name"] {
				add(base, func(ev *event.Event) { setName(ev, c) })
				add(base, func(ev *event.Event) { setName(ev, c); ev.Flags = 0o1101 }) // write, create, truncate
				add(base, func(ev *event.Event) { setName(ev, c); ev.Ret, ev.FDInfo = -2, nil })
			}
			for _, c := range consts["fd.directory"] {
				add(base, func(ev *event.Event) { setName(ev, c+"/x"); ev.Flags = 0o1101 })
			}
			for _, c := range consts["fd.filename"] {
				add(base, func(ev *event.Event) { setName(ev, "/tmp/"+c); ev.Flags = 0o1101 })
			}
			for _, c := range consts["fd.nameraw"] {
				add(base, func(ev *event.Event) { setName(ev, "/srv/www/"+c+"../../etc/shadow") })
			}
			for _, c := range consts["proc.name"] {
				add(base, func(ev *event.Event) { ev.Comm, ev.Proc.Comm = c, c })
			}
			for _, c := range consts["proc.pname"] {
				add(base, func(ev *event.Event) {
					par := *ev.Proc.Parent
					par.Comm = c
					ev.Proc.Parent = &par
				})
			}
		}
	}
	matches := 0
	for _, ev := range evs {
		var got, want []string
		e.Evaluate(ev, func(m *Match) {
			if m.Rule.State == nil {
				got = append(got, m.Rule.Name)
			}
		})
		for _, r := range e.RulesFor(ev.Type) {
			if r.State == nil && e.Matches(r, ev) {
				want = append(want, r.Name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s event fd.name=%q proc.name=%q container=%s: compiled program matched %q, the conditions as written %q",
				ev.Type, ev.Path, ev.Comm, ev.Container.ID, got, want)
		}
		matches += len(want)
	}
	t.Logf("%d events, %d matches", len(evs), matches)
	if matches < 100 {
		t.Fatalf("%d matches over %d events: the events do not reach the rules", matches, len(evs))
	}
}

// TestTypeFreeRulesCompiledOnce: a rule without evt.type comparison runs
// for every event type; it is compiled once, not once per type, and still
// gives the result of its condition as written on every type.
func TestTypeFreeRulesCompiledOnce(t *testing.T) {
	src := `
- macro: web
  condition: proc.name in (nginx, python3)
- rule: Web Reads Etc
  desc: d
  condition: web and fd.name startswith /etc/ and not fd.name in (/etc/hosts)
  output: o %proc.name
  priority: WARNING
  warn_evttypes: false
- rule: Node Anywhere
  desc: d
  condition: proc.name = node and container.id != host
  output: o %proc.name
  priority: WARNING
  warn_evttypes: false
- rule: Typed
  desc: d
  condition: evt.type = openat and proc.name = java
  output: o %proc.name
  priority: WARNING
`
	rs := rules.LoadAndCompile(nil, rules.File{Name: "free.yaml", Data: []byte(src)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	e := New(rs, &Options{Users: staticUsers{}})
	p := e.prog.Load()
	conj := func(ty event.Type, name string) *cond {
		for _, rp := range p.progs[ty] {
			if rp.rule.Name == name && len(rp.conj) > 0 {
				return &rp.conj[0]
			}
		}
		t.Fatalf("%s: no compiled rule %q", ty, name)
		return nil
	}
	for _, name := range []string{"Web Reads Etc", "Node Anywhere"} {
		// On openat three rules test proc.name: the index takes that
		// test out there, a second compiled form.
		if a, b, c := conj(event.TypeClose, name), conj(event.TypeExecve, name), conj(event.TypeConnect, name); a != b || b != c {
			t.Errorf("%q compiled once per type", name)
		}
		if conj(event.TypeOpenat, name) == conj(event.TypeClose, name) || p.index[event.TypeOpenat] == nil {
			t.Errorf("%q: openat's index did not take proc.name out", name)
		}
	}
	matches := 0
	for _, ev := range mixedStream() {
		for _, name := range []string{"/etc/passwd", "/etc/hosts", ev.Path} {
			cp := *ev
			cp.Path = name
			if ev.FDInfo != nil {
				fi := *ev.FDInfo
				fi.Name = name
				cp.FDInfo = &fi
			}
			var got, want []string
			e.Evaluate(&cp, func(m *Match) { got = append(got, m.Rule.Name) })
			for _, r := range e.RulesFor(cp.Type) {
				if e.Matches(r, &cp) {
					want = append(want, r.Name)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s %s fd.name=%q: compiled %q, as written %q", cp.Type, cp.Comm, name, got, want)
			}
			matches += len(want)
		}
	}
	if matches == 0 {
		t.Fatal("no match: the events do not reach the rules")
	}
}
