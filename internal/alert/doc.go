// Package alert defines the Alert that the rules engine raises and every
// output delivers, with its two wire forms: Falco's JSON (what falcosidekick
// and Falco consumers expect, plus a "uuid" and a "vigil" object with Vigil's
// own context) and a one-line text form with control characters escaped.
//
// It also holds the noise-control stage (Coalescer) that folds identical
// alerts raised within a window into one alert with a count.
//
// An Alert is immutable once handed to the delivery pipeline: outputs and
// the store read it concurrently and never modify it.
package alert
