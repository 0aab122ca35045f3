// Package output delivers alerts: a Dispatcher fans each alert out to the
// outputs (stdout, file, syslog, HTTP, program), each behind its own bounded
// queue and goroutine, so that a slow or hung output never delays the others
// or the caller. When an output's queue is full the alert is dropped for that
// output and counted; overflows are also reported as an internal alert (at
// most one per output per interval).
//
// Ownership: the caller builds the outputs, hands them to Dispatcher.Add,
// and from then on the Dispatcher owns them: Close drains the queues (until
// its context ends), then closes every output. Outputs' Write methods are
// called from one goroutine only, unless the output is Parallel (HTTP runs
// several requests at once).
package output
