package fleet

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/rules"
)

// Options configure a Client.
type Options struct {
	// URL of the NATS server(s) the hub listens on: nats://host:4222 or
	// tls://host:4222, several separated by commas.
	URL string
	// Node is this agent's node name (one subject token, see NodeName).
	Node string
	// SpoolDir holds the spool; SpoolMaxBytes bounds it (0: 256 MiB).
	SpoolDir      string
	SpoolMaxBytes int64
	// TLS, when set, is used for the connection (mutual TLS: it carries
	// the node's certificate).
	TLS *tls.Config
	// User and Password, when set, authenticate the node (besides or
	// instead of its certificate).
	User, Password string
	// PublishTimeout bounds the wait for one JetStream acknowledgement; 0
	// means 2s.
	PublishTimeout time.Duration
	// HeartbeatInterval is how often Heartbeat is called and sent; 0 means
	// 10s.
	HeartbeatInterval time.Duration
	// Heartbeat returns the node's heartbeat; nil sends none.
	Heartbeat func() Heartbeat
	// ApplyRules puts a pushed bundle in force, or refuses it and returns
	// the positioned errors (the rules in force stay); nil: bundles are
	// ignored.
	ApplyRules func(b *Bundle) (rules.Diagnostics, error)
	// ApplyProfile takes the fleet's merged profile of a workload (the
	// JSON document of internal/profile) from the hub's ProfilesBucket;
	// nil: they are ignored.
	ApplyProfile func(doc []byte)
	// IncidentHold is how long an incident's first form (the events before
	// its alert, Complete false) waits for its complete form, which
	// supersedes it, before it is sent alone (the agent stopped or died
	// before the after window closed); 0 sends it at once. The agent holds
	// for its recorder's after window and 2 s more.
	IncidentHold time.Duration
	// Overflow reports the spool's drops (queue "fleet.spool").
	Overflow *queue.Overflow
	Logger   *slog.Logger
}

// Stats are the client's counters.
type Stats struct {
	Connected    bool
	Published    uint64 // messages the stream acknowledged
	Duplicates   uint64 // of which the stream had already (same id)
	Spooled      uint64 // messages that went through the spool
	SpoolLen     int    // waiting in the spool now
	SpoolBytes   int64
	SpoolDropped uint64
	RulesVersion uint64 // bundle in force (0: none)
}

// Client is an agent's link to the hub: it publishes alerts (through
// Output, one of the agent's outputs), heartbeats and rule
// acknowledgements on the node's subjects, spools what the hub cannot take
// and applies the rule bundles the hub pushes.
type Client struct {
	opts  Options
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	spool *Spool

	// sendMu orders direct publishes against the spool: a record goes
	// straight to the stream only when the spool is empty.
	sendMu sync.Mutex
	wake   chan struct{}

	// incidents waits for the incident sender (SendIncident never blocks).
	incidents *queue.Queue[*alert.Incident]

	published, duplicates, spooled atomic.Uint64
	rulesVersion                   atomic.Uint64
}

// ErrNoNode is returned by Connect without a node name.
var ErrNoNode = errors.New("fleet: node name required")

// Connect opens the spool and starts connecting to o.URL. An unreachable
// hub is no error: the client spools and keeps trying.
func Connect(o Options) (*Client, error) {
	if o.Node == "" {
		return nil, ErrNoNode
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 2 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 10 * time.Second
	}
	c := &Client{opts: o, log: o.Logger, wake: make(chan struct{}, 1),
		incidents: queue.New[*alert.Incident](queue.Options{Name: "fleet.incidents", Item: "incidents", Size: 1024, Overflow: o.Overflow})}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	sp, err := OpenSpool(SpoolOptions{Dir: o.SpoolDir, MaxBytes: o.SpoolMaxBytes, Overflow: o.Overflow})
	if err != nil {
		return nil, err
	}
	c.spool = sp
	nopts := []nats.Option{nats.Name("vigil " + o.Node), nats.CustomInboxPrefix(InboxPrefix(o.Node)), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond), nats.ReconnectBufSize(-1),
		nats.ReconnectHandler(func(*nats.Conn) { c.log.Info("hub connection back"); c.kick() }),
		nats.ConnectHandler(func(*nats.Conn) { c.log.Info("hub connected"); c.kick() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				c.log.Warn("hub connection lost; spooling", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { c.log.Warn("hub", "err", err) }),
	}
	if o.TLS != nil {
		nopts = append(nopts, nats.Secure(o.TLS))
	}
	if o.User != "" {
		nopts = append(nopts, nats.UserInfo(o.User, o.Password))
	}
	nc, err := nats.Connect(o.URL, nopts...)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("fleet: %w", err)
	}
	c.nc = nc
	if c.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(o.PublishTimeout)); err != nil {
		nc.Close()
		sp.Close()
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return c, nil
}

