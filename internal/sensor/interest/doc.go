// Package interest compiles a loaded ruleset into the sensor's interest
// (sensor.Interest): the event types the rules can match plus those the
// consumer needs for itself, the in-kernel open filter (path prefixes
// and access modes) that drops only opens no rule can match, and the
// connect filter (the socket families the rules name). It is kept
// apart from package sensor so that the sensor does not depend on the
// rules compiler.
package interest
