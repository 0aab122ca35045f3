package compliance

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/store"
)

// AlertQuerier is the part of *store.Store the counter uses.
type AlertQuerier interface {
	Query(ctx context.Context, f store.Filter) ([]*alert.Alert, error)
}

// StoreCounter counts alerts of the agent's alert store by rule tag. It
// loads the alerts of a period once and answers every control from memory.
type StoreCounter struct {
	Store AlertQuerier
	// Limit bounds the alerts loaded per period (1,000,000 when 0).
	Limit int

	mu           sync.Mutex
	since, until time.Time
	cached       []*alert.Alert
	loaded       bool
}

// CountAlerts implements AlertCounter. A tag matches an alert tag equal to
// it (case-insensitive) or, for a MITRE technique id (T1611), any of its
// sub-techniques (T1611.001).
func (c *StoreCounter) CountAlerts(ctx context.Context, tags []string, since, until time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded || !since.Equal(c.since) || !until.Equal(c.until) {
		limit := c.Limit
		if limit <= 0 {
			limit = 1_000_000
		}
		as, err := c.Store.Query(ctx, store.Filter{Since: since, Until: until, Limit: limit})
		if err != nil {
			return 0, fmt.Errorf("count alerts: %w", err)
		}
		c.cached, c.since, c.until, c.loaded = as, since, until, true
	}
	n := 0
	for _, a := range c.cached {
		if tagsMatch(a.Tags, tags) {
			n++
		}
	}
	return n, nil
}

func tagsMatch(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if strings.EqualFold(h, w) || (len(h) > len(w) && strings.EqualFold(h[:len(w)], w) && h[len(w)] == '.') {
				return true
			}
		}
	}
	return false
}
