package sensor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// ParseTypes turns a comma-separated list of event type names (execve,
// openat, ...) and categories (process, file, network, security, all) into
// event types, without duplicates, in table order. "" means all.
func ParseTypes(spec string) ([]event.Type, error) {
	var on [event.NumTypes]bool
	any := false
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		any = true
		if t, ok := event.ByName(f); ok {
			on[t] = true
			continue
		}
		matched := false
		for t := event.Type(1); t < event.NumTypes; t++ {
			if f == "all" || event.Lookup(t).Category.String() == f {
				on[t] = true
				matched = true
			}
		}
		if !matched {
			return nil, fmt.Errorf("unknown event type or category %q (categories: process, file, network, security, all; types: %s)",
				f, strings.Join(typeNames(), ", "))
		}
	}
	var out []event.Type
	for t := event.Type(1); t < event.NumTypes; t++ {
		if on[t] || !any {
			out = append(out, t)
		}
	}
	return out, nil
}

func typeNames() []string {
	var n []string
	for t := event.Type(1); t < event.NumTypes; t++ {
		n = append(n, t.String())
	}
	sort.Strings(n)
	return n
}
