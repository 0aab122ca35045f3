package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

//go:embed assets
var assets embed.FS

// Roles.
const (
	RoleViewer = "viewer" // reads everything
	RoleAdmin  = "admin"  // reads, pushes rules, uploads reports
)

// Prefix is where the console is mounted.
const Prefix = "/console/"

// Options configure the console.
type Options struct {
	Source Source
	// AdminToken and ViewerToken are the bearer tokens of the two roles;
	// an empty one does not log in.
	AdminToken, ViewerToken string
	// Node names the console's node (the agent's hostname, the hub's name)
	// in the page title.
	Node string
	// Secure marks the session cookie Secure (the endpoint serves TLS).
	Secure bool
	// PushesRuleFiles says the Source's PushRules takes a rule file (the
	// hub distributes it): the rules page then offers admins a file to
	// push instead of a reload.
	PushesRuleFiles bool
	// SessionTTL is how long a login lasts (12h).
	SessionTTL time.Duration
	// MaxUploadBytes caps an uploaded report (16 MiB).
	MaxUploadBytes int64
	Logger         *slog.Logger
}

// Console is the web console's handler, mounted at Prefix.
type Console struct {
	o   Options
	mux *http.ServeMux
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]session
}

type session struct {
	role    string
	expires time.Time
}

const (
	cookieName = "vigil_session"
	// csrfHeader must be on every POST: a cross-site form cannot set it,
	// and a cross-site script cannot without a CORS preflight we refuse.
	csrfHeader = "X-Vigil-Console"
)

// ContentSecurityPolicy is the console's CSP: our own scripts, styles and
// connections only; no inline script, no frames, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// New returns the console.
func New(o Options) *Console {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 16 << 20
	}
	c := &Console{o: o, mux: http.NewServeMux(), log: o.Logger, sessions: map[string]session{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	c.mux.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", files))
	c.mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := fs.ReadFile(static, "index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	})
	c.mux.HandleFunc("POST /console/api/login", c.login)
	c.mux.HandleFunc("POST /console/api/logout", c.logout)
	c.mux.HandleFunc("GET /console/api/me", c.me)
	c.mux.HandleFunc("GET /console/api/alerts", c.auth(RoleViewer, c.alerts))
	c.mux.HandleFunc("GET /console/api/alerts/{uuid}", c.auth(RoleViewer, c.alertDetail))
	c.mux.HandleFunc("GET /console/api/hits", c.auth(RoleViewer, c.hits))
	c.mux.HandleFunc("GET /console/api/nodes", c.auth(RoleViewer, c.nodes))
	c.mux.HandleFunc("GET /console/api/reports", c.auth(RoleViewer, c.reports))
	c.mux.HandleFunc("POST /console/api/reports", c.auth(RoleAdmin, c.upload))
	c.mux.HandleFunc("POST /console/api/rules", c.auth(RoleAdmin, c.pushRules))
	c.mux.HandleFunc("GET /console/api/live", c.auth(RoleViewer, c.live))
	return c
}

// ServeHTTP serves the console with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method == http.MethodPost && r.Header.Get(csrfHeader) != "1" {
		jsonError(w, http.StatusForbidden, "missing "+csrfHeader+" header")
		return
	}
	c.mux.ServeHTTP(w, r)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// roleOf returns the role of a token ("" when it is none).
func (c *Console) roleOf(tok string) string {
	if tok == "" {
		return ""
	}
	if c.o.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(c.o.AdminToken)) == 1 {
		return RoleAdmin
	}
	if c.o.ViewerToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(c.o.ViewerToken)) == 1 {
		return RoleViewer
	}
	return ""
}

// requestRole is the role of the request's bearer token or session cookie.
func (c *Console) requestRole(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return c.roleOf(tok)
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[ck.Value]
	if !ok || time.Now().After(s.expires) {
		delete(c.sessions, ck.Value)
		return ""
	}
	return s.role
}

type handler func(w http.ResponseWriter, r *http.Request, role string)