func (c *Client) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Connected: c.nc.IsConnected(), Published: c.published.Load(), Duplicates: c.duplicates.Load(),
		Spooled: c.spooled.Load(), SpoolLen: c.spool.Len(), SpoolBytes: c.spool.Bytes(), SpoolDropped: c.spool.Dropped(),
		RulesVersion: c.rulesVersion.Load()}
}

// publish sends r to the stream and waits for its acknowledgement.
func (c *Client) publish(ctx context.Context, r Record) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.PublishTimeout)
	defer cancel()
	ack, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: r.Subject, Data: r.Data},
		jetstream.WithMsgID(r.ID), jetstream.WithExpectStream(Stream))
	if err != nil {
		return err
	}
	c.published.Add(1)
	if ack.Duplicate {
		c.duplicates.Add(1)
	}
	return nil
}

// send publishes r in order with everything before it: straight to the
// stream when nothing waits in the spool and the hub is connected, else
// (or when that fails) through the spool.
func (c *Client) send(ctx context.Context, r Record) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.spool.Len() == 0 && c.nc.IsConnected() {
		if err := c.publish(ctx, r); err == nil {
			return nil
		}
		// Maybe stored all the same: the drain sends it again with the
		// same id, which the stream (and the hub's store) drop.
	}
	if err := c.spool.Append(r); err != nil {
		return err
	}
	c.spooled.Add(1)
	c.kick()
	return nil
}

// sendBatch is send for several records: published together when nothing
// waits in the spool, their acknowledgements awaited in order; from the
// first that fails, the rest go to the spool in order (those of them the
// stream had stored come again with their ids and are dropped as copies).
func (c *Client) sendBatch(ctx context.Context, rs []Record) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	failed := 0 // rs[failed:] go to the spool
	if c.spool.Len() == 0 && c.nc.IsConnected() {
		futs := make([]jetstream.PubAckFuture, 0, len(rs))
		for _, r := range rs {
			f, err := c.js.PublishMsgAsync(&nats.Msg{Subject: r.Subject, Data: r.Data},
				jetstream.WithMsgID(r.ID), jetstream.WithExpectStream(Stream))
			if err != nil {
				break
			}
			futs = append(futs, f)
		}
		timeout := time.NewTimer(c.opts.PublishTimeout)
		defer timeout.Stop()
	wait:
		for _, f := range futs {
			select {
			case ack := <-f.Ok():
				c.published.Add(1)
				if ack.Duplicate {
					c.duplicates.Add(1)
				}
				failed++
			case <-f.Err():
				break wait
			case <-timeout.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
	}
	var first error
	for _, r := range rs[failed:] {
		if err := c.spool.Append(r); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		c.spooled.Add(1)
	}
	if failed < len(rs) {
		c.kick()
	}
	return first
}

// Run drains the spool, sends heartbeats and applies pushed rules until
// ctx ends.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); c.drain(ctx) }()
	go func() { defer wg.Done(); c.sendIncidents(ctx) }()
	go func() { defer wg.Done(); c.heartbeats(ctx) }()
	go func() { defer wg.Done(); c.watchRules(ctx) }()
	go func() { defer wg.Done(); c.watchProfiles(ctx) }()
	wg.Wait()
	return nil
}

// SendIncident queues an alert's incident (the flight recorder's events
// around it) for the hub; it never blocks (a full queue drops, counted as
// the queue "fleet.incidents"). Incidents go through the spool like
// alerts.
func (c *Client) SendIncident(inc *alert.Incident) { c.incidents.Push(inc) }

