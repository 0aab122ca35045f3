package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/console"
)

// Options configure a Hub.
type Options struct {
	// NATSURL is an external NATS (cluster) to use; empty: the hub runs
	// the embedded server NATS describes.
	NATSURL string
	NATS    NATSOptions
	Stream  StreamOptions
	// Store is the store's DSN: a SQLite file path, or postgres://...
	Store string
	// Listen is the HTTP API's address (host:port).
	Listen string
	// APITLS, when set, serves the API over HTTPS.
	APITLS *tls.Config
	// ClientTLS is the hub's own NATS client TLS (its certificate has the
	// common name HubIdentity); nil: plain.
	ClientTLS *tls.Config
	// ViewerToken and AdminToken are the API's bearer tokens: a viewer
	// reads, an admin also pushes and rolls back rules. Empty: that role
	// has no token (the API without any token answers 401).
	ViewerToken, AdminToken string
	// AliveAfter is how long after its last heartbeat a node counts as
	// alive; 0 means 30s.
	AliveAfter time.Duration
	Logger     *slog.Logger
}

// Stats are the hub's counters.
type Stats struct {
	Messages   uint64 // stream messages handled
	Alerts     uint64 // alerts newly stored
	Duplicates uint64 // alerts already stored (redelivered)
	Heartbeats uint64
	Acks       uint64
	Bad        uint64 // messages that could not be decoded (logged, acknowledged)
	Gaps       uint64 // deliveries lost on their way (acknowledgements held until they came again)
}

// Hub runs the fleet's server side: NATS (embedded or external), the
// durable consumer into the store, the HTTP API and rule distribution.
type Hub struct {
	opts  Options
	log   *slog.Logger
	store Store
	srv   *server.Server // embedded NATS, nil with NATSURL
	nc    *nats.Conn
	js    jetstream.JetStream
	cons  jetstream.Consumer
	kv    jetstream.KeyValue
	// profKV holds the fleet's merged profiles for the agents
	// (fleet.ProfilesBucket, shareProfiles).
	profKV jetstream.KeyValue

	pushMu sync.Mutex // one push or rollback at a time

	// feed fans newly stored alerts out to the console's live view;
	// console is the web console over the fleet's store.
	feed    *console.Feed
	console *console.Console

	messages, alerts, duplicates, heartbeats, acks, bad, gaps atomic.Uint64
	ready                                                     chan struct{}
	addr                                                      atomic.Pointer[string]
}

// New opens the store and starts NATS (embedded unless NATSURL), the
// stream, the consumer and the rules bucket. Run serves; Close releases.
func New(ctx context.Context, o Options) (*Hub, error) {
	h := &Hub{opts: o, log: o.Logger, ready: make(chan struct{}), feed: console.NewFeed()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.console = console.New(console.Options{Source: consoleSource{h}, AdminToken: o.AdminToken, ViewerToken: o.ViewerToken,
		Node: "hub", Secure: o.APITLS != nil, PushesRuleFiles: true, Logger: h.log})
	if h.opts.AliveAfter <= 0 {
		h.opts.AliveAfter = 30 * time.Second
	}
	st, err := OpenStore(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	h.store = st
	url := o.NATSURL
	if url == "" {
		h.srv, err = StartNATS(o.NATS)
		if err != nil {
			h.Close()
			return nil, err
		}
		url = h.srv.ClientURL()
		if o.NATS.TLS != nil {
			url = "tls://" + h.srv.Addr().String()
		}
	}
	nopts := []nats.Option{nats.Name("vigil hub"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true)}
	if o.ClientTLS != nil {
		nopts = append(nopts, nats.Secure(o.ClientTLS))
	}
	if h.nc, err = nats.Connect(url, nopts...); err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: nats: %w", err)
	}
	if h.js, err = jetstream.New(h.nc); err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: jetstream: %w", err)
	}
	// The stream may take a moment on a cluster that is electing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		h.cons, h.kv, err = ensureStream(cctx, h.js, o.Stream)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err == nil {
		h.profKV, err = ensureProfilesBucket(ctx, h.js, o.Stream)
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Store returns the hub's store.
func (h *Hub) Store() Store { return h.store }

// NATSURL returns the client URL of the embedded server ("" with an
// external one).
func (h *Hub) NATSURL() string {
	if h.srv == nil {
		return ""
	}
	if h.opts.NATS.TLS != nil {
		return "tls://" + h.srv.Addr().String()
	}
	return h.srv.ClientURL()
}

// Addr returns the API's address once Run listens ("" before).
func (h *Hub) Addr() string {
	if p := h.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{Messages: h.messages.Load(), Alerts: h.alerts.Load(), Duplicates: h.duplicates.Load(),
		Heartbeats: h.heartbeats.Load(), Acks: h.acks.Load(), Bad: h.bad.Load(), Gaps: h.gaps.Load()}
}

// Run consumes the stream into the store and serves the API until ctx
// ends.
func (h *Hub) Run(ctx context.Context) error {
	var ln net.Listener
	if h.opts.Listen != "" {
		var err error
		if ln, err = net.Listen("tcp", h.opts.Listen); err != nil {
			return fmt.Errorf("hub: api: %w", err)
		}
		a := ln.Addr().String()
		h.addr.Store(&a)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- h.ingest(ctx)
	}()
	if ln != nil {
		srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second, TLSConfig: h.opts.APITLS,
			ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if h.opts.APITLS != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	close(h.ready)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// Close releases the connection, the embedded server and the store.
func (h *Hub) Close() error {
	if h.nc != nil {
		h.nc.Close()
	}
	if h.srv != nil {
		h.srv.Shutdown()
		h.srv.WaitForShutdown()
	}
	if h.store != nil {
		return h.store.Close()
	}
	return nil
}
