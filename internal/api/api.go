package api

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/store"
)

// Querier is what /api/alerts needs from the store.
type Querier interface {
	Query(ctx context.Context, f store.Filter) ([]*alert.Alert, error)
}

// Options configures the server.
type Options struct {
	// Addr is the listen address (127.0.0.1:8765).
	Addr string
	// Token is the bearer token of /api/alerts; empty disables the API.
	Token string
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Store answers /api/alerts; nil answers 503.
	Store Querier
	// Health reports the agent's health for /healthz; nil means healthy.
	Health func() error
	// Console is the web console, mounted at /console/ (nil: none).
	Console http.Handler
	// TLS, when set, serves HTTPS only (the certificate is the caller's).
	TLS *tls.Config
	// MaxConns caps the open connections (DefaultMaxConns when 0): at the
	// cap the oldest idle one is closed to make room.
	MaxConns int
}

// Server is the HTTP endpoint.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu  sync.Mutex
	lim *connLimiter // set by Serve
}

// ReadToken reads a token file: its content without surrounding
// whitespace. An empty path gives an empty token (API disabled). warning is
// set when the file is readable by every user (the token is then no
// secret on this host): the caller logs it.
func ReadToken(path string) (tok, warning string, err error) {
	if path == "" {
		return "", "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("api token: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", "", fmt.Errorf("api token: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<16))
	if err != nil {
		return "", "", fmt.Errorf("api token: %w", err)
	}
	tok = strings.TrimSpace(string(b))
	if tok == "" {
		return "", "", fmt.Errorf("api token: %s is empty", path)
	}
	if st.Mode().Perm()&0o004 != 0 {
		warning = fmt.Sprintf("api token file %s is readable by every user (mode %04o): anyone on this host can query the alerts; chmod 600 it", path, st.Mode().Perm())
	}
	return tok, warning, nil
}

// New returns a server.
func New(opts Options) *Server {
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	if opts.Metrics != nil {
		s.mux.Handle("GET /metrics", opts.Metrics)
	}
	s.mux.HandleFunc("GET /api/alerts", s.alerts)
	if opts.Console != nil {
		s.mux.Handle("/console/", opts.Console)
	}
	return s
}

// Handler returns the server's handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// APIEnabled reports whether /api/alerts is enabled (a token is set).
func (s *Server) APIEnabled() bool { return s.opts.Token != "" }

// Run listens on Addr and serves until ctx is done, then shuts down
// (waiting up to 5s for requests in flight).
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Stats returns the connection counters (zero before Serve).
func (s *Server) Stats() Stats {
	s.mu.Lock()
	lim := s.lim
	s.mu.Unlock()
	if lim == nil {
		return Stats{}
	}
	return lim.stats()
}

// Serve serves on ln until ctx is done, with at most MaxConns connections
// open and the read, write and idle timeouts above.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	max := s.opts.MaxConns
	if max <= 0 {
		max = DefaultMaxConns
	}
	lim := newConnLimiter(ln, max)
	s.mu.Lock()
	s.lim = lim
	s.mu.Unlock()
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, ConnState: lim.track,
		ErrorLog: log.New(io.Discard, "", 0)}
	// Requests' contexts end when shutdown starts, so that long-lived
	// streams (the console's live alerts) end instead of holding it up.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv.BaseContext = func(net.Listener) context.Context { return base }
	srv.RegisterOnShutdown(cancelBase)
	errc := make(chan error, 1)
	var served net.Listener = lim
	if s.opts.TLS != nil {
		served = tls.NewListener(lim, s.opts.TLS)
	}
	go func() { errc <- srv.Serve(served) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Health != nil {
		if err := s.opts.Health(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) == 1
}

// ParseFilter reads the query parameters since (a duration back from now,
// or an RFC 3339 time), until (RFC 3339), rule, container, priority
// (minimum) and limit.
func ParseFilter(get func(string) string, now time.Time) (store.Filter, error) {
	var f store.Filter
	if v := get("since"); v != "" {
		t, err := ParseTime(v, now)
		if err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
		f.Since = t
	}
	if v := get("until"); v != "" {
		t, err := ParseTime(v, now)
		if err != nil {
			return f, fmt.Errorf("until: %w", err)
		}
		f.Until = t
	}
	f.Rule = get("rule")
	f.Container = get("container")
	if v := get("priority"); v != "" {
		p, err := alert.ParsePriority(v)
		if err != nil {
			return f, fmt.Errorf("priority: %w", err)
		}
		f.Priority = &p
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

// ParseTime parses a duration back from now ("1h", "30m", "2d", "1d12h";
// config.ParseDuration) or an
// RFC 3339 time.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if d, err := config.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("negative duration %q", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("want a duration (1h, 2d, 1d12h) or an RFC 3339 time, got %q", v)
	}
	return t, nil
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token == "" {
		jsonError(w, http.StatusForbidden, "the alerts API is disabled: no token configured (set http.token_file)")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
		jsonError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if s.opts.Store == nil {
		jsonError(w, http.StatusServiceUnavailable, "the alert store is disabled (store.enabled: false)")
		return
	}
	q := r.URL.Query()
	f, err := ParseFilter(q.Get, time.Now())
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	as, err := s.opts.Store.Query(r.Context(), f)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	b := []byte{'['}
	for i, a := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.AppendJSON(b)
	}
	b = append(b, ']', '\n')
	_, _ = w.Write(b)
}
