// Package queue is Vigil's one bounded queue: every stage that hands work
// to another goroutine (the outputs, the alert store, container lookups,
// image scans, response actions, prevention decisions) goes through a
// Queue, so every drop is counted, exported and reported the same way.
//
// Push never blocks: when the queue is full the item is dropped and
// counted. Queues made with an Overflow report there: /metrics gets
// vigil_queue_dropped_total{queue}, vigil_queue_length{queue} and
// vigil_queue_capacity{queue} for each (the queue names are fixed by the
// code and the configured outputs), and a drop raises the internal alert
// "Vigil queue overflow" (priority Error) with the queue's name and the
// drops since the last alert — at most one per queue per Interval, sent
// within the Overflow's delivery goroutine (Run), so reporting never
// re-enters the stage that dropped.
package queue
