// Package fleet is the agent's side of the fleet: the link from one node
// to the hub over NATS JetStream, and the wire types agents and hub share.
//
// A Client publishes on the node's own subjects (vigil.alert.NODE,
// vigil.incident.NODE, vigil.heartbeat.NODE, vigil.ack.NODE,
// vigil.profile.NODE) of the stream VIGIL. Alerts go
// through Output, one output of the agent's output.Dispatcher (the "hub"
// output, behind its bounded queue like every other): each is published
// with its JetStream message id (MsgID: the alert's UUID), so a copy sent
// twice is dropped by the stream, and the hub's store drops a copy by UUID
// again. While the hub is unreachable (or the stream does not answer)
// alerts go to the Spool, a bounded FIFO of segment files on disk (0700
// directory, 0600 files created O_EXCL|O_NOFOLLOW, drops counted as the
// queue "fleet.spool"); once anything is spooled every later alert queues
// behind it, and the drain publishes oldest first and removes a record
// only after the stream acknowledged it: in order, nothing lost, nothing
// duplicated. Incidents (SendIncident: the flight recorder's events
// around an alert) take the same path behind a bounded queue
// ("fleet.incidents"), published in batches; an incident's first form
// waits Options.IncidentHold for its complete form, which supersedes it,
// and is sent alone only when that does not come (held and queued
// incidents go to the spool at stop). Heartbeats are not spooled (a stale one tells
// nothing).
//
// Rules come back through the JetStream key-value bucket RulesBucket: the
// client watches RulesKey and hands each newer Bundle to
// Options.ApplyRules, then acknowledges it (Ack) with the positioned
// errors (Diagnostic, from rules.Diagnostics) when it was refused.
//
// Ownership: Connect opens the spool and starts connecting; the caller
// runs Run in a goroutine, and calls Close after the dispatcher that owns
// Output is closed (Output.Close does nothing).
package fleet
