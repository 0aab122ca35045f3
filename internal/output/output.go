package output

import (
	"context"
	"fmt"

	"github.com/vigilsec/vigil/internal/alert"
)

// Output is one alert destination.
type Output interface {
	// Name identifies the output in metrics and logs ("file", "http").
	Name() string
	// Write delivers one alert. ctx is cancelled when shutdown gives up
	// waiting. It is called from one goroutine only, unless the output
	// implements Parallel.
	Write(ctx context.Context, a *alert.Alert) error
	// Close flushes and releases the output.
	Close() error
}

// Batcher is an Output that prefers alerts in batches (the HTTP output in
// batch mode). The dispatcher hands it up to BatchSize alerts at a time, or
// fewer after BatchInterval.
type Batcher interface {
	Output
	WriteBatch(ctx context.Context, as []*alert.Alert) error
	BatchSize() int
	BatchInterval() (ns int64)
}

// Parallel is an Output whose Write (and WriteBatch) may run on several
// goroutines at once; the dispatcher runs Workers of them on its queue.
type Parallel interface {
	Workers() int
}

// Reopener is an Output that reopens its destination on request (the file
// output, on SIGUSR1, after logrotate moved the file).
type Reopener interface {
	Reopen() error
}

// Buffered is an Output that can hold alerts in memory between system
// calls (the file output). Its queue hands it alerts with WriteBuffered and
// calls Flush whenever the queue is empty (or after flushEvery alerts): an
// idle output holds nothing back, a busy one writes many alerts in one
// system call. The alerts count as sent once flushed. Write keeps its
// unbuffered meaning for direct callers.
type Buffered interface {
	WriteBuffered(ctx context.Context, a *alert.Alert) error
	Flush() error
}

// flushEvery bounds how many alerts a Buffered output holds.
const flushEvery = 256

// Format is the wire form an output writes.
type Format uint8

const (
	// FormatText is the one-line text form (alert.AppendText).
	FormatText Format = iota
	// FormatJSON is the Falco JSON form (alert.AppendJSON).
	FormatJSON
)

// ParseFormat parses "text" or "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "text", "":
		return FormatText, nil
	case "json":
		return FormatJSON, nil
	}
	return FormatText, fmt.Errorf("unknown output format %q (want text or json)", s)
}

// appendAlert appends a in format f, with a trailing newline.
func appendAlert(b []byte, a *alert.Alert, f Format) []byte {
	if f == FormatJSON {
		b = a.AppendJSON(b)
	} else {
		b = a.AppendText(b)
	}
	return append(b, '\n')
}
