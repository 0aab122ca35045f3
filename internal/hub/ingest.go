package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
)

// fetchBatch is the most messages taken from the consumer at once: one
// store transaction.
const fetchBatch = 1000

// fetchAhead is how many fetched batches may wait for the store.
const fetchAhead = 8

// maxAckPending is the most messages the consumer delivers unacknowledged.
const maxAckPending = 20000

// ingest pulls the stream through the durable consumer into the store. A
// batch is acknowledged (AckAll: its last message) only once stored, so a
// hub that stops at any point gets the rest again; the store drops what it
// has already (by UUID). One goroutine fetches and decodes the next batch
// while this one stores the current.
//
// A hub killed mid-batch leaves messages delivered to it and never
// acknowledged; the consumer delivers them again after its ack wait, but
// new messages come first, and acknowledging one of those (AckAll) would
// acknowledge the dead hub's batch with it, unstored. So a hub that finds
// messages pending when it starts acknowledges nothing until it has stored
// every one of them (a redelivery).
func (h *Hub) ingest(ctx context.Context) error {
	var held *pendingRange
	var high uint64 // the highest stream sequence received
	ackWait := 30 * time.Second
	if info, err := h.cons.Info(ctx); err != nil {
		h.log.Warn("consumer info", "err", err)
	} else {
		ackWait = info.Config.AckWait
		high = info.Delivered.Stream
		if info.NumAckPending > 0 {
			held = newPendingRange(3 * ackWait)
			held.add(info.AckFloor.Stream, info.Delivered.Stream)
			h.log.Info("messages delivered to a hub that stopped without acknowledging them: acknowledging nothing until they come again and are stored",
				"from_seq", info.AckFloor.Stream+1, "to_seq", info.Delivered.Stream, "ack_wait", ackWait)
		}
	}
	// Up to fetchAhead decoded batches wait for the store: a fetch now and
	// then takes many times a store's time (the stream's file store loads
	// a block), and a short queue left the store idle behind it (SQLite
	// 13.9k alerts/s with 2, 24.8k with 8, in the same hour). With the
	// batch being fetched and the one being stored, fewer than the
	// consumer's MaxAckPending messages are out.
	batches := make(chan *decoded, fetchAhead)
	go func() {
		defer close(batches)
		for ctx.Err() == nil {
			b, err := h.cons.Fetch(fetchBatch, jetstream.FetchMaxWait(500*time.Millisecond))
			if err != nil {
				if ctx.Err() == nil {
					h.log.Debug("fetch", "err", err)
					sleep(ctx, 200*time.Millisecond)
				}
				continue
			}
			var msgs []jetstream.Msg
			for m := range b.Messages() {
				msgs = append(msgs, m)
			}
			if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
				h.log.Debug("fetch", "err", err)
			}
			if len(msgs) > 0 {
				batches <- h.decode(msgs) // taken by the storer even after ctx ends
			}
		}
	}()
	for d := range batches {
		// A batch in hand is stored and acknowledged even when ctx ends
		// meanwhile (a graceful stop leaves nothing to deliver again),
		// unless the store keeps failing past the stop.
		for {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := h.store1(sctx, d)
			cancel()
			if err == nil {
				break
			}
			h.log.Error("store failed; retrying the batch", "err", err)
			if ctx.Err() != nil {
				for range batches {
				}
				return nil // not acknowledged: delivered again after AckWait
			}
			sleep(ctx, time.Second)
		}
		// Messages the consumer delivered that never reached this hub (a
		// fetch's reply lost while a NATS server dies, or one that came
		// after the fetch gave up) leave a gap in the stream sequences:
		// acknowledging a newer message (AckAll) would acknowledge them
		// unstored, so the hub holds its acknowledgements until they come
		// again. A gap wider than the consumer's pending limit is messages
		// the stream no longer has (its limits), not a lost delivery.
		for _, seq := range d.seqs {
			if seq <= high {
				continue
			}
			if high > 0 && seq > high+1 && seq-high-1 <= maxAckPending {
				if held == nil {
					held = newPendingRange(3 * ackWait)
				}
				held.add(high, seq-1)
				h.gaps.Add(1)
				h.log.Info("messages delivered and not received: acknowledging nothing until they come again and are stored",
					"from_seq", high+1, "to_seq", seq-1, "ack_wait", ackWait)
			}
			high = seq
		}
		if held != nil {
			if !held.cover(d.seqs) {
				h.messages.Add(uint64(d.n))
				continue // delivered again after the ack wait, dropped as copies
			}
			h.log.Info("the messages a stopped hub left pending are stored", "complete", held.complete())
			held = nil
		}
		if err := d.last.Ack(); err != nil {
			h.log.Warn("ack", "err", err)
		}
		h.messages.Add(uint64(d.n))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// pendingRange is the stream sequences delivered to this consumer and not
// stored yet: a stopped hub's, or lost on their way to this one.
type pendingRange struct {
	missing  map[uint64]struct{}
	deadline time.Time
}

func newPendingRange(wait time.Duration) *pendingRange {
	return &pendingRange{missing: map[uint64]struct{}{}, deadline: time.Now().Add(wait)}
}

// add notes the sequences (from, to] as missing, at most maxAckPending of
// them (no more can be out).
func (p *pendingRange) add(from, to uint64) {
	if to-from > maxAckPending {
		from = to - maxAckPending
	}
	for s := from + 1; s <= to; s++ {
		p.missing[s] = struct{}{}
	}
}

// cover records stored sequences and says whether acknowledging may
// resume: every missing one is stored, or the deadline passed (messages
// that never come again are gone from the stream, its limits).
func (p *pendingRange) cover(seqs []uint64) bool {
	for _, s := range seqs {
		delete(p.missing, s)
	}
	return p.complete() || time.Now().After(p.deadline)
}

func (p *pendingRange) complete() bool { return len(p.missing) == 0 }

// decoded is a fetched batch, decoded.
type decoded struct {
	n     int
	seqs  []uint64 // stream sequences, in delivery order
	last  jetstream.Msg
	in    []Incoming
	hbs   []*fleet.Heartbeat
	acks  []*fleet.Ack
	incs  []IncomingIncident
	profs []NodeProfile
}

// decode decodes a batch. The node is the one of the subject (which its
// credentials allow it alone to publish on), never the payload's.
func (h *Hub) decode(msgs []jetstream.Msg) *decoded {
	d := &decoded{n: len(msgs), last: msgs[len(msgs)-1], seqs: make([]uint64, 0, len(msgs))}
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil {
			d.seqs = append(d.seqs, md.Sequence.Stream)
		}
		kind, node, ok := fleet.SubjectKind(m.Subject())
		if !ok {
			h.badMessage(m, "unknown subject")
			continue
		}
		switch kind {
		case "alert":
			a := new(alert.Alert) // partial: what the store indexes; the JSON is stored as it came
			if err := a.UnmarshalIndex(m.Data()); err != nil || a.UUID == "" {
				h.badMessage(m, "alert: "+errString(err, "no uuid"))
				continue
			}
			d.in = append(d.in, Incoming{Node: node, Alert: a, JSON: m.Data()})
		case "heartbeat":
			hb := new(fleet.Heartbeat)
			if err := json.Unmarshal(m.Data(), hb); err != nil {
				h.badMessage(m, "heartbeat: "+err.Error())
				continue
			}
			hb.Node = node
			d.hbs = append(d.hbs, hb)
		case "incident":
			var inc alert.Incident
			if err := json.Unmarshal(m.Data(), &inc); err != nil || inc.UUID == "" {
				h.badMessage(m, "incident: "+errString(err, "no uuid"))
				continue
			}
			d.incs = append(d.incs, IncomingIncident{Node: node, UUID: inc.UUID, Complete: inc.Complete, JSON: m.Data()})
		case "profile":
			p, err := decodeProfile(node, m.Data())
			if err != nil {
				h.badMessage(m, "profile: "+err.Error())
				continue
			}
			d.profs = append(d.profs, p)
		case "ack":
			a := new(fleet.Ack)
			if err := json.Unmarshal(m.Data(), a); err != nil {
				h.badMessage(m, "ack: "+err.Error())
				continue
			}
			a.Node = node
			d.acks = append(d.acks, a)
		default:
			h.badMessage(m, "unknown subject")
		}
	}
	return d
}