func (c *Client) sendIncidents(ctx context.Context) {
	var batch []Record
	held := map[string]heldIncident{} // first forms waiting for their complete one, by UUID
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	take := func(inc *alert.Incident) {
		if !inc.Complete && c.opts.IncidentHold > 0 && len(held) < maxHeldIncidents {
			held[inc.UUID] = heldIncident{inc: inc, until: time.Now().Add(c.opts.IncidentHold)}
			return
		}
		if inc.Complete {
			delete(held, inc.UUID) // superseded: never sent
		}
		batch = append(batch, c.incidentRecord(inc))
	}
	send := func() {
		if len(batch) == 0 {
			return
		}
		if err := c.sendBatch(ctx, batch); err != nil {
			c.log.Warn("incidents not sent", "n", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			// The first forms still held go to the spool (Flush or the next
			// start sends them, with whatever complete form comes later).
			for _, h := range held {
				c.spoolRecord(c.incidentRecord(h.inc))
			}
			return
		case now := <-tick.C:
			for uuid, h := range held {
				if now.After(h.until) {
					delete(held, uuid)
					batch = append(batch, c.incidentRecord(h.inc))
				}
			}
			send()
		case inc := <-c.incidents.C():
			// What else comes within outputBatchInterval goes with it:
			// published together, one wake-up and one write for the batch
			// (as the alerts).
			take(inc)
			wait := time.NewTimer(outputBatchInterval)
		more:
			for len(batch) < outputBatchSize {
				select {
				case inc := <-c.incidents.C():
					take(inc)
				case <-wait.C:
					break more
				case <-ctx.Done():
					break more
				}
			}
			wait.Stop()
			send()
		}
	}
}

// spoolRecord appends r to the spool, in order with what is sent.
func (c *Client) spoolRecord(r Record) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.spool.Append(r); err != nil {
		c.log.Warn("not spooled", "id", r.ID, "err", err)
		return
	}
	c.spooled.Add(1)
}

// heldIncident is an incident's first form waiting for its complete one.
type heldIncident struct {
	inc   *alert.Incident
	until time.Time
}

// maxHeldIncidents bounds the first forms held; past it they are sent at
// once.
const maxHeldIncidents = 4096

func (c *Client) incidentRecord(inc *alert.Incident) Record {
	return Record{ID: IncidentMsgID(inc), Subject: IncidentSubject(c.opts.Node), Data: alert.AppendIncidentJSON(nil, inc)}
}

// drain sends the spool's records, oldest first, each removed once the
// stream acknowledged it.
func (c *Client) drain(ctx context.Context) {
	backoff := 100 * time.Millisecond
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		for c.nc.IsConnected() {
			r, ok, err := c.spool.Peek()
			if err != nil {
				c.log.Error("fleet spool unreadable", "err", err)
				break
			}
			if !ok {
				break
			}
			if err := c.publish(ctx, r); err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			c.spool.Pop()
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

func (c *Client) heartbeats(ctx context.Context) {
	if c.opts.Heartbeat == nil {
		return
	}
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.nc.IsConnected() {
			continue // a stale heartbeat tells nothing: not spooled
		}
		hb := c.opts.Heartbeat()
		hb.Node, hb.Spooled, hb.SpoolDropped = c.opts.Node, c.spool.Len(), c.spool.Dropped()
		b, _ := json.Marshal(hb)
		if err := c.publishCore(ctx, HeartbeatSubject(c.opts.Node), b); err != nil {
			c.log.Debug("heartbeat not sent", "err", err)
		}
	}
}

// publishCore publishes a message that needs no spool (heartbeats, acks).
func (c *Client) publishCore(ctx context.Context, subject string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.PublishTimeout)
	defer cancel()
	_, err := c.js.Publish(ctx, subject, data, jetstream.WithExpectStream(Stream))
	return err
}

// watchRules follows the hub's rule bundle and applies each new version.
func (c *Client) watchRules(ctx context.Context) {
	if c.opts.ApplyRules == nil {
		return
	}
	c.keepWatching(ctx, "rules watch", c.watchRulesOnce)
}

