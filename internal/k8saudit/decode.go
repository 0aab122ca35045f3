package k8saudit

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// ErrMalformed matches (errors.Is) every error about a batch or line that is
// not an audit event or event list.
var ErrMalformed = errors.New("malformed audit batch")

// Decoder parses audit batches into k8s_audit events.
type Decoder struct {
	p  fastjson.Parser
	ev event.Event
	au event.Audit
}

// Check parses body and reports whether it is an EventList of objects or a
// single Event object, returning the events it holds, without evaluating
// anything: a batch is either accepted whole or refused whole.
func (d *Decoder) Check(body []byte) ([]*fastjson.Value, error) {
	v, err := d.p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("%w: want a JSON object, got %s", ErrMalformed, v.Type())
	}
	switch kind := string(v.GetStringBytes("kind")); kind {
	case "EventList":
		items := v.Get("items")
		if items == nil || items.Type() != fastjson.TypeArray {
			return nil, fmt.Errorf("%w: EventList without an items array", ErrMalformed)
		}
		out := items.GetArray()
		for i, it := range out {
			if err := checkEvent(it); err != nil {
				return nil, fmt.Errorf("%w: items[%d]: %v", ErrMalformed, i, err)
			}
		}
		return out, nil
	case "Event":
		if err := checkEvent(v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return []*fastjson.Value{v}, nil
	default:
		return nil, fmt.Errorf("%w: kind %q, want EventList or Event", ErrMalformed, kind)
	}
}

// checkEvent accepts an object that has the fields every audit event has.
func checkEvent(v *fastjson.Value) error {
	if v.Type() != fastjson.TypeObject {
		return fmt.Errorf("event is a %s, not an object", v.Type())
	}
	for _, k := range []string{"auditID", "stage", "verb"} {
		if x := v.Get(k); x == nil || x.Type() != fastjson.TypeString {
			return fmt.Errorf("event has no %s string", k)
		}
	}
	return nil
}

// Batch checks body (see Check) and calls fn for each of its events, in
// order. It returns the number of events.
func (d *Decoder) Batch(body []byte, fn func(*event.Event)) (int, error) {
	items, err := d.Check(body)
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		d.emit(it, fn)
	}
	return len(items), nil
}

func (d *Decoder) emit(v *fastjson.Value, fn func(*event.Event)) {
	d.au = event.Audit{V: v}
	d.ev = event.Event{Type: event.TypeK8sAudit, Time: eventTime(v), FD: -1, FD2: -1, Audit: &d.au}
	fn(&d.ev)
}

// eventTime is the event's stageTimestamp (the k8saudit plugin's event
// time), else its requestReceivedTimestamp, else now.
func eventTime(v *fastjson.Value) int64 {
	for _, k := range []string{"stageTimestamp", "requestReceivedTimestamp"} {
		if s := v.GetStringBytes(k); len(s) > 0 {
			if t, err := time.Parse(time.RFC3339Nano, string(s)); err == nil {
				return t.UnixNano()
			}
		}
	}
	return time.Now().UnixNano()
}
