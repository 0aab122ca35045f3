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
