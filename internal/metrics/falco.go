package metrics

import (
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FalcoOptions are what RegisterFalcoNames needs beyond the registry.
type FalcoOptions struct {
	Version, Hostname string
	// PriorityNumber gives Falco's number of a priority name as
	// vigil_rule_matches_total labels it ("Warning" -> 4; Emergency 0 ...
	// Debug 7), ok false for an unknown one.
	PriorityNumber func(name string) (int, bool)
	// RuleMeta gives a rule's source and tags (by rule name) for the labels
	// of falcosecurity_falco_rules_matches_total.
	RuleMeta func(rule string) (source string, tags []string)
}

// falcoHelp is the help text of every falcosecurity_ family (Falco's own
// points at its documentation the same way).
const falcoHelp = "Falco-compatible name of a Vigil metric (see docs/outputs.md, Falco metric names)."

// RegisterFalcoNames registers Falco's metric names (falcosecurity_*, the
// names Falco's Prometheus endpoint serves) over Vigil's own families, so
// that dashboards and alerts written for Falco work: each is read at
// scrape time from the Vigil family named beside it, never counted twice.
// Register it after the Vigil families it reads.
func RegisterFalcoNames(r *Registry, o FalcoOptions) {
	sum := func(name string) float64 {
		var t float64
		for _, s := range r.Samples(name) {
			t += s.Value
		}
		return t
	}
	info := func(name, label, value string) {
		r.Func(name, falcoHelp, TypeGauge, []string{label}, func(e Emit) { e(1, value) })
	}
	info("falcosecurity_falco_version_info", "version", o.Version)
	info("falcosecurity_scap_engine_name_info", "engine_name", "vigil_ebpf")
	info("falcosecurity_evt_hostname_info", "hostname", o.Hostname)
	var u unix.Utsname
	_ = unix.Uname(&u)
	info("falcosecurity_falco_kernel_release_info", "kernel_release", unix.ByteSliceToString(u.Release[:]))
	// vigil_rules_file_info{file, sha256}
	r.Func("falcosecurity_falco_sha256_rules_files_info", falcoHelp, TypeGauge, []string{"file_name", "sha256"}, func(e Emit) {
		for _, s := range r.Samples("vigil_rules_file_info") {
			e(1, filepath.Base(s.Labels["file"]), s.Labels["sha256"])
		}
	})
	// process_start_time_seconds
	start := func() (float64, bool) {
		ss := r.Samples("process_start_time_seconds")
		if len(ss) == 0 {
			return 0, false
		}
		return ss[0].Value, true
	}
	r.Func("falcosecurity_falco_start_timestamp_nanoseconds", falcoHelp, TypeGauge, nil, func(e Emit) {
		if t, ok := start(); ok {
			e(t * 1e9)
		}
	})
	r.Func("falcosecurity_falco_duration_seconds_total", falcoHelp, TypeCounter, nil, func(e Emit) {
		if t, ok := start(); ok {
			e(float64(time.Now().UnixNano())/1e9 - t)
		}
	})
	r.Func("falcosecurity_falco_host_num_cpus_total", falcoHelp, TypeGauge, nil, func(e Emit) { e(float64(runtime.NumCPU())) })
	// vigil_output_dropped_total, all outputs
	r.Func("falcosecurity_falco_outputs_queue_num_drops_total", falcoHelp, TypeCounter, nil, func(e Emit) {
		e(sum("vigil_output_dropped_total"))
	})
	// vigil_rule_matches_total{rule, priority}
	r.Func("falcosecurity_falco_rules_matches_total", falcoHelp, TypeCounter, []string{"priority", "rule_name", "source", "tags"}, func(e Emit) {
		for _, s := range r.Samples("vigil_rule_matches_total") {
			prio := s.Labels["priority"]
			if o.PriorityNumber != nil {
				if n, ok := o.PriorityNumber(prio); ok {
					prio = strconv.Itoa(n)
				}
			}
			var source string
			var tags []string
			if o.RuleMeta != nil {
				source, tags = o.RuleMeta(s.Labels["rule"])
			}
			e(s.Value, prio, s.Labels["rule"], source, strings.Join(tags, ", "))
		}
	})
	// vigil_events_total (all types), vigil_events_lost_total (all reasons)
	r.Func("falcosecurity_scap_n_evts_total", falcoHelp, TypeCounter, nil, func(e Emit) { e(sum("vigil_events_total")) })
	r.Func("falcosecurity_scap_n_drops_total", falcoHelp, TypeCounter, nil, func(e Emit) { e(sum("vigil_events_lost_total")) })
	// process_resident_memory_bytes
	r.Func("falcosecurity_falco_memory_rss_bytes", falcoHelp, TypeGauge, nil, func(e Emit) {
		if ss := r.Samples("process_resident_memory_bytes"); len(ss) > 0 {
			e(ss[0].Value)
		}
	})
}
