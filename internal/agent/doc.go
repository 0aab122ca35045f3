// Package agent wires Vigil's pipeline for `vigil run`:
//
//	sensor → pipeline.Pipeline (state.Apply, container.Resolve,
//	         engine.Evaluate, Match.Alert) → coalescer → outputs (Dispatcher)
//	         + alert store
//
// plus the HTTP endpoint (/healthz, /metrics, /api/alerts, the web console
// at /console/ over the agent's store, console.go), rules reload (SIGHUP,
// file changes, the console's admin) and output reopen (SIGUSR1).
//
// The flight recorder (recorder.go, package recorder) is a pipeline stage;
// each rule alert the agent delivers gets its incident, stored with it
// (first at once, then complete after recorder.after); open incidents are
// closed and stored at shutdown, before the store stops.
//
// New builds everything that needs no privilege (config → outputs, store,
// rules, engine, metrics) and fails on a bad configuration or a broken rules
// file; Check runs the same loading for `vigil config validate`. The alert
// store is auxiliary: one that cannot be opened is retried while the agent
// runs without it (alertstore.go). Run loads the sensor (root), seeds the process table, starts the
// container manager and the rest, and processes events until its context
// ends. Shutdown order: the sensor is detached and drained, the coalescer
// emits its pending counts, the outputs are flushed (bounded by
// Options.DrainTimeout) and closed, then the store is flushed and closed.
//
// Faults the agent survives and reports (internal alerts, /healthz,
// /metrics): a reload that fails or panics keeps the rules in force; the
// fanotify gate dying or freezing (gatehealth.go); the store's filesystem
// full; a flood of HTTP connections (capped, descriptors budgeted in
// fdlimit.go).
//
// The event callback runs on the sensor's goroutine and allocates nothing
// for an event that matches no rule; the rest of the pipeline is fed through
// bounded queues that never block it.
package agent
