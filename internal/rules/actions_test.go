package rules

import (
	"slices"
	"strings"
	"testing"
)

const actionRule = `
- rule: Shell
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: shell (pid=%proc.pid)
  priority: WARNING
  actions: [kill, freeze]
`

func TestActionsKey(t *testing.T) {
	rs := load(t, actionRule)
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	r := ruleByName(rs, "Shell")
	if !slices.Equal(r.Actions, []Action{ActionKill, ActionPause}) {
		t.Fatalf("actions %v", r.Actions)
	}
	// Rules without the key have none.
	rs = load(t, strings.Replace(actionRule, "  actions: [kill, freeze]\n", "", 1))
	if r := ruleByName(rs, "Shell"); r == nil || r.Actions != nil {
		t.Fatalf("rule without actions: %+v", r)
	}
}

func TestActionsOverrideAppend(t *testing.T) {
	for _, tc := range []struct {
		name, second string
		want         []Action
	}{
		{"append adds without duplicates", `
- rule: Shell
  actions: [stop, kill]
  override: {actions: append}
`, []Action{ActionKill, ActionPause, ActionKillContainer}},
		{"replace", `
- rule: Shell
  actions: [kill_container]
  override: {actions: replace}
`, []Action{ActionKillContainer}},
		{"replace with empty removes them", `
- rule: Shell
  actions: []
  override: {actions: replace}
`, nil},
		{"deprecated append: true appends", `
- rule: Shell
  condition: and proc.pid > 0
  actions: [stop]
  append: true
`, []Action{ActionKill, ActionPause, ActionKillContainer}},
		{"other overrides keep them", `
- rule: Shell
  priority: ERROR
  override: {priority: replace}
`, []Action{ActionKill, ActionPause}},
		{"redefinition without the key drops them", `
- rule: Shell
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: shell
  priority: WARNING
`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := load(t, actionRule, tc.second)
			if err := rs.Err(); err != nil {
				t.Fatal(err)
			}
			if got := ruleByName(rs, "Shell").Actions; !slices.Equal(got, tc.want) {
				t.Fatalf("actions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestActionsErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"- rule: X\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n  actions: kill\n", "f0.yaml:6:12: "},
		{"- rule: X\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n  actions: [[kill]]\n", "f0.yaml:6:13: "},
	} {
		rs := load(t, tc.doc)
		err := rs.Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.doc, err, tc.want)
		}
	}
	// An append of an unknown action reports the appended file.
	rs := load(t, actionRule, "- rule: Shell\n  actions: [nuke]\n  override: {actions: append}\n")
	if err := rs.Err(); err == nil || !strings.Contains(err.Error(), "f1.yaml:2:13: ") {
		t.Errorf("append unknown: %v", err)
	}
	if got := ruleByName(rs, "Shell").Actions; !slices.Equal(got, []Action{ActionKill, ActionPause}) {
		t.Errorf("failed append changed actions: %v", got)
	}
}