// keepWatching runs once (a KV watch) until ctx ends, again a second after
// each time it returns (the hub or NATS went away).
func (c *Client) keepWatching(ctx context.Context, what string, once func(context.Context) error) {
	for ctx.Err() == nil {
		if err := once(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug(what, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (c *Client) watchRulesOnce(ctx context.Context) error {
	kv, err := c.js.KeyValue(ctx, RulesBucket)
	if err != nil {
		return err
	}
	w, err := kv.Watch(ctx, RulesKey)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch ended")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			c.applyBundle(ctx, e.Value())
		}
	}
}

// applyBundle applies one bundle newer than the one in force and
// acknowledges it to the hub.
func (c *Client) applyBundle(ctx context.Context, data []byte) {
	var b Bundle
	ack := Ack{Node: c.opts.Node, Time: time.Now().UTC()}
	if err := json.Unmarshal(data, &b); err != nil {
		ack.Error = "bundle: " + err.Error()
	} else {
		ack.Version = b.Version
		if b.Version <= c.rulesVersion.Load() {
			return
		}
		diags, err := c.opts.ApplyRules(&b)
		switch {
		case err != nil:
			ack.Error, ack.Errors = err.Error(), Diagnostics(diags)
			c.log.Error("pushed rules refused; the rules in force stay", "version", b.Version, "err", err)
		default:
			ack.OK = true
			c.rulesVersion.Store(b.Version)
			c.log.Info("pushed rules in force", "version", b.Version)
		}
	}
	msg, _ := json.Marshal(ack)
	if err := c.publishCore(ctx, AckSubject(c.opts.Node), msg); err != nil {
		c.log.Warn("rules acknowledgement not sent", "err", err)
	}
}

// Flush sends what waits in the spool until it is empty or ctx ends (the
// agent's shutdown, after its outputs were drained into the client); what
// is left stays on disk for the next start.
func (c *Client) Flush(ctx context.Context) {
	// Incidents queued after Run ended (the recorder closes its open
	// incidents at stop) go behind the spool.
	for {
		select {
		case inc := <-c.incidents.C():
			c.spoolRecord(c.incidentRecord(inc))
			continue
		default:
		}
		break
	}
	for c.nc.IsConnected() && ctx.Err() == nil {
		r, ok, err := c.spool.Peek()
		if err != nil || !ok {
			return
		}
		if err := c.publish(ctx, r); err != nil {
			return
		}
		c.spool.Pop()
	}
}

// SetRulesVersion records the bundle version already in force (read back
// from disk at start).
func (c *Client) SetRulesVersion(v uint64) { c.rulesVersion.Store(v) }

// Close closes the connection and the spool (what it holds stays on disk).
func (c *Client) Close() error {
	c.nc.Close()
	return c.spool.Close()
}

// Output returns the agent output that publishes alerts to the hub.
// PublishProfile sends one learned profile (its JSON document) to the
// hub, which keeps the newest of each node and merges the nodes' (see
// internal/hub). It is not spooled: the caller sends it again later when
// this fails.
func (c *Client) PublishProfile(ctx context.Context, doc []byte) error {
	return c.publishCore(ctx, ProfileSubject(c.opts.Node), doc)
}

func (c *Client) Output() *Output { return &Output{c: c} }

// Output is the "hub" output: each alert goes to the node's alert subject
// with its MsgID, in order, through the spool when the hub is away. It is
// an output.Batcher: the dispatcher hands it the alerts of up to
// outputBatchInterval at a time, published together and acknowledged
// together (one wake-up per batch, not per alert).
type Output struct{ c *Client }

// The hub output's batches: at most outputBatchSize alerts, waiting at
// most outputBatchInterval for more.
const (
	outputBatchSize     = 512
	outputBatchInterval = 100 * time.Millisecond
)

// Name implements output.Output.
func (o *Output) Name() string { return "hub" }

// Write implements output.Output.
func (o *Output) Write(ctx context.Context, a *alert.Alert) error {
	return o.c.send(ctx, o.record(a))
}

func (o *Output) record(a *alert.Alert) Record {
	return Record{ID: MsgID(a), Subject: AlertSubject(o.c.opts.Node), Data: a.AppendJSON(nil)}
}

// BatchSize implements output.Batcher.
func (o *Output) BatchSize() int { return outputBatchSize }

// BatchInterval implements output.Batcher.
func (o *Output) BatchInterval() int64 { return int64(outputBatchInterval) }

// WriteBatch implements output.Batcher.
func (o *Output) WriteBatch(ctx context.Context, as []*alert.Alert) error {
	rs := make([]Record, len(as))
	for i, a := range as {
		rs[i] = o.record(a)
	}
	return o.c.sendBatch(ctx, rs)
}

// Close implements output.Output; the client is closed by its owner.
func (o *Output) Close() error { return nil }
