package metrics

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a monotonically increasing value.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Value returns the value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// Type is a metric family's type.
type Type string

// Types.
const (
	TypeCounter Type = "counter"
	TypeGauge   Type = "gauge"
)

// Emit reports one sample from a collector: its value and label values (in
// the order of the family's label names).
type Emit func(value float64, labelValues ...string)

type family struct {
	name, help string
	typ        Type
	labels     []string

	mu       sync.Mutex
	counters map[string]*labelled // by joined label values
	collect  func(Emit)
}

type labelled struct {
	values []string
	c      Counter
}

// Registry holds metric families.
type Registry struct {
	mu       sync.Mutex
	families []*family
	names    map[string]bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

func (r *Registry) add(f *family) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[f.name] {
		panic("metrics: duplicate metric " + f.name) // programming error at start-up, never on input
	}
	r.names[f.name] = true
	r.families = append(r.families, f)
	return f
}

// Counter registers an unlabelled counter.
func (r *Registry) Counter(name, help string) *Counter {
	return r.CounterVec(name, help).With()
}

// CounterVec is a family of counters with labels.
type CounterVec struct{ f *family }

// CounterVec registers a labelled counter family.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.add(&family{name: name, help: help, typ: TypeCounter, labels: labels, counters: map[string]*labelled{}})}
}

// With returns the counter for the label values (created on first use).
// Keep the result: With takes a lock and, the first time, allocates.
func (v *CounterVec) With(values ...string) *Counter {
	key := strings.Join(values, "\xff")
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	l, ok := v.f.counters[key]
	if !ok {
		l = &labelled{values: append([]string(nil), values...)}
		v.f.counters[key] = l
	}
	return &l.c
}

// Gauge registers an unlabelled gauge.
func (r *Registry) Gauge(name, help string) *Gauge {
	g := new(Gauge)
	r.Func(name, help, TypeGauge, nil, func(e Emit) { e(g.Value()) })
	return g
}

// Func registers a family whose samples are read at scrape time by collect.
func (r *Registry) Func(name, help string, typ Type, labels []string, collect func(Emit)) {
	r.add(&family{name: name, help: help, typ: typ, labels: labels, collect: collect})
}

type sample struct {
	values []string
	v      float64
}

// WriteText writes every family in the Prometheus text format.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	fams := append([]*family(nil), r.families...)
	r.mu.Unlock()
	bw := bufio.NewWriter(w)
	var b []byte
	for _, f := range fams {
		var samples []sample
		if f.collect != nil {
			f.collect(func(v float64, values ...string) { samples = append(samples, sample{values, v}) })
		} else {
			f.mu.Lock()
			for _, l := range f.counters {
				samples = append(samples, sample{l.values, float64(l.c.Value())})
			}
			f.mu.Unlock()
		}
		sort.Slice(samples, func(i, j int) bool {
			return strings.Join(samples[i].values, "\xff") < strings.Join(samples[j].values, "\xff")
		})
		b = append(b[:0], "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.typ...)
		b = append(b, '\n')
		for _, s := range samples {
			b = append(b, f.name...)
			if len(f.labels) > 0 {
				b = append(b, '{')
				for i, l := range f.labels {
					if i > 0 {
						b = append(b, ',')
					}
					b = append(b, l...)
					b = append(b, '=', '"')
					if i < len(s.values) {
						b = appendEscaped(b, s.values[i], true)
					}
					b = append(b, '"')
				}
				b = append(b, '}')
			}
			b = append(b, ' ')
			b = appendFloat(b, s.v)
			b = append(b, '\n')
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendEscaped escapes \ and newline (and " in label values).
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// ContentType is the text exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_ = r.WriteText(w)
	})
}

// Sample is one series of a family as Samples returns it.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Samples returns the current series of the family called name (nil when
// there is none), read as a scrape would: collectors run, counters loaded.
func (r *Registry) Samples(name string) []Sample {
	r.mu.Lock()
	var f *family
	for _, g := range r.families {
		if g.name == name {
			f = g
			break
		}
	}
	r.mu.Unlock()
	if f == nil {
		return nil
	}
	var out []Sample
	add := func(v float64, values []string) {
		l := make(map[string]string, len(f.labels))
		for i, n := range f.labels {
			if i < len(values) {
				l[n] = values[i]
			}
		}
		out = append(out, Sample{Labels: l, Value: v})
	}
	if f.collect != nil {
		f.collect(func(v float64, values ...string) { add(v, values) })
		return out
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.counters {
		add(float64(c.c.Value()), c.values)
	}
	return out
}
