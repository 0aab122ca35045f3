package agent

import (
	"fmt"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/metrics"
)

// Internal alerts of the fanotify gate (file and exec blocking).
const (
	// RuleGateDown: the gate died or froze; blocking is off until the
	// enforcer has started a new one.
	RuleGateDown = "Vigil prevention gate down"
	// RuleGateRestored: a new gate answers again.
	RuleGateRestored = "Vigil prevention gate restored"
)

// onGate is the enforcer's OnGate: an internal alert per change. It runs on
// the enforcer's goroutines and only queues.
func (a *Agent) onGate(ev enforce.GateEvent) {
	if ev.Up {
		a.log.Info("prevention gate restored", "restarts", ev.Restarts)
		a.raiseInternal(RuleGateRestored, alert.PriorityNotice,
			fmt.Sprintf("Vigil prevention gate restored: file and exec blocking in force again (restarts=%d)", ev.Restarts),
			alert.Field{Name: "vigil.gate.restarts", Value: ev.Restarts})
		return
	}
	a.log.Error("prevention gate down; restarting it", "reason", ev.Reason)
	a.raiseInternal(RuleGateDown, alert.PriorityCritical,
		"Vigil prevention gate down: file and exec blocking are off until it is restarted (reason="+ev.Reason+")",
		alert.Field{Name: "vigil.error", Value: ev.Reason}, alert.Field{Name: "vigil.gate.restarts", Value: ev.Restarts})
}

// gateHealth is the /healthz problem of a gate that is needed and down.
func (a *Agent) gateHealth() error {
	e := a.enf.Load()
	if e == nil {
		return nil
	}
	if st := e.GateStatus(); st.Needed && !st.Up {
		return fmt.Errorf("prevention gate down, file and exec blocking off, restarting: %s", st.LastError)
	}
	return nil
}

// registerGateMetrics exports the gate's state.
func (a *Agent) registerGateMetrics(r *metrics.Registry) {
	gate := func(name, help string, typ metrics.Type, v func(enforce.GateStatus) float64) {
		r.Func(name, help, typ, nil, func(e metrics.Emit) {
			if enf := a.enf.Load(); enf != nil {
				e(v(enf.GateStatus()))
			}
		})
	}
	gate("vigil_prevention_gate_up", "1 when the fanotify gate (file and exec blocking) answers or is not needed, 0 while it is down.", metrics.TypeGauge,
		func(s enforce.GateStatus) float64 {
			if s.Needed && !s.Up {
				return 0
			}
			return 1
		})
	gate("vigil_prevention_gate_restarts_total", "Fanotify gates started again after one died or froze.", metrics.TypeCounter,
		func(s enforce.GateStatus) float64 { return float64(s.Restarts) })
	gate("vigil_prevention_gate_watchdog_total", "Fanotify gates the watchdog found frozen and replaced.", metrics.TypeCounter,
		func(s enforce.GateStatus) float64 { return float64(s.Watchdog) })
	gate("vigil_prevention_gate_fallback_answers_total", "Permission events of a frozen gate the watchdog answered with the fallback.", metrics.TypeCounter,
		func(s enforce.GateStatus) float64 { return float64(s.Answered) })
}
