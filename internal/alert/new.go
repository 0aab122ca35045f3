package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// TagInternal is the tag of every alert Vigil raises about itself.
const TagInternal = "vigil_internal"

// NewFinding returns an alert that is not a rule's match on one event: a
// finding of Vigil's own detectors (drift, a vulnerable running image, a
// prevention decision) or, through NewInternal, an alert about Vigil
// itself. It has a random UUID and count 1; the caller may add process and
// container context to Vigil. With engine.Match.Alert (rule matches), it
// is one of the two constructors of alerts.
func NewFinding(rule string, pri Priority, source, hostname string, t time.Time, tags []string, output string, fields ...Field) *Alert {
	return &Alert{UUID: NewUUID(), Time: t, Rule: rule, Priority: pri, Source: source, Hostname: hostname,
		Output: output, OutputFields: fields, Tags: tags, Vigil: Context{Count: 1}}
}

// NewInternal returns an alert Vigil raises about itself (source internal,
// tag vigil_internal): a queue that dropped, a reload that failed, a
// pipeline stage that panicked.
func NewInternal(rule string, pri Priority, hostname string, t time.Time, output string, fields ...Field) *Alert {
	return NewFinding(rule, pri, SourceInternal, hostname, t, []string{TagInternal}, output, fields...)
}

// EventUUID returns the UUID of the alert rule raises for one event: a
// version 8 (RFC 9562, name-based) UUID derived from the hostname, the rule
// name and the event's time, thread and type. The same match — live, or
// replayed from a capture of the same event — always gets the same UUID,
// so `vigil run` and `vigil replay` write the same bytes; two events never
// share one (no thread makes two syscalls in the same nanosecond).
func EventUUID(hostname, rule string, evTime int64, tid uint32, evType uint16) string {
	h := sha256.New()
	var n [14]byte
	binary.LittleEndian.PutUint64(n[0:8], uint64(evTime))
	binary.LittleEndian.PutUint32(n[8:12], tid)
	binary.LittleEndian.PutUint16(n[12:14], evType)
	h.Write([]byte(hostname))
	h.Write([]byte{0})
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write(n[:])
	var sum [sha256.Size]byte
	b := h.Sum(sum[:0])
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b[:16])
}

func formatUUID(b []byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:16])
	return string(s[:])
}
