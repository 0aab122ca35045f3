package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/profile"
)

// NodeProfile is one node's learned profile of a workload, as it came.
type NodeProfile struct {
	Name    string
	Node    string
	Version uint64
	Updated time.Time
	Body    []byte // the profile's JSON document (internal/profile)
}

// PutProfile implements Store.
func (s *sqlStore) PutProfile(ctx context.Context, p NodeProfile) error {
	q := s.d.Param
	_, err := s.db.ExecContext(ctx, `INSERT INTO profiles (name, node, version, updated_ns, body) VALUES (`+q(1)+`,`+q(2)+`,`+q(3)+`,`+q(4)+`,`+q(5)+`)
		ON CONFLICT (name, node) DO UPDATE SET version = excluded.version, updated_ns = excluded.updated_ns, body = excluded.body
		WHERE profiles.version < excluded.version OR (profiles.version = excluded.version AND profiles.updated_ns <= excluded.updated_ns)`,
		p.Name, p.Node, int64(p.Version), p.Updated.UnixNano(), string(p.Body))
	if err != nil {
		return fmt.Errorf("hub store: profile %s of %s: %w", p.Name, p.Node, err)
	}
	return nil
}

// NodeProfiles implements Store.
func (s *sqlStore) NodeProfiles(ctx context.Context, name string) ([]NodeProfile, error) {
	query, args := `SELECT name, node, version, updated_ns, body FROM profiles`, []any{}
	if name != "" {
		query += ` WHERE name = ` + s.d.Param(1)
		args = append(args, name)
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY name, node`, args...)
	if err != nil {
		return nil, fmt.Errorf("hub store: profiles: %w", err)
	}
	defer rows.Close()
	var out []NodeProfile
	for rows.Next() {
		var p NodeProfile
		var v, ns int64
		var body string
		if err := rows.Scan(&p.Name, &p.Node, &v, &ns, &body); err != nil {
			return nil, fmt.Errorf("hub store: profiles: %w", err)
		}
		p.Version, p.Updated, p.Body = uint64(v), time.Unix(0, ns).UTC(), []byte(body)
		out = append(out, p)
	}
	return out, rows.Err()
}

// decodeProfile checks a node's profile message: the profile document,
// every field valid (profile.Decode).
func decodeProfile(node string, data []byte) (NodeProfile, error) {
	p, err := profile.Decode(data, "profile from "+node, profile.Limits{})
	if err != nil {
		return NodeProfile{}, err
	}
	return NodeProfile{Name: p.Name, Node: node, Version: p.Version, Updated: p.Updated, Body: data}, nil
}

// MergedProfiles returns the fleet's profile of each workload (of name; ""
// every workload): the merge (profile.Merge: the union of every set, the
// nodes' hosts) of the newest profile each node sent.
func (h *Hub) MergedProfiles(ctx context.Context, name string) ([]*profile.Profile, error) {
	rows, err := h.store.NodeProfiles(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []*profile.Profile
	for _, r := range rows {
		p, err := profile.Decode(r.Body, r.Name+" of "+r.Node, profile.Limits{})
		if err != nil {
			return nil, fmt.Errorf("hub: stored profile: %w", err) // checked when it came
		}
		if n := len(out); n > 0 && out[n-1].Name == p.Name {
			out[n-1].Merge(p)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// ensureProfilesBucket creates (or updates) the bucket of the fleet's
// merged profiles, one key per workload (fleet.ProfileKey), the newest
// only.
func ensureProfilesBucket(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: fleet.ProfilesBucket, History: 1,
		Replicas: max(o.Replicas, 1), Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("hub: profiles bucket: %w", err)
	}
	return kv, nil
}

// shareProfiles puts the fleet's merged profile of each workload of profs
// (just stored) in the profiles bucket, for the agents to take
// (profile.Learner.Adopt): a behaviour learned on one node is then no
// deviation on another. A merge whose behaviours and state are those put
// before is not put again (agents that took a merge send it back, with
// nothing new). Failures are logged: the next profile of the workload
// shares it again.
func (h *Hub) shareProfiles(ctx context.Context, profs []NodeProfile) {
	if h.profKV == nil {
		return
	}
	done := map[string]bool{}
	for _, np := range profs {
		if done[np.Name] {
			continue
		}
		done[np.Name] = true
		if err := h.shareProfile(ctx, np.Name); err != nil {
			h.log.Warn("profile not shared with the agents", "profile", np.Name, "err", err)
		}
	}
}

func (h *Hub) shareProfile(ctx context.Context, name string) error {
	ps, err := h.MergedProfiles(ctx, name)
	if err != nil || len(ps) == 0 {
		return err
	}
	merged := ps[0]
	key := fleet.ProfileKey(name)
	if e, err := h.profKV.Get(ctx, key); err == nil {
		prev, err := profile.Decode(e.Value(), "shared profile "+name, profile.Limits{})
		if err == nil && prev.State == merged.State && prev.Contains(merged) && merged.Contains(prev) {
			return nil
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	body, err := merged.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = h.profKV.Put(ctx, key, body)
	return err
}

// ProfileSummary is one line of GET /api/profiles (`vigil profile --hub` reads it).
type ProfileSummary struct {
	Name    string    `json:"name"`
	Version uint64    `json:"version"`
	State   string    `json:"state"`
	Hosts   []string  `json:"hosts"`
	Updated time.Time `json:"updated"`
}

func (h *Hub) getProfiles(w http.ResponseWriter, r *http.Request) {
	ps, err := h.MergedProfiles(r.Context(), "")
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]ProfileSummary, 0, len(ps))
	for _, p := range ps {
		out = append(out, ProfileSummary{Name: p.Name, Version: p.Version, State: string(p.State), Hosts: p.Hosts, Updated: p.Updated})
	}
	writeJSON(w, out)
}

func (h *Hub) getProfile(w http.ResponseWriter, r *http.Request) {
	ps, err := h.MergedProfiles(r.Context(), r.PathValue("name"))
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(ps) == 0 {
		httpError(w, http.StatusNotFound, "no profile "+r.PathValue("name"))
		return
	}
	body, err := ps[0].MarshalJSON()
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// AcceptNode is the node name under which the hub stores the behaviours
// accepted through its API (a node's certificate cannot carry it: the hub's
// own identity).
const AcceptNode = "vigil-hub"

// AcceptProfile folds a behaviour into the fleet's profile of a workload:
// it is added to the profile the hub keeps as node AcceptNode (what was
// accepted through the hub so far, in the merge's state and window), a
// version above the merge's, and the new merge is shared with the agents,
// which stop alerting on it. It returns the new merge; has is true when
// the merge held the behaviour already (nothing is stored).
func (h *Hub) AcceptProfile(ctx context.Context, name string, it profile.Item) (merged *profile.Profile, has bool, err error) {
	ps, err := h.MergedProfiles(ctx, name)
	if err != nil {
		return nil, false, err
	}
	if len(ps) == 0 {
		return nil, false, fmt.Errorf("no profile %s: %w", name, errNoProfile)
	}
	merged = ps[0]
	if has, err := merged.Has(it); err != nil {
		return nil, false, err
	} else if has {
		return merged, true, nil
	}
	acc := profile.New(name, profile.Limits{}, merged.LearnStart, merged.LearnEnd.Sub(merged.LearnStart))
	rows, err := h.store.NodeProfiles(ctx, name)
	if err != nil {
		return nil, false, err
	}
	for _, r := range rows {
		if r.Node == AcceptNode {
			if acc, err = profile.Decode(r.Body, name+" of "+r.Node, profile.Limits{}); err != nil {
				return nil, false, err
			}
		}
	}
	if err := acc.Add(it); err != nil {
		return nil, false, err
	}
	acc.State, acc.Version, acc.Updated = merged.State, merged.Version+1, time.Now()
	body, err := acc.MarshalJSON()
	if err != nil {
		return nil, false, err
	}
	if err := h.store.PutProfile(ctx, NodeProfile{Name: name, Node: AcceptNode, Version: acc.Version, Updated: acc.Updated, Body: body}); err != nil {
		return nil, false, err
	}
	if err := h.shareProfile(ctx, name); err != nil {
		h.log.Warn("profile not shared with the agents", "profile", name, "err", err)
	}
	ps, err = h.MergedProfiles(ctx, name)
	if err != nil || len(ps) == 0 {
		return nil, false, err
	}
	return ps[0], false, nil
}

var errNoProfile = errors.New("no such profile")

func (h *Hub) postProfileAccept(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  string `json:"name"`
		Kind  string `json:"kind"`
		Value string `json:"value"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Name == "" || req.Value == "" {
		httpError(w, http.StatusBadRequest, `want {"name": NAME, "kind": KIND, "value": VALUE}`+errSuffix(err))
		return
	}
	k, err := profile.ParseKind(req.Kind)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	merged, has, err := h.AcceptProfile(r.Context(), req.Name, profile.Item{Kind: k, Value: req.Value})
	switch {
	case errors.Is(err, errNoProfile):
		httpError(w, http.StatusNotFound, "no profile "+req.Name)
		return
	case err != nil:
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := merged.MarshalJSON()
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if has {
		w.Header().Set("Vigil-Profile-Accepted", "already")
	}
	w.Write(body)
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}
