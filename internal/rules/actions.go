package rules

import (
	"slices"

	"gopkg.in/yaml.v3"
)

// Action is a response action a rule asks the agent to perform when it
// matches (the Vigil extension key `actions:`). Falco's own rules files
// never use it.
type Action string

// Response actions. Aliases are normalised on load: stop is
// kill_container, freeze is pause.
const (
	// ActionKill sends SIGKILL to the process that triggered the event.
	ActionKill Action = "kill"
	// ActionKillContainer kills every process of the event's container
	// cgroup. Never applied to host processes.
	ActionKillContainer Action = "kill_container"
	// ActionPause freezes the event's container cgroup (v2 cgroup.freeze,
	// else the v1 freezer). Never applied to host processes.
	ActionPause Action = "pause"
)

// actionNames maps the accepted spellings to actions.
var actionNames = map[string]Action{
	"kill": ActionKill, "kill_container": ActionKillContainer, "stop": ActionKillContainer,
	"pause": ActionPause, "freeze": ActionPause,
}

// ParseAction returns the action a name (or alias) stands for.
func ParseAction(s string) (Action, bool) {
	a, ok := actionNames[s]
	return a, ok
}

// ContainerOnly reports whether the action applies to a container (and is
// therefore refused for host processes).
func (a Action) ContainerOnly() bool { return a == ActionKillContainer || a == ActionPause }

func (a Action) String() string { return string(a) }

// actions parses a rule's `actions` value: a list of action names.
func (l *fileLoader) actions(n *yaml.Node, rule string) ([]Action, bool) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		l.diag(n, false, "rule", rule, "actions must be a list (kill, kill_container, stop, pause, freeze), got %s", kindName(n))
		return nil, false
	}
	var out []Action
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			l.diag(c, false, "rule", rule, "actions items must be strings, got %s", kindName(c))
			return nil, false
		}
		a, ok := ParseAction(c.Value)
		if !ok {
			l.diag(c, false, "rule", rule, "unknown action %q (want kill, kill_container, stop, pause or freeze)", c.Value)
			return nil, false
		}
		out = appendAction(out, a)
	}
	return out, true
}

// appendAction adds a to as unless it is already there.
func appendAction(as []Action, add ...Action) []Action {
	for _, a := range add {
		if !slices.Contains(as, a) {
			as = append(as, a)
		}
	}
	return as
}
