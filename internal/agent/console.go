package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/buildinfo"
	"github.com/vigilsec/vigil/internal/console"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/store"
)

// consoleSource is the agent's console.Source: its own store, its own
// node, its live alerts, and rules reload as the admin's rules action.
type consoleSource struct {
	a    *Agent
	feed *console.Feed

	mu       sync.Mutex
	lastAt   time.Time
	lastSeen uint64
	rate     float64
}

func (s *consoleSource) st() (*store.Store, error) {
	if s.a.store == nil {
		return nil, errors.New("the alert store is disabled (store.enabled: false)")
	}
	st := s.a.store.get()
	if st == nil {
		return nil, fmt.Errorf("alert store unavailable: %v", s.a.store.Err())
	}
	return st, nil
}

func (s *consoleSource) Alerts(ctx context.Context, q console.Query) ([]*alert.Alert, error) {
	st, err := s.st()
	if err != nil {
		return nil, err
	}
	as, err := st.Query(ctx, store.Filter{Since: q.Since, Until: q.Until, Rule: q.Rule, Priority: q.Priority,
		Node: q.Node, Namespace: q.Namespace, Pod: q.Pod, Image: q.Image, Limit: q.Limit})
	slices.Reverse(as) // newest first
	return as, err
}

func (s *consoleSource) Alert(ctx context.Context, uuid string) (*alert.Alert, *alert.Incident, error) {
	st, err := s.st()
	if err != nil {
		return nil, nil, err
	}
	a, err := st.Get(ctx, uuid)
	if err != nil || a == nil {
		return nil, nil, err
	}
	inc, err := st.Incident(ctx, uuid)
	return a, inc, err
}

func (s *consoleSource) Hits(ctx context.Context, since, until time.Time, step time.Duration) ([]console.RuleHits, error) {
	st, err := s.st()
	if err != nil {
		return nil, err
	}
	return st.Hits(ctx, since, until, step)
}

// Nodes is this node: alive while the agent runs, its rules and
// policies, events per second since the last call, lost events, RSS.
func (s *consoleSource) Nodes(context.Context) ([]console.Node, error) {
	a := s.a
	var total uint64
	for t := event.Type(1); t < event.NumTypes; t++ {
		total += a.pipe.Events(t)
	}
	now := time.Now()
	s.mu.Lock()
	if !s.lastAt.IsZero() && now.Sub(s.lastAt) >= time.Second {
		s.rate = float64(total-s.lastSeen) / now.Sub(s.lastAt).Seconds()
	}
	if s.lastAt.IsZero() || now.Sub(s.lastAt) >= time.Second {
		s.lastAt, s.lastSeen = now, total
	}
	rate := s.rate
	s.mu.Unlock()
	rs := a.eng.Ruleset()
	n := console.Node{Name: a.hostname, Alive: a.running.Load(), LastSeen: now, Version: buildinfo.Read(nil).Version,
		Rules:        fmt.Sprintf("%d rules from %d files", len(rs.Rules), len(rs.Files)),
		Policies:     fmt.Sprintf("%d policies", len(a.policies)),
		EventsPerSec: rate, RSSBytes: metrics.RSSBytes()}
	if st := a.sensorStats.Load(); st != nil {
		n.Lost = st.Lost
		n.LostByReason = map[string]uint64{}
		for r := sensor.Reason(0); r < sensor.NumReasons; r++ {
			if r.Lost() {
				if v := st.ByReason(r); v > 0 {
					n.LostByReason[r.String()] = v
				}
			}
		}
	}
	return []console.Node{n}, nil
}

func (s *consoleSource) Reports(ctx context.Context, kind string, limit int) ([]console.Report, error) {
	st, err := s.st()
	if err != nil {
		return nil, err
	}
	return st.Reports(ctx, kind, limit)
}

func (s *consoleSource) PutReport(ctx context.Context, kind, name string, body []byte) (int64, error) {
	st, err := s.st()
	if err != nil {
		return 0, err
	}
	return st.PutReport(ctx, kind, name, body)
}

func (s *consoleSource) Subscribe(ctx context.Context) <-chan *alert.Alert {
	return s.feed.Subscribe(ctx)
}

// PushRules reloads the rule files (as SIGHUP does); rule content is the
// hub's to distribute.
func (s *consoleSource) PushRules(_ context.Context, _ string, data []byte) (string, error) {
	if len(data) > 0 {
		return "", fmt.Errorf("%w: the agent reloads its rule files (rules.files); push rule content through the hub", console.ErrUnsupported)
	}
	if err := s.a.Reload(); err != nil {
		return "", err
	}
	rs := s.a.eng.Ruleset()
	return fmt.Sprintf("rules reloaded: %d rules from %d files in force", len(rs.Rules), len(rs.Files)), nil
}

// newConsole builds the web console (nil when console.enabled is false or
// no token logs in) over the agent's store.
func (a *Agent) newConsole(l *loaded) *console.Console {
	if !a.cfg.Console.Enabled {
		return nil
	}
	for _, w := range l.consoleWarnings {
		a.log.Warn(w)
	}
	admin, viewer := l.adminToken, l.viewerToken
	if admin == "" && viewer == "" {
		a.log.Info("web console disabled: no token configured (http.token_file, console.admin_token_file, console.viewer_token_file)")
		return nil
	}
	a.feed = console.NewFeed()
	return console.New(console.Options{Source: &consoleSource{a: a, feed: a.feed}, AdminToken: admin, ViewerToken: viewer,
		Node: a.hostname, Secure: l.tls != nil, Logger: a.log})
}