// auth lets through requests of role need or above: 401 without a login,
// 403 for a viewer on an admin action.
func (c *Console) auth(need string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		role := c.requestRole(r)
		switch {
		case role == "":
			jsonError(w, http.StatusUnauthorized, "log in first")
		case need == RoleAdmin && role != RoleAdmin:
			jsonError(w, http.StatusForbidden, "this needs the admin role")
		default:
			h(w, r, role)
		}
	}
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
		jsonError(w, http.StatusBadRequest, "want {\"token\": ...}")
		return
	}
	role := c.roleOf(strings.TrimSpace(body.Token))
	if role == "" {
		time.Sleep(200 * time.Millisecond) // slows guessing
		jsonError(w, http.StatusUnauthorized, "wrong token")
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	c.mu.Lock()
	for k, s := range c.sessions {
		if now.After(s.expires) {
			delete(c.sessions, k)
		}
	}
	c.sessions[id] = session{role: role, expires: now.Add(c.o.SessionTTL)}
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: Prefix, HttpOnly: true, Secure: c.o.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(c.o.SessionTTL / time.Second)})
	writeJSON(w, map[string]string{"role": role, "node": c.o.Node, "rules": c.rulesAction()})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: c.o.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, map[string]string{})
}

// me answers the role of the request ("" before a login: the page then
// shows the login form; not a 401, which browsers log as an error).
func (c *Console) me(w http.ResponseWriter, r *http.Request) {
	role, node, rules := c.requestRole(r), "", ""
	if role != "" {
		node, rules = c.o.Node, c.rulesAction()
	}
	writeJSON(w, map[string]string{"role": role, "node": node, "rules": rules})
}

// rulesAction is the admin's rules control the page shows: "push" a rule
// file (a host that distributes them) or "reload".
func (c *Console) rulesAction() string {
	if c.o.PushesRuleFiles {
		return "push"
	}
	return "reload"
}

// ParseQuery reads the alert list's query parameters: rule, priority
// (minimum), node, namespace, pod, image, since and until (a duration
// back from now or RFC 3339), limit (at most 1000).
func ParseQuery(get func(string) string, now time.Time) (Query, error) {
	q := Query{Rule: get("rule"), Node: get("node"), Namespace: get("namespace"), Pod: get("pod"), Image: get("image"), Limit: 100}
	if v := get("priority"); v != "" {
		p, err := alert.ParsePriority(v)
		if err != nil {
			return q, errors.New("priority: " + err.Error())
		}
		q.Priority = &p
	}
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := get(t.key); v != "" {
			x, err := parseTime(v, now)
			if err != nil {
				return q, errors.New(t.key + ": " + err.Error())
			}
			*t.dst = x
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return q, errors.New("limit: want 1 to 1000, got " + strconv.Quote(v))
		}
		q.Limit = n
	}
	return q, nil
}

// parseTime is a duration back from now (30m, 2h, 7d) or an RFC 3339 time.
func parseTime(v string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errors.New("want a duration (30m, 2h, 7d) or an RFC 3339 time, got " + strconv.Quote(v))
	}
	return t, nil
}

func appendAlerts(b []byte, as []*alert.Alert) []byte {
	b = append(b, '[')
	for i, a := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.AppendJSON(b)
	}
	return append(b, ']')
}

func (c *Console) alerts(w http.ResponseWriter, r *http.Request, _ string) {
	q, err := ParseQuery(r.URL.Query().Get, time.Now())
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	as, err := c.o.Source.Alerts(r.Context(), q)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(appendAlerts(nil, as), '\n'))
}

