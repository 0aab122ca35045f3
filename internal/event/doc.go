// Package event defines Vigil's event model: the typed events that the sensor
// produces, the table of event definitions that drives the sensor, the
// decoders and the documentation, and the enrichment (process, fd, container)
// that the pipeline attaches before rules are evaluated.
//
// Data flows one way: sensor → enrich → engine → actions and outputs. This
// package is imported by all of them and imports none of them.
package event
