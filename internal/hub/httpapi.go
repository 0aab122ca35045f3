package hub

import (
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/console"
	"github.com/vigilsec/vigil/internal/fleet"
)

// Role is what a token may do.
type Role int

// Roles, least first.
const (
	RoleNone Role = iota
	RoleViewer
	RoleAdmin
)

// role returns the role of r's bearer token.
func (h *Hub) role(r *http.Request) Role {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return RoleNone
	}
	if t := h.opts.AdminToken; t != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
		return RoleAdmin
	}
	if t := h.opts.ViewerToken; t != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
		return RoleViewer
	}
	return RoleNone
}

// RoleOf returns the role r's token grants (for the console).
func (h *Hub) RoleOf(r *http.Request) Role { return h.role(r) }

// Handler returns the HTTP API and the web console:
//
//	GET  /healthz                    no token
//	GET  /api/alerts?rule=&node=&namespace=&pod=&image=&container=&priority=&since=&until=&limit=
//	GET  /api/nodes                  nodes, last heartbeat, alive
//	GET  /api/rules                  bundles and the nodes' acknowledgements
//	POST /api/rules                  admin: push a bundle {"files":[{"name","data"}]}
//	POST /api/rules/rollback?to=N    admin: push version N's files again as a new version
//	GET  /api/profiles               learned workload profiles, merged over the nodes: name, version, state, hosts
//	GET  /api/profiles/NAME          one merged profile, its JSON document (vigil profile import reads it)
//	POST /api/profiles/accept        admin: {"name","kind","value"} folds a behaviour into the fleet's profile
//	/console/                        the web console over the fleet (internal/console; same tokens)
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.nc.IsConnected() {
			httpError(w, http.StatusServiceUnavailable, "nats not connected")
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/alerts", h.need(RoleViewer, h.getAlerts))
	mux.HandleFunc("GET /api/nodes", h.need(RoleViewer, h.getNodes))
	mux.HandleFunc("GET /api/rules", h.need(RoleViewer, h.getRules))
	mux.HandleFunc("POST /api/rules", h.need(RoleAdmin, h.postRules))
	mux.HandleFunc("POST /api/rules/rollback", h.need(RoleAdmin, h.postRollback))
	mux.HandleFunc("GET /api/profiles", h.need(RoleViewer, h.getProfiles))
	mux.HandleFunc("GET /api/profiles/{name...}", h.need(RoleViewer, h.getProfile))
	mux.HandleFunc("POST /api/profiles/accept", h.need(RoleAdmin, h.postProfileAccept))
	mux.Handle(console.Prefix, h.console)
	mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusFound))
	return mux
}

func (h *Hub) need(min Role, fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch role := h.role(r); {
		case role == RoleNone:
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil hub"`)
			httpError(w, http.StatusUnauthorized, "missing or unknown bearer token")
		case role < min:
			httpError(w, http.StatusForbidden, "this token's role may not do this (admin only)")
		default:
			fn(w, r)
		}
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ParseAlertFilter reads the alert filters from query parameters.
func ParseAlertFilter(get func(string) string, now time.Time) (AlertFilter, error) {
	f := AlertFilter{Rule: get("rule"), Node: get("node"), Namespace: get("namespace"), Pod: get("pod"),
		Image: get("image"), Container: get("container")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := get(p.name); v != "" {
			t, err := api.ParseTime(v, now)
			if err != nil {
				return f, fmt.Errorf("%s: %w", p.name, err)
			}
			*p.dst = t
		}
	}
	if v := get("priority"); v != "" {
		p, err := alert.ParsePriority(v)
		if err != nil {
			return f, fmt.Errorf("priority: %w", err)
		}
		f.MinPriority, f.HasPriority = p, true
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, fmt.Errorf("limit: want a positive integer, got %q", v)
		}
		f.Limit = n
	}
	return f, nil
}

func (h *Hub) getAlerts(w http.ResponseWriter, r *http.Request) {
	f, err := ParseAlertFilter(r.URL.Query().Get, time.Now())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	as, err := h.store.Alerts(r.Context(), f)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if as == nil {
		as = []StoredAlert{}
	}
	writeJSON(w, as)
}

// NodeStatus is a node as the API shows it.
type NodeStatus struct {
	Node
	Alive bool `json:"alive"`
}

func (h *Hub) getNodes(w http.ResponseWriter, r *http.Request) {
	ns, err := h.store.Nodes(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]NodeStatus, 0, len(ns))
	for _, n := range ns {
		out = append(out, NodeStatus{Node: n, Alive: time.Since(n.LastSeen) <= h.opts.AliveAfter})
	}
	writeJSON(w, out)
}

func (h *Hub) getRules(w http.ResponseWriter, r *http.Request) {
	bs, err := h.store.Bundles(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if bs == nil {
		bs = []BundleStatus{}
	}
	writeJSON(w, bs)
}

// maxBundleBytes bounds a pushed bundle.
const maxBundleBytes = 8 << 20

func (h *Hub) postRules(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBundleBytes+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(body) > maxBundleBytes {
		httpError(w, http.StatusRequestEntityTooLarge, "bundle larger than 8 MiB")
		return
	}
	var req struct {
		Files []fleet.BundleFile `json:"files"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		httpError(w, http.StatusBadRequest, "bundle: "+err.Error())
		return
	}
	b, err := h.Push(r.Context(), req.Files, 0)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, map[string]uint64{"version": b.Version})
}

func (h *Hub) postRollback(w http.ResponseWriter, r *http.Request) {
	to, err := strconv.ParseUint(r.URL.Query().Get("to"), 10, 64)
	if err != nil || to == 0 {
		httpError(w, http.StatusBadRequest, "to: want the version to roll back to")
		return
	}
	b, err := h.Rollback(r.Context(), to)
	if errors.Is(err, sql.ErrNoRows) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("no bundle version %d", to))
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, map[string]uint64{"version": b.Version})
}
