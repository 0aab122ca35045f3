package hub

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/console"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/rules"
	defaultrules "github.com/vigilsec/vigil/rules"
)

// consoleSource is the web console's view of the fleet (console.Source
// over the hub's store).
type consoleSource struct{ h *Hub }

var _ console.Source = consoleSource{}

func (s consoleSource) Alerts(ctx context.Context, q console.Query) ([]*alert.Alert, error) {
	f := AlertFilter{Rule: q.Rule, Node: q.Node, Namespace: q.Namespace, Pod: q.Pod, Image: q.Image,
		Since: q.Since, Until: q.Until, Limit: q.Limit}
	if q.Priority != nil {
		f.MinPriority, f.HasPriority = *q.Priority, true
	}
	st, err := s.h.store.Alerts(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*alert.Alert, 0, len(st))
	for _, x := range st {
		a, err := decodeStored(x)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// decodeStored decodes a stored alert; its count is the stored one (an
// update may have raised it).
func decodeStored(x StoredAlert) (*alert.Alert, error) {
	a := new(alert.Alert)
	if err := a.UnmarshalJSON(x.Alert); err != nil {
		return nil, fmt.Errorf("hub store: alert of %s: %w", x.Node, err)
	}
	if x.Count > a.Vigil.Count {
		a.Vigil.Count = x.Count
	}
	return a, nil
}

func (s consoleSource) Alert(ctx context.Context, uuid string) (*alert.Alert, *alert.Incident, error) {
	x, ok, err := s.h.store.Alert(ctx, uuid)
	if err != nil || !ok {
		return nil, nil, err
	}
	a, err := decodeStored(x)
	if err != nil {
		return nil, nil, err
	}
	body, err := s.h.store.Incident(ctx, uuid)
	if err != nil || body == nil {
		return a, nil, err
	}
	inc := new(alert.Incident)
	if err := json.Unmarshal(body, inc); err != nil {
		return a, nil, fmt.Errorf("hub store: incident %s: %w", uuid, err)
	}
	return a, inc, nil
}

func (s consoleSource) Hits(ctx context.Context, since, until time.Time, step time.Duration) ([]console.RuleHits, error) {
	return s.h.store.Hits(ctx, since, until, step)
}

func (s consoleSource) Nodes(ctx context.Context) ([]console.Node, error) {
	ns, err := s.h.store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]console.Node, 0, len(ns))
	for _, n := range ns {
		hb := n.Heartbeat
		var lost uint64
		for _, v := range hb.Lost {
			lost += v
		}
		out = append(out, console.Node{Name: n.Name, Alive: time.Since(n.LastSeen) <= s.h.opts.AliveAfter, LastSeen: n.LastSeen,
			Version: hb.Version, Rules: fmt.Sprintf("hub bundle %d, files %s", hb.RulesVersion, short(hb.RulesSHA256)),
			Policies: "files " + short(hb.PolicySHA256), EventsPerSec: hb.EventsPerSec, Lost: lost, LostByReason: hb.Lost,
			RSSBytes: hb.RSSBytes})
	}
	return out, nil
}

// short abbreviates a fingerprint.
func short(hexsum string) string {
	if _, err := hex.DecodeString(hexsum); err != nil || len(hexsum) < 12 {
		return hexsum
	}
	return hexsum[:12]
}

func (s consoleSource) Reports(ctx context.Context, kind string, limit int) ([]console.Report, error) {
	return s.h.store.Reports(ctx, kind, limit)
}

func (s consoleSource) PutReport(ctx context.Context, kind, name string, body []byte) (int64, error) {
	return s.h.store.PutReport(ctx, kind, name, body)
}

func (s consoleSource) Subscribe(ctx context.Context) <-chan *alert.Alert {
	return s.h.feed.Subscribe(ctx)
}

// PushRules distributes a rule file: the newest bundle's files with this
// one added (or replaced), as the next version. The file is compiled first
// with Vigil's default rules: errors are returned with their positions and
// nothing is pushed (a node with other rule files of its own may still
// refuse it; /api/rules shows every node's answer).
func (s consoleSource) PushRules(ctx context.Context, name string, data []byte) (string, error) {
	if len(data) == 0 {
		return "", fmt.Errorf("the hub distributes a rule file: %w", console.ErrUnsupported)
	}
	if name == "" {
		name = "console.yaml"
	}
	files := []fleet.BundleFile{{Name: name, Data: string(data)}}
	bs, err := s.h.store.Bundles(ctx)
	if err != nil {
		return "", err
	}
	if len(bs) > 0 {
		last, err := s.h.store.Bundle(ctx, bs[0].Version)
		if err != nil {
			return "", err
		}
		for _, f := range last.Files {
			if f.Name != name {
				files = append(files, f)
			}
		}
	}
	if err := fleet.CheckBundleFiles(files); err != nil {
		return "", err
	}
	var check []rules.File
	for _, f := range defaultrules.Default() {
		check = append(check, rules.File{Name: f.Name, Data: f.Data})
	}
	for _, f := range files {
		check = append(check, rules.File{Name: f.Name, Data: []byte(f.Data)})
	}
	if err := rules.LoadAndCompile(nil, check...).Err(); err != nil {
		return "", err
	}
	b, err := s.h.Push(ctx, files, 0)
	if err != nil {
		return "", err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	return fmt.Sprintf("rules version %d (%s) pushed to the nodes; their answers: /api/rules", b.Version, strings.Join(names, ", ")), nil
}
