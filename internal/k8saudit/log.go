package k8saudit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// MaxLineBytes bounds one line of an audit log.
const MaxLineBytes = 16 << 20

// ReadLog reads an audit log (one audit.k8s.io/v1 Event per line, as the
// API server's log backend writes it; blank lines are skipped) and calls fn
// for each event until ctx is done. A malformed line stops the read with an
// error naming name and the line.
func ReadLog(ctx context.Context, r io.Reader, name string, fn func(*event.Event)) error {
	var d Decoder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := d.Batch(b, fn); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return nil
}

// IsLog reports whether the first non-blank line of head is an audit
// event (kind Event, apiVersion audit.k8s.io/...), to tell audit logs from
// Vigil captures.
func IsLog(head []byte) bool {
	for _, l := range bytes.Split(head, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		var p fastjson.Parser
		v, err := p.ParseBytes(l)
		return err == nil && string(v.GetStringBytes("kind")) == "Event" &&
			bytes.HasPrefix(v.GetStringBytes("apiVersion"), []byte("audit.k8s.io/"))
	}
	return false
}

// LogSource is an audit log as an event source (pipeline.Source): `vigil
// replay` of an audit log.
type LogSource struct {
	r    io.Reader
	name string
}

// NewLogSource reads the audit log r; name is used in errors.
func NewLogSource(r io.Reader, name string) *LogSource { return &LogSource{r: r, name: name} }

// Run calls fn for each event of the log (see ReadLog).
func (l *LogSource) Run(ctx context.Context, fn func(*event.Event)) error {
	return ReadLog(ctx, l.r, l.name, fn)
}

// Close does nothing: the caller owns the reader.
func (l *LogSource) Close() error { return nil }
