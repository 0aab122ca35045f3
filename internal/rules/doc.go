// Package rules loads, parses and compiles rules written in Falco's rule
// language.
//
// Loading (Load, LoadFiles) turns YAML files into a Spec: lists, macros
// and rules in definition order with Falco's merge semantics applied
// (later definitions replace earlier ones, `override: {key: append|replace}`
// and the deprecated `append: true` extend them, a rule item with only
// `enabled` toggles a rule). A Spec does not depend on the kernel or on
// the field registry; conditions are kept as text with their positions.
//
// Compiling (Compile) parses every condition, expands lists (in list
// values) and macros (by AST substitution: a macro sees the macros defined
// before it), expands exceptions into `and not (...)`, type-checks each
// comparison against the field registry in package event and prepares
// constants for evaluation (sets, regexes, CIDRs). The result, a Ruleset,
// is immutable and is evaluated by package engine.
//
// The Vigil extension keys `sequence` and `threshold` make a rule stateful
// (Rule.State: the compiled steps, the key, the window, a hash of the
// definition); fields of an earlier step are operands with Step > 0.
// Falco's files never use them.
//
// Every problem is a Diagnostic carrying file:line:col; loading and
// compiling never panic on bad input, and nesting is bounded by MaxDepth.
package rules
