package agent

import (
	"context"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/host"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/store"
)

// newLearner builds the profiling stage when profiles.enabled.
func (a *Agent) newLearner() *profile.Learner {
	pc := a.cfg.Profiles
	if !pc.Enabled {
		return nil
	}
	key, _ := profile.ParseKeyBy(pc.Key) // validated
	pri := pc.Priority
	return profile.NewLearner(profile.Options{KeyBy: key, Window: pc.LearningWindow, Roots: pc.Roots,
		MaxProfiles: pc.MaxProfiles, AlertsPerMinute: pc.AlertsPerMinute, Priority: &pri, Hostname: a.hostname,
		OnDeviation: a.onDeviation, Metrics: a.reg, PortStart: host.UnprivilegedPortStart})
}

// onDeviation delivers a deviation alert (on the event goroutine) through
// noise control, as a rule match's.
func (a *Agent) onDeviation(al *alert.Alert) {
	if !al.Priority.AtLeast(a.minPri) {
		a.pipe.BelowMin().Inc()
		return
	}
	if !a.coal.Offer(al) {
		a.coalesced.Inc()
		return
	}
	a.deliver(al)
}

// adoptFleetProfile folds the hub's merged profile of a workload into the
// learner (profile.Learner.Adopt): what another node learned is no
// deviation here. The changed profile is stored and sent at the next sync.
func (a *Agent) adoptFleetProfile(doc []byte) {
	p, err := profile.Decode(doc, "profile from the hub", profile.Limits{})
	if err != nil {
		a.log.Warn("profiles: the hub's profile not taken", "err", err)
		return
	}
	if a.learner.Adopt(p) {
		a.log.Info("profile: the fleet's behaviours taken", "profile", p.Name, "version", p.Version, "hosts", p.Hosts)
	}
}

// profileSync keeps the learner and the store in step: what the learner
// changed is written, what was written by someone else (vigil profile
// accept, import, merge; another agent sharing the file) is put in force.
type profileSync struct {
	a   *Agent
	seq int64 // the store's change counter last read
	// unsent are the changed profiles not yet sent to the hub (the
	// newest of each), sent again at the next sync.
	unsent map[string]*profile.Profile
}

// load reads the stored profiles newer than the last read into the
// learner; it reports whether the store could be read.
func (s *profileSync) load(ctx context.Context, st *store.Store) bool {
	rows, err := st.ProfilesSince(ctx, s.seq)
	if err != nil {
		s.a.log.Warn("profiles: reading the store", "err", err)
		return false
	}
	for _, r := range rows {
		s.seq = max(s.seq, r.Seq)
		p, err := profile.Decode(r.Body, r.Name+"@"+strconv.FormatUint(r.Version, 10), profile.Limits{})
		if err != nil {
			s.a.log.Warn("profiles: stored profile not loaded", "err", err)
			continue
		}
		if s.a.learner.Load(p) {
			s.a.log.Info("profile in force", "profile", p.Name, "version", p.Version, "state", p.State)
		}
	}
	return true
}

// save writes the profiles the learner changed.
func (s *profileSync) save(ctx context.Context, st *store.Store, changed []*profile.Profile) {
	for _, p := range changed {
		body, err := p.MarshalJSON()
		if err == nil {
			err = st.SaveProfile(ctx, store.ProfileRow{Name: p.Name, Version: p.Version, State: string(p.State),
				Updated: p.Updated, Body: body})
		}
		if err != nil {
			s.a.log.Warn("profiles: not stored", "profile", p.Name, "err", err)
		}
	}
}

// publish sends the changed profiles to the hub, when the agent has one:
// the hub keeps each node's newest and merges the nodes'. What cannot be
// sent (the hub away) is sent at the next sync, the newest version only;
// the first failure ends the round.
func (s *profileSync) publish(ctx context.Context, changed []*profile.Profile) {
	if s.a.fleet == nil {
		return
	}
	if s.unsent == nil {
		s.unsent = map[string]*profile.Profile{}
	}
	for _, p := range changed {
		s.unsent[p.Name] = p
	}
	for name, p := range s.unsent {
		body, err := p.MarshalJSON()
		if err == nil {
			err = s.a.fleet.PublishProfile(ctx, body)
		}
		if err != nil {
			s.a.log.Debug("profiles: not sent to the hub yet", "profile", name, "err", err)
			return
		}
		delete(s.unsent, name)
	}
}

// sync stores and sends what the learner changed, and (unless final)
// puts in force what the store has newer.
func (s *profileSync) sync(ctx context.Context, final bool) {
	st := s.a.Store()
	if st == nil && s.a.fleet == nil {
		return
	}
	changed := s.a.learner.Snapshot()
	if st != nil {
		s.save(ctx, st, changed)
		if !final {
			s.load(ctx, st)
		}
	}
	s.publish(ctx, changed)
}

// run syncs every profiles.sync_interval until ctx is done, then stores
// and sends what changed last.
func (s *profileSync) run(ctx context.Context) error {
	t := time.NewTicker(s.a.cfg.Profiles.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.a.learner.Tick(time.Now())
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.sync(fctx, true)
			cancel()
			return nil
		case now := <-t.C:
			s.a.learner.Tick(now)
			s.a.learner.PollSyscalls(now)
			s.sync(ctx, false)
		}
	}
}
