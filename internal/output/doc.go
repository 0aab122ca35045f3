// Package output delivers alerts: a Dispatcher fans each alert out to the
// outputs (stdout, file, syslog, HTTP, program), each behind its own bounded
// queue and goroutine, so that a slow or hung output never delays the others
// or the caller. Each queue is a queue.Queue named "output.NAME": when it is
// full the alert is dropped for that output, counted and reported through
// Options.Overflow (metrics, the rate-limited internal alert).
//
// Ownership: the caller builds the outputs, hands them to Dispatcher.Add,
// and from then on the Dispatcher owns them: Close drains the queues (until
// its context ends), then closes every output. Outputs' Write methods are
// called from one goroutine only, unless the output is Parallel (HTTP runs
// several requests at once).
package output