func (c *Console) alertDetail(w http.ResponseWriter, r *http.Request, _ string) {
	a, inc, err := c.o.Source.Alert(r.Context(), r.PathValue("uuid"))
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if a == nil {
		jsonError(w, http.StatusNotFound, "no such alert")
		return
	}
	b := append([]byte(`{"alert":`), a.AppendJSON(nil)...)
	b = append(b, `,"incident":`...)
	if inc == nil {
		b = append(b, "null"...)
	} else {
		ib, err := alert.MarshalIncident(inc)
		if err != nil {
			jsonError(w, http.StatusInternalServerError, err.Error())
			return
		}
		b = append(b, ib...)
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (c *Console) hits(w http.ResponseWriter, r *http.Request, _ string) {
	now := time.Now()
	get := r.URL.Query().Get
	since := now.Add(-24 * time.Hour)
	if v := get("since"); v != "" {
		t, err := parseTime(v, now)
		if err != nil {
			jsonError(w, http.StatusBadRequest, "since: "+err.Error())
			return
		}
		since = t
	}
	step := time.Hour
	if v := get("step"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			jsonError(w, http.StatusBadRequest, "step: want a duration of at least 1s")
			return
		}
		step = d
	}
	if now.Sub(since)/step > 1000 {
		jsonError(w, http.StatusBadRequest, "step: at most 1000 buckets")
		return
	}
	since = since.Truncate(step)
	hs, err := c.o.Source.Hits(r.Context(), since, now, step)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if hs == nil {
		hs = []RuleHits{}
	}
	writeJSON(w, map[string]any{"since": since, "step_seconds": step.Seconds(), "rules": hs})
}

func (c *Console) nodes(w http.ResponseWriter, r *http.Request, _ string) {
	ns, err := c.o.Source.Nodes(r.Context())
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, ns)
}

// reports answers the newest reports of a kind, each with what the console
// shows of it.
func (c *Console) reports(w http.ResponseWriter, r *http.Request, _ string) {
	kind := r.URL.Query().Get("kind")
	if _, err := parseReport(kind, []byte("{}")); err != nil && strings.HasPrefix(err.Error(), "unknown report kind") {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	rs, err := c.o.Source.Reports(r.Context(), kind, 10)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	type shown struct {
		Report
		Result any    `json:"result,omitempty"`
		Error  string `json:"error,omitempty"`
	}
	out := []shown{}
	for _, rep := range rs {
		s := shown{Report: rep}
		if v, err := parseReport(kind, rep.Body); err != nil {
			s.Error = err.Error()
		} else {
			s.Result = v
		}
		out = append(out, s)
	}
	writeJSON(w, out)
}

func (c *Console) upload(w http.ResponseWriter, r *http.Request, _ string) {
	kind, name := r.URL.Query().Get("kind"), r.URL.Query().Get("name")
	if name == "" {
		name = kind
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, c.o.MaxUploadBytes+1))
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	if int64(len(body)) > c.o.MaxUploadBytes {
		jsonError(w, http.StatusRequestEntityTooLarge, "report larger than "+strconv.FormatInt(c.o.MaxUploadBytes, 10)+" bytes")
		return
	}
	if _, err := parseReport(kind, body); err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	id, err := c.o.Source.PutReport(r.Context(), kind, name, body)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, map[string]int64{"id": id})
}

func (c *Console) pushRules(w http.ResponseWriter, r *http.Request, _ string) {
	name := r.URL.Query().Get("name")
	body, err := io.ReadAll(io.LimitReader(r.Body, c.o.MaxUploadBytes))
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	msg, err := c.o.Source.PushRules(r.Context(), name, body)
	if errors.Is(err, ErrUnsupported) {
		jsonError(w, http.StatusNotImplemented, err.Error())
		return
	}
	if err != nil {
		jsonError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, map[string]string{"result": msg})
}

// live streams new alerts as server-sent events ("alert" events whose data
// is the alert's JSON), with a comment every 15 s to keep proxies open.
func (c *Console) live(w http.ResponseWriter, r *http.Request, _ string) {
	rc := http.NewResponseController(w)
	// The endpoint's read and write timeouts are for requests, not streams.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ch := c.o.Source.Subscribe(ctx)
	_, _ = io.WriteString(w, ": live\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	var b []byte
	for {
		select {
		case <-ctx.Done():
			return
		case a, ok := <-ch:
			if !ok {
				return
			}
			b = append(b[:0], "event: alert\ndata: "...)
			b = a.AppendJSON(b) // one line: JSON escapes newlines
			b = append(b, "\n\n"...)
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := w.Write(b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-keep.C:
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
