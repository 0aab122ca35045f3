package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder sets a Config from YAML nodes key by key, so that every problem
// of a file is reported (not only the first), each with the file, line,
// column and dotted key, in words an operator reads (never a Go type name).
// Durations take "d" for days (ParseDuration).
type decoder struct {
	file string
	errs Errors
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	textType     = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

func (d *decoder) bad(key string, n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Col: n.Column, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// kindName says what a node is, for "got a list" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// isNull reports a null scalar ("key:" or "key: null").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// yamlFields maps the YAML keys of a struct type to field index paths,
// inline (embedded) structs flattened.
func yamlFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for k, idx := range yamlFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

// value decodes n into v (settable); key is n's dotted key and at the
// node its errors point at (the key's, for a mapping value).
func (d *decoder) value(key string, at, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(textType) && t.Kind() != reflect.Struct {
		if n.Kind != yaml.ScalarNode {
			d.bad(key, at, "want a single value, got %s", kindName(n))
			return
		}
		nv := reflect.New(t)
		if err := nv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.bad(key, at, "%v", err)
			return
		}
		v.Set(nv.Elem())
		return
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			d.bad(key, at, "want a duration such as 10s, 5m, 12h or 7d, got %s", kindName(n))
			return
		}
		if isNull(n) {
			v.SetInt(0)
			return
		}
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.bad(key, at, "want a duration such as 10s, 5m, 12h or 7d, got %q", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.bad(key, at, "want a mapping of keys, got %s", kindName(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			sub := join(key, k.Value)
			idx, ok := fields[k.Value]
			if !ok {
				d.bad(sub, k, "unknown key")
				continue
			}
			d.value(sub, k, val, v.FieldByIndex(idx))
		}
	case reflect.Map:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.bad(key, at, "want a mapping, got %s", kindName(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ev := reflect.New(t.Elem()).Elem()
			before := len(d.errs)
			d.value(join(key, k.Value), k, val, ev)
			if len(d.errs) == before {
				v.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), ev)
			}
		}
	case reflect.Slice:
		if isNull(n) {
			v.Set(reflect.MakeSlice(t, 0, 0))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.bad(key, at, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			d.value(fmt.Sprintf("%s[%d]", key, i), e, e, s.Index(i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.bad(key, at, "want a string, got %s", kindName(n))
			return
		}
		if isNull(n) {
			v.SetString("")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.bad(key, at, "want true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Decode(&i) != nil || (t.Kind() == reflect.Int32 && (i < math.MinInt32 || i > math.MaxInt32)) {
			d.bad(key, at, "want an integer, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil {
			d.bad(key, at, "want a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		d.bad(key, at, "cannot be set from YAML")
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// ParseDuration parses a duration: Go's units (ns, us, ms, s, m, h) and d
// for days (24 h), alone or together ("30d", "1d12h", "0.5d", "90s"). A
// bare 0 is zero. Negative durations are accepted as Go's are; the keys
// that must be positive say so in Validate.
func ParseDuration(s string) (time.Duration, error) {
	in := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	var total time.Duration
	// Take the leading "<number>d" part, if any; the rest is Go's.
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		num := s[:i]
		f, err := strconv.ParseFloat(num, 64)
		if num == "" || err != nil || strings.ContainsAny(num, "eE+-") || f < 0 || f > float64(math.MaxInt64)/float64(24*time.Hour) {
			return 0, fmt.Errorf("bad duration %q", in)
		}
		total = time.Duration(f * float64(24*time.Hour))
		s = s[i+1:]
		if s == "" {
			if neg {
				total = -total
			}
			return total, nil
		}
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("bad duration %q", in)
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", in)
	}
	total += rest
	if neg {
		total = -total
	}
	return total, nil
}
