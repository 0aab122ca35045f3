package agent

import (
	"context"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/policy"
)

// RulePolicyReloadFailed is the rule name of the internal alert raised
// when policy.files fail to load on reload.
const RulePolicyReloadFailed = "Vigil policy reload failed"

// policyState holds the policies in force across reloads: Reload swaps
// them, the prevention loop re-applies them when told.
type policyState struct {
	mu sync.Mutex
	ch chan struct{} // one pending "policies changed", made on first use
}

func (p *policyState) changed() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ch == nil {
		p.ch = make(chan struct{}, 1)
	}
	return p.ch
}

// currentPolicies returns the policies in force.
func (a *Agent) currentPolicies() []*policy.Policy {
	a.pol.mu.Lock()
	defer a.pol.mu.Unlock()
	return a.policies
}

// reloadPolicies parses policy.files again (on SIGHUP, with the rules).
// On success the prevention loop re-applies them; on error the policies
// in force stay and an internal alert carries the positioned error.
// Prevention that was off at start (no policies) stays off until restart.
func (a *Agent) reloadPolicies() error {
	if len(a.cfg.Policy.Files) == 0 {
		return nil
	}
	// The signature is taken before reading, so a write racing the load
	// is seen by the next watch tick rather than lost.
	a.polSig = rulesSignature(a.cfg.Policy.Files)
	ps, err := loadPolicies(a.cfg.Policy.Files)
	if err != nil {
		a.reloadFailed(RulePolicyReloadFailed, "policy", "policies", err)
		return err
	}
	a.pol.mu.Lock()
	a.policies = ps
	a.pol.mu.Unlock()
	select {
	case a.pol.changed() <- struct{}{}:
	default:
	}
	a.log.Info("policies reloaded", "policies", len(ps))
	return nil
}

// watchPolicies reloads policy.files when they change, as rules.watch does
// for the rule files (same switch and interval), until ctx ends.
func (a *Agent) watchPolicies(ctx context.Context) error {
	if !a.cfg.Rules.Watch || len(a.cfg.Policy.Files) == 0 {
		<-ctx.Done()
		return nil
	}
	every := a.cfg.Rules.WatchInterval
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			// Compared with the signature of the policies in force, not
			// with the files as this loop first saw them: a change made
			// between the last load and this loop's start still reloads.
			a.reloadMu.Lock()
			if rulesSignature(a.cfg.Policy.Files) != a.polSig {
				a.log.Info("policy files changed, reloading")
				_ = a.reloadPolicies()
			}
			a.reloadMu.Unlock()
		}
	}
}
