package agent

import (
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/metrics"
)

// registerPreventionMetrics exports the enforcer's decision counters, read
// at scrape time: in-kernel decisions (network, exec) by kind and outcome,
// the fanotify gate's answers (file and exec blocking) by outcome and path,
// and the exec holds by result.
func (a *Agent) registerPreventionMetrics(r *metrics.Registry) {
	// family registers a family whose samples are computed from the
	// enforcer's counters; it has none while prevention is off.
	family := func(name, help string, labels []string, emit func(metrics.Emit, *enforce.Stats)) {
		r.Func(name, help, metrics.TypeCounter, labels, func(e metrics.Emit) {
			if enf := a.enf.Load(); enf != nil {
				if st, err := enf.Stats(); err == nil {
					emit(e, &st)
				}
			}
		})
	}
	family("vigil_prevention_decisions_total", "Prevention decisions, by mechanism (kernel: cgroup-bpf and exec programs; fanotify: the file and exec gate), kind and outcome (allowed, denied, audited: allowed but reported).",
		[]string{"mechanism", "kind", "outcome"}, func(e metrics.Emit, st *enforce.Stats) {
			for k, c := range st.Kernel {
				if c == (enforce.KernelCounts{}) {
					continue
				}
				kind := enforce.Kind(k).String()
				e(float64(c.Allowed), "kernel", kind, "allowed")
				e(float64(c.Denied), "kernel", kind, "denied")
				e(float64(c.Audited), "kernel", kind, "audited")
			}
			f := st.File
			allowed := f.Events - min(f.Events, f.Denied+f.Audited)
			e(float64(allowed), "fanotify", "file", "allowed")
			e(float64(f.Denied), "fanotify", "file", "denied")
			e(float64(f.Audited), "fanotify", "file", "audited")
		})
	family("vigil_prevention_gate_answers_total", "Permission events the fanotify gate answered, by path: fast (the fast-path check alone), lookup (the policy lookup), fallback (the configured default after a timeout or a failed lookup).",
		[]string{"path"}, func(e metrics.Emit, st *enforce.Stats) {
			f := st.File
			e(float64(f.Fast), "fast")
			e(float64(f.Events-min(f.Events, f.Fast+f.Defaults)), "lookup")
			e(float64(f.Defaults), "fallback")
		})
	r.Func("vigil_prevention_unmarked_paths", "File rule paths of the policies in force that could not be marked because they do not exist (in some target's root filesystem); marked once they exist.",
		metrics.TypeGauge, nil, func(e metrics.Emit) {
			if enf := a.enf.Load(); enf != nil {
				if pl := enf.Plan(); pl != nil {
					e(float64(len(pl.Unmarked)))
				}
			}
		})
	family("vigil_prevention_exec_holds_total", "Executions held until their container was classified, by result: admitted in time, fallback (given the gate default), killed, error.",
		[]string{"result"}, func(e metrics.Emit, st *enforce.Stats) {
			g := st.Gate
			e(float64(g.Admitted), "admitted")
			e(float64(g.Fallbacks), "fallback")
			e(float64(g.Killed), "killed")
			e(float64(g.Errors), "error")
		})
}
