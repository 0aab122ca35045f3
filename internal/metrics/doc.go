// Package metrics is a small Prometheus registry written for Vigil's hot
// path: counters and gauges are atomics (no allocation, no lock per
// increment), labelled families resolve their children once (With returns a
// *Counter to keep), and collectors read other components' counters at
// scrape time. WriteText renders the Prometheus text exposition format
// (version 0.0.4).
//
// There is no global registry: the agent builds one and passes it down.
package metrics
