// Package state keeps the process table and the per-process fd tables, and
// enriches events with them: it is the "enrich (process tree, fd table)"
// stage of sensor → enrich → engine.
//
// A Table is seeded from /proc at start (Seed) and then kept up to date by
// the events themselves: Apply updates the table from one event (fork, exec,
// exit, open, socket, connect, dup, close, chdir, ...) and sets ev.Proc and
// ev.FDInfo to the state after the event, with Falco's semantics (see
// ../shared/falco/FIELDS.md): on an exec ev.Proc describes the new image,
// on an open ev.FDInfo describes the new fd, a failed open gets an FDInfo
// rebuilt from the event arguments with Num -1.
//
// Ownership and concurrency. Apply is called from one goroutine (the
// pipeline). ev.Proc points into the table: Apply mutates a process entry in
// place (exec, chdir, uid changes), so ev.Proc and its Parent chain may only
// be read by the goroutine that calls Apply (or under its control, before
// the next Apply). FDInfo values are immutable once published: a change to an
// fd replaces its entry, so ev.FDInfo stays valid and unchanged forever.
// Lookup, LookupFD, Processes and Stats may be called from any goroutine;
// they return copies taken under a read lock.
//
// Processes are keyed by thread group id; threads map to their tgid. Unknown
// processes and fds are resolved lazily from /proc on first use; a process
// /proc does not know becomes a placeholder whose Comm and Exe are "<NA>",
// as in Falco. Exited processes are reaped at the start of the Apply that
// follows their exit event (the exit event itself is still enriched), and
// only when the thread group leader exits; their children are then
// re-parented from /proc. Parent chains never cycle. Sweep removes
// processes whose exit event was lost.
//
// Both tables are bounded (Config); the least recently used processes are
// evicted first and every eviction, /proc lookup and miss is counted in
// Stats.
package state
