package agent

import (
	"context"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/recorder"
)

// newRecorder builds the flight recorder from recorder.* (nil when
// disabled); its incidents go to the store.
func (a *Agent) newRecorder() *recorder.Recorder {
	c := a.cfg.Recorder
	if !c.Enabled {
		return nil
	}
	after := c.After
	if after == 0 {
		after = -1 // no after window
	}
	return recorder.New(recorder.Options{Window: c.Window, MaxEvents: c.MaxEvents, MaxBytes: int64(c.MaxMB) << 20,
		MaxRings: c.MaxRings, After: after, MaxPending: c.MaxPending, MaxIncidentEvents: c.MaxIncidentEvents,
		Sink: a.storeIncident, Metrics: a.reg})
}

// storeIncident hands an incident to the store and the hub (never
// blocks; a full queue drops and counts).
func (a *Agent) storeIncident(inc *alert.Incident) {
	if a.fleet != nil {
		a.fleet.SendIncident(inc)
	}
	if a.store == nil {
		return
	}
	if st := a.store.get(); st != nil {
		st.AddIncident(inc)
	}
}

// expireIncidents closes the incidents whose after window ended, every
// second, so that an incident completes when no event follows it.
func (a *Agent) expireIncidents(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			a.rec.Expire(now.UnixNano())
		}
	}
}
