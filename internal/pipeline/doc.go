// Package pipeline is Vigil's one event path:
//
//	Source (sensor or capture) → state.Apply (process tree, fd table)
//	  → container.Resolve → profile.Observe → recorder.Record → engine.Evaluate
//	  → Match.Alert → OnAlert
//	                      → Tap (trace's printer, the drift check)
//
// `vigil run` (internal/agent), `vigil trace`, `vigil replay` and the
// rules' capture tests all run events through a Pipeline, so an event gets
// the same context and a match the same alert everywhere.
//
// Types. A Pipeline is built for the event types its caller asked for
// (Options.Types; nil is every type). With a process table it also needs
// the process events (exec, fork, exit, ...) that keep the table true:
// SensorOptions asks the sensor for both, and the extra types stop after
// the table (they are neither evaluated nor tapped), so narrowing the types
// never leaves a process with the name it had before an exec. SensorOptions
// is also the one place where what the sensor sends is derived from the
// pipeline's configuration and the rules in force.
//
// Container events. With a container manager and a process table, the
// successful exec of a container's first process (pid 1 of its pid
// namespace) also makes the container's container event (type container,
// Falco's evt.type = container): once per container, with that exec's
// process, container and time, evaluated and tapped just before the exec,
// also when only container events are asked for. Without live enrichment
// (a capture) no container event is made: the capture carries the ones it
// recorded.
//
// The flight recorder (Options.Recorder, package recorder) keeps the recent
// events of each container and host process tree; OnAlert's caller asks it
// for the incident of an alert it delivers.
//
// Faults. Each per-event stage (state, container, profile, recorder, engine, tap) is guarded
// (package guard): a panic is recovered, counted (vigil_panics_total{stage})
// and reported as an internal alert (rule "Vigil stage panic", rate
// limited), and the event goes on to the next stage; the next event is
// processed as usual.
//
// Concurrency. Handle is called from one goroutine (the source's); Swap of
// the engine's rules may happen from any goroutine.
package pipeline
