// Package engine evaluates a compiled rules.Ruleset against enriched
// events and formats the alerts of the rules that match.
//
// Rules are indexed by event type: a rule whose condition constrains
// evt.type runs only for those types, the others for every event. Each
// rule is compiled once per event type it runs for (program.go: evt.type
// decided, operands ordered by estimated cost, comparisons specialised)
// and the string fields several rules of a type test are indexed
// (index.go); Evaluate reports exactly the rules whose conditions, as
// written, hold (Matches evaluates them as written: the reference). The
// evaluation of an event that matches no rule allocates nothing. The
// ruleset can be replaced while events flow (Swap, atomic); Evaluate
// itself is meant for one goroutine (it reuses scratch space), so run one
// Engine per worker.
//
// Stateful rules (rules.Rule.State: sequences and thresholds) keep their
// state in the Engine, owned by the evaluating goroutine: per rule and key
// (process, process tree, container, pod), bounded by
// Options.StateMaxEntries and StateMaxBytes with least-recently-updated
// eviction, expired by event time (never the wall clock, so a replay gives
// the alerts the live run gave). After Swap, the evaluating goroutine keeps
// the state of every stateful rule whose definition hash is unchanged and
// drops the rest. StateStats may be read from any goroutine.
package engine
