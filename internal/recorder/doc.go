// Package recorder is the agent's flight recorder: the incident context of
// an alert.
//
// The pipeline (stage "recorder", after enrichment and before the rules)
// calls Record for every event it evaluates. The recorder keeps, per
// container and per host process tree (the tree under the ancestor just
// below init), a ring of the recent events — the execs, file events and
// connections, not bookkeeping such as close, dup or fork — bounded by age
// (Options.Window), by count (MaxEvents per ring), by memory (MaxBytes for
// all rings, an accounted size per event) and by the number of rings
// (MaxRings). Every eviction is counted by reason in
// vigil_recorder_evictions_total{reason="age|count|bytes|ring"}.
//
// When the agent delivers a rule alert it calls Alert: the incident
// (alert.Incident) gets the ring's events whose process is in the alert's
// ancestry or a child of one of them, marks the event that raised the
// alert, and goes to Options.Sink at once (Complete false). For
// Options.After the events that follow in the same ring are added (a child
// started meanwhile joins the set), then the incident goes to the sink again,
// Complete true; the store replaces the first form by UUID. Expire (every
// second) closes incidents when no event arrives, Close at shutdown.
//
// Cost: Record copies a few words and string headers (the sensor allocates
// an event's strings per event, so keeping them copies nothing) under an
// uncontended mutex; BenchmarkPipelineRecorder compares the pipeline with
// and without it in the same run.
//
// Concurrency: Record and Alert are called on the event goroutine, Expire
// and Close from others; a mutex guards the rings. The sink is called
// without the mutex and must not block.
package recorder
