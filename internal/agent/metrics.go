package agent

import (
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/buildinfo"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/store"
)

func (a *Agent) registerMetrics() {
	r := a.reg
	// Lost events (never delivered) and degraded ones (delivered with a
	// field truncated or unread) are separate families, so that a rate of
	// vigil_events_lost_total is a rate of blind spots.
	byReason := func(lost bool) func(metrics.Emit) {
		return func(e metrics.Emit) {
			st := a.sensorStats.Load()
			for rs := sensor.Reason(0); rs < sensor.NumReasons; rs++ {
				if rs.Lost() != lost {
					continue
				}
				var v uint64
				if st != nil {
					v = st.ByReason(rs)
				}
				e(float64(v), rs.String())
			}
		}
	}
	byType := func(lost bool) func(metrics.Emit) {
		return func(e metrics.Emit) {
			st := a.sensorStats.Load()
			if st == nil {
				return
			}
			for rs := sensor.Reason(0); rs < sensor.NumReasons; rs++ {
				if rs.Lost() != lost {
					continue
				}
				for t, v := range st.Drops[rs] {
					if v > 0 {
						e(float64(v), rs.String(), event.Type(t).String())
					}
				}
			}
		}
	}
	r.Func("vigil_events_lost_total", "Events the sensor lost (never delivered), by reason: ringbuf_full, shed, decode_failed. Updated every second.",
		metrics.TypeCounter, []string{"reason"}, byReason(true))
	r.Func("vigil_events_lost_by_type_total", "vigil_events_lost_total by reason and event type (only the pairs that counted any). Shed events were dropped by tier: low (close, send/recv) first, then normal; critical (process lifecycle, security) never.",
		metrics.TypeCounter, []string{"reason", "type"}, byType(true))
	r.Func("vigil_events_degraded_total", "Events delivered with a field truncated (str_truncated, argv_truncated, path_truncated) or unread (read_failed), by reason. Updated every second.",
		metrics.TypeCounter, []string{"reason"}, byReason(false))
	r.Func("vigil_events_degraded_by_type_total", "vigil_events_degraded_total by reason and event type (only the pairs that counted any).",
		metrics.TypeCounter, []string{"reason", "type"}, byType(false))
	a.coalesced = r.Counter("vigil_alerts_coalesced_total", "Alerts folded into an earlier identical one by noise control.")
	reload := r.CounterVec("vigil_rules_reloads_total", "Rules reloads, by result.", "result")
	a.reloadOK, a.reloadErr = reload.With("ok"), reload.With("error")
	r.Func("vigil_rules_loaded", "Rules in force.", metrics.TypeGauge, nil, func(e metrics.Emit) {
		if rs := a.eng.Ruleset(); rs != nil {
			e(float64(len(rs.Rules)))
		}
	})
	r.Func("vigil_rules_file_info", "Always 1 per rules file in force; the labels name the file and the SHA-256 of the bytes loaded.",
		metrics.TypeGauge, []string{"file", "sha256"}, func(e metrics.Emit) {
			if rs := a.eng.Ruleset(); rs != nil {
				for _, f := range rs.Files {
					e(1, f.Name, f.SHA256)
				}
			}
		})
	ruleState := func(name, help string, typ metrics.Type, v func(engine.StateStats) uint64) {
		r.Func(name, help, typ, nil, func(e metrics.Emit) { e(float64(v(a.eng.StateStats()))) })
	}
	ruleState("vigil_rule_state_keys", "Keys (process, container, pod...) holding state of stateful rules.", metrics.TypeGauge,
		func(s engine.StateStats) uint64 { return s.Entries })
	ruleState("vigil_rule_state_bytes", "Memory accounted to the state of stateful rules.", metrics.TypeGauge,
		func(s engine.StateStats) uint64 { return s.Bytes })
	ruleState("vigil_rule_state_evicted_total", "Keys and sequences of stateful rules evicted to stay within the state limits.", metrics.TypeCounter,
		func(s engine.StateStats) uint64 { return s.Evicted })
	ruleState("vigil_rule_state_expired_total", "Keys of stateful rules dropped because their window passed.", metrics.TypeCounter,
		func(s engine.StateStats) uint64 { return s.Expired })
	ruleState("vigil_rule_state_kept_total", "Stateful rules whose state a rules reload kept (definition unchanged).", metrics.TypeCounter,
		func(s engine.StateStats) uint64 { return s.Kept })
	outs := func(name, help string, typ metrics.Type, v func(i int) float64) {
		r.Func(name, help, typ, []string{"output"}, func(e metrics.Emit) {
			for i, s := range a.disp.Stats() {
				e(v(i), s.Name)
			}
		})
	}
	stat := func(i int) (s struct{ sent, dropped, errs, queued float64 }) {
		st := a.disp.Stats()
		if i < len(st) {
			s.sent, s.dropped, s.errs, s.queued = float64(st[i].Sent), float64(st[i].Dropped), float64(st[i].Errors), float64(st[i].Queued)
		}
		return s
	}
	outs("vigil_output_sent_total", "Alerts delivered, by output.", metrics.TypeCounter, func(i int) float64 { return stat(i).sent })
	outs("vigil_output_dropped_total", "Alerts dropped because the output's queue was full, by output.", metrics.TypeCounter, func(i int) float64 { return stat(i).dropped })
	outs("vigil_output_errors_total", "Alerts an output failed to deliver, by output.", metrics.TypeCounter, func(i int) float64 { return stat(i).errs })
	outs("vigil_output_queue_length", "Alerts waiting in the output's queue.", metrics.TypeGauge, func(i int) float64 { return stat(i).queued })
	if a.store != nil {
		sf := func(name, help string, v func(store.Stats) uint64) {
			r.Func(name, help, metrics.TypeCounter, nil, func(e metrics.Emit) {
				var st store.Stats
				if s := a.store.get(); s != nil {
					st = s.Stats()
				}
				e(float64(v(st)))
			})
		}
		sf("vigil_store_written_total", "Alerts written to the store.", func(s store.Stats) uint64 { return s.Written })
		sf("vigil_store_dropped_total", "Alerts dropped because the store's queue was full.", func(s store.Stats) uint64 { return s.Dropped })
		sf("vigil_store_errors_total", "Alerts lost to store write errors.", func(s store.Stats) uint64 { return s.Errors })
		sf("vigil_store_pruned_total", "Alerts removed by retention.", func(s store.Stats) uint64 { return s.Pruned })
		r.Func("vigil_store_missed_total", "Alerts not stored because the store was unavailable (it could not be opened).", metrics.TypeCounter, nil,
			func(e metrics.Emit) { e(float64(a.store.missed.Load())) })
		r.Func("vigil_store_available", "1 when the alert store is open, 0 while it is unavailable and retried.", metrics.TypeGauge, nil, func(e metrics.Emit) {
			if a.store.get() != nil {
				e(1)
			} else {
				e(0)
			}
		})
	}
	if a.api != nil {
		hs := func(name, help string, typ metrics.Type, v func(api.Stats) float64) {
			r.Func(name, help, typ, nil, func(e metrics.Emit) { e(v(a.api.Stats())) })
		}
		hs("vigil_http_connections", "Open connections to the HTTP endpoint (at most http.max_connections).", metrics.TypeGauge,
			func(s api.Stats) float64 { return float64(s.Open) })
		hs("vigil_http_connections_evicted_total", "Idle HTTP connections closed to make room under the connection cap.", metrics.TypeCounter,
			func(s api.Stats) float64 { return float64(s.Evicted) })
		hs("vigil_http_connections_rejected_total", "HTTP connections refused because every open one was busy.", metrics.TypeCounter,
			func(s api.Stats) float64 { return float64(s.Rejected) })
	}
	a.registerGateMetrics(r)
	a.registerPreventionMetrics(r)
	r.Func("vigil_process_table_size", "Processes in the process table.", metrics.TypeGauge, nil, func(e metrics.Emit) {
		if a.table != nil {
			e(float64(a.table.Stats().Procs))
		}
	})
	r.Func("vigil_fd_table_size", "Fd entries over all fd tables.", metrics.TypeGauge, nil, func(e metrics.Emit) {
		if a.table != nil {
			e(float64(a.table.Stats().FDs))
		}
	})
	r.Func("vigil_process_table_evictions_total", "Processes and fds evicted from the tables by their bounds.", metrics.TypeCounter, []string{"table"}, func(e metrics.Emit) {
		if a.table != nil {
			st := a.table.Stats()
			e(float64(st.ProcEvictions), "process")
			e(float64(st.FDEvictions), "fd")
		}
	})
	r.Func("vigil_container_cache_size", "Containers in the metadata cache.", metrics.TypeGauge, nil, func(e metrics.Emit) {
		if a.containers != nil {
			e(float64(a.containers.Stats().Containers))
		}
	})
	r.Func("vigil_container_lookups_total", "Container runtime lookups, by result.", metrics.TypeCounter, []string{"result"}, func(e metrics.Emit) {
		if a.containers != nil {
			st := a.containers.Stats()
			e(float64(st.Lookups-st.LookupFailures), "ok")
			e(float64(st.LookupFailures), "failed")
		}
	})
	r.Func("vigil_coalescer_windows", "Open noise-control windows.", metrics.TypeGauge, nil, func(e metrics.Emit) {
		e(float64(a.coal.Len()))
	})
	bi := buildinfo.Read(nil)
	metrics.RegisterBuild(r, bi.Version, bi.Commit, bi.GoVersion)
	metrics.RegisterProcess(r)
	if a.cfg.HTTP.FalcoMetrics {
		metrics.RegisterFalcoNames(r, metrics.FalcoOptions{Version: bi.Version, Hostname: a.hostname,
			PriorityNumber: func(name string) (int, bool) {
				p, err := alert.ParsePriority(name)
				return int(p), err == nil
			},
			RuleMeta: func(name string) (string, []string) {
				if rs := a.eng.Ruleset(); rs != nil {
					for _, ru := range rs.Rules {
						if ru.Name == name {
							return ru.Source, ru.Tags
						}
					}
				}
				return "", nil
			}})
	}
}
