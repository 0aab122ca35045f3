// Package engine evaluates a compiled rules.Ruleset against enriched
// events and formats the alerts of the rules that match.
//
// Rules are indexed by event type: a rule whose condition constrains
// evt.type runs only for those types, the others for every event. The
// evaluation of an event that matches no rule allocates nothing. The
// ruleset can be replaced while events flow (Swap, atomic); Evaluate
// itself is meant for one goroutine (it reuses scratch space), so run one
// Engine per worker.
package engine
