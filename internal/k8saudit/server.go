package k8saudit

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/queue"
)

// Path is where the webhook listens.
const Path = "/k8s-audit"

// Defaults of ServerOptions.
const (
	DefaultMaxBodyBytes = 4 << 20
	DefaultQueueSize    = 64
)

// Rejection reasons: the fixed label set of
// vigil_k8s_audit_rejected_total{reason}.
const (
	ReasonUnauthorized = "unauthorized"
	ReasonTooLarge     = "too_large"
	ReasonMalformed    = "malformed"
	ReasonQueueFull    = "queue_full"
	ReasonMethod       = "method"
)

var reasons = []string{ReasonUnauthorized, ReasonTooLarge, ReasonMalformed, ReasonQueueFull, ReasonMethod}

// ServerOptions configure the webhook.
type ServerOptions struct {
	// Listen is the address (host:port); ":0" picks a port (Addr tells it).
	Listen string
	// TLS serves HTTPS when not nil.
	TLS *tls.Config
	// Token is the bearer token the API server must send (Authorization:
	// Bearer TOKEN). It must not be empty.
	Token string
	// MaxBodyBytes bounds a request body (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// QueueSize bounds the accepted batches waiting for Run (0:
	// DefaultQueueSize); a request finding the queue full gets 429.
	QueueSize int
	// Overflow reports queue drops (vigil_queue_dropped_total{queue="k8s_audit"}
	// and the queue overflow alert); nil: counted only.
	Overflow *queue.Overflow
	Metrics  *metrics.Registry
	Logger   *slog.Logger
}

// Server is the audit webhook. Build it with NewServer, start it with
// Start, consume it with Run, stop it with Close.
type Server struct {
	opts     ServerOptions
	log      *slog.Logger
	queue    *queue.Queue[[]byte]
	srv      *http.Server
	ln       net.Listener
	dec      Decoder // checks requests (one at a time, under check); Run has its own
	check    chan struct{}
	received *metrics.Counter
	events   *metrics.Counter
	rejected map[string]*metrics.Counter
}

// NewServer checks the options and returns a server; it listens on Start.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Token == "" {
		return nil, errors.New("k8s audit webhook: a token is required")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	s := &Server{opts: o, log: o.Logger, check: make(chan struct{}, 1), rejected: map[string]*metrics.Counter{},
		queue: queue.New[[]byte](queue.Options{Name: "k8s_audit", Item: "audit batches", Size: o.QueueSize, Overflow: o.Overflow})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	r := o.Metrics
	if r == nil {
		r = metrics.NewRegistry()
	}
	s.received = r.Counter("vigil_k8s_audit_batches_total", "Audit batches accepted by the webhook.")
	s.events = r.Counter("vigil_k8s_audit_events_total", "Audit events evaluated.")
	rv := r.CounterVec("vigil_k8s_audit_rejected_total", "Audit webhook requests refused, by reason.", "reason")
	for _, k := range reasons {
		s.rejected[k] = rv.With(k)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		TLSConfig: o.TLS, ErrorLog: nil}
	return s, nil
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("k8s audit webhook: %w", err)
	}
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("k8s audit webhook stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address the server listens on (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting requests; Run returns once the queue is drained.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	return err
}

// Rejected returns the count of requests refused for reason.
func (s *Server) Rejected(reason string) uint64 { return s.rejected[reason].Value() }

func (s *Server) reject(w http.ResponseWriter, reason string, code int, msg string) {
	s.rejected[reason].Inc()
	http.Error(w, msg, code)
}

// ServeHTTP is the webhook: POST Path with an EventList.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, ReasonMethod, http.StatusMethodNotAllowed, "POST an audit.k8s.io/v1 EventList")
		return
	}
	const bearer = "Bearer "
	auth := r.Header.Get("Authorization")
	if len(auth) <= len(bearer) || auth[:len(bearer)] != bearer ||
		subtle.ConstantTimeCompare([]byte(auth[len(bearer):]), []byte(s.opts.Token)) != 1 {
		s.reject(w, ReasonUnauthorized, http.StatusUnauthorized, "unauthorized")
		return
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		s.reject(w, ReasonTooLarge, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.reject(w, ReasonTooLarge, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		s.reject(w, ReasonMalformed, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	// Check the batch before queueing it, so a malformed one is refused
	// with 400 and nothing of it is evaluated. One check at a time: the
	// decoder is not safe for concurrent use.
	s.check <- struct{}{}
	_, err = s.dec.Check(body)
	<-s.check
	if err != nil {
		s.reject(w, ReasonMalformed, http.StatusBadRequest, err.Error())
		return
	}
	if !s.queue.Push(body) {
		s.reject(w, ReasonQueueFull, http.StatusTooManyRequests, "audit queue full")
		return
	}
	s.received.Inc()
	w.WriteHeader(http.StatusOK)
}

// Run evaluates queued batches, calling fn for each event on this
// goroutine, until ctx is done.
func (s *Server) Run(ctx context.Context, fn func(*event.Event)) error {
	var d Decoder
	for {
		select {
		case <-ctx.Done():
			return nil
		case body := <-s.queue.C():
			n, err := d.Batch(body, fn)
			if err != nil { // checked on arrival: cannot happen
				s.log.Error("k8s audit batch", "err", err)
				continue
			}
			s.events.Add(uint64(n))
		}
	}
}