// store1 stores one decoded batch.
func (h *Hub) store1(ctx context.Context, d *decoded) error {
	n, err := h.store.AddAlerts(ctx, d.in)
	if err != nil {
		return err
	}
	// Only the newest heartbeat per node matters.
	latest := map[string]*fleet.Heartbeat{}
	for _, hb := range d.hbs {
		if p := latest[hb.Node]; p == nil || !hb.Time.Before(p.Time) {
			latest[hb.Node] = hb
		}
	}
	for _, hb := range latest {
		if err := h.store.PutHeartbeat(ctx, hb); err != nil {
			return err
		}
	}
	for _, a := range d.acks {
		if err := h.store.PutAck(ctx, a); err != nil {
			return err
		}
	}
	if err := h.store.AddIncidents(ctx, d.incs); err != nil {
		return err
	}
	for _, p := range d.profs {
		if err := h.store.PutProfile(ctx, p); err != nil {
			return err
		}
	}
	h.shareProfiles(ctx, d.profs)
	fresh := 0
	for _, x := range d.in {
		if !x.Alert.Vigil.Update {
			fresh++
		}
	}
	if h.feed.Subscribers() > 0 { // the console's live view (never blocks) wants whole alerts
		for _, x := range d.in {
			a := new(alert.Alert)
			if a.UnmarshalJSON(x.JSON) == nil {
				h.feed.Publish(a)
			}
		}
	}
	h.alerts.Add(uint64(n))
	h.duplicates.Add(uint64(fresh - n))
	h.heartbeats.Add(uint64(len(d.hbs)))
	h.acks.Add(uint64(len(d.acks)))
	return nil
}

func errString(err error, def string) string {
	if err != nil {
		return err.Error()
	}
	return def
}

// badMessage logs a message that cannot be stored (it is acknowledged with
// its batch: it would never decode better).
func (h *Hub) badMessage(m jetstream.Msg, why string) {
	h.bad.Add(1)
	seq := uint64(0)
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	h.log.Warn("message dropped", "subject", m.Subject(), "stream_seq", seq, "err", why)
}
