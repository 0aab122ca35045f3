package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Falco's own names (Falco's metrics documentation, the Prometheus
// examples of falco.org/docs/metrics, written down as facts): family,
// type, and the labels a Falco dashboard selects on.
var falcoFamilies = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"falcosecurity_falco_version_info", dto.MetricType_GAUGE, []string{"version"}},
	{"falcosecurity_scap_engine_name_info", dto.MetricType_GAUGE, []string{"engine_name"}},
	{"falcosecurity_evt_hostname_info", dto.MetricType_GAUGE, []string{"hostname"}},
	{"falcosecurity_falco_kernel_release_info", dto.MetricType_GAUGE, []string{"kernel_release"}},
	{"falcosecurity_falco_sha256_rules_files_info", dto.MetricType_GAUGE, []string{"file_name", "sha256"}},
	{"falcosecurity_falco_start_timestamp_nanoseconds", dto.MetricType_GAUGE, nil},
	{"falcosecurity_falco_host_num_cpus_total", dto.MetricType_GAUGE, nil},
	{"falcosecurity_falco_duration_seconds_total", dto.MetricType_COUNTER, nil},
	{"falcosecurity_falco_outputs_queue_num_drops_total", dto.MetricType_COUNTER, nil},
	{"falcosecurity_falco_rules_matches_total", dto.MetricType_COUNTER, []string{"priority", "rule_name", "source", "tags"}},
	{"falcosecurity_scap_n_evts_total", dto.MetricType_COUNTER, nil},
	{"falcosecurity_scap_n_drops_total", dto.MetricType_COUNTER, nil},
	{"falcosecurity_falco_memory_rss_bytes", dto.MetricType_GAUGE, nil},
}

// TestFalcoMetricNames: with http.falco_metrics on, /metrics also serves
// Falco's metric names with Falco's labels (priority as Falco's number,
// rule_name, source, tags), so that dashboards and alerts written for
// Falco work; the values are Vigil's own counters. Off (the default), no
// falcosecurity_ family is served.
func TestFalcoMetricNames(t *testing.T) {
	scrape := func(on bool) (map[string]*dto.MetricFamily, []byte, string) {
		s := newSinks(t)
		p := filepath.Join(t.TempDir(), "rules.yaml")
		_ = os.WriteFile(p, []byte(shadowRule), 0o600)
		addr := freeAddr(t)
		cfg := s.config(t, p)
		cfg.HTTP.Enabled = true
		cfg.HTTP.Listen = addr
		cfg.HTTP.FalcoMetrics = on
		cfg.Hostname = "node-7"
		src := &fakeSource{ch: make(chan struct{}, 4)}
		_, stop := runAgent(t, cfg, &Options{Source: src})
		defer stop()
		src.ch <- struct{}{}
		src.ch <- struct{}{}
		var body []byte
		waitFor(t, "two matches in /metrics", func() bool {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, err = io.ReadAll(resp.Body)
			return err == nil && bytes.Contains(body, []byte(`vigil_rule_matches_total{rule="Test shadow read",priority="Warning"} 2`))
		})
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("Prometheus' parser rejects /metrics: %v", err)
		}
		return fams, body, p
	}

	fams, body, rulesFile := scrape(true)
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	// Two of Falco's own names break Prometheus' naming rules; they are
	// kept as Falco spells them, or the dashboards would not find them.
	falcosOwn := map[string]bool{"falcosecurity_falco_host_num_cpus_total": true, "falcosecurity_falco_start_timestamp_nanoseconds": true}
	for _, pr := range problems {
		if !falcosOwn[pr.Metric] {
			t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
		}
	}
	for _, want := range falcoFamilies {
		f := fams[want.name]
		if f == nil || f.GetType() != want.typ || len(f.Metric) == 0 {
			t.Errorf("%s: missing or not a %v: %v", want.name, want.typ, f)
			continue
		}
		for _, m := range f.Metric {
			got := labels(m)
			for _, l := range want.labels {
				if _, ok := got[l]; !ok {
					t.Errorf("%s lacks label %s: %v", want.name, l, got)
				}
			}
		}
	}
	value := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.Metric) == 0 {
			return -1
		}
		if c := f.Metric[0].Counter; c != nil {
			return c.GetValue()
		}
		return f.Metric[0].Gauge.GetValue()
	}
	var matched bool
	for _, m := range fams["falcosecurity_falco_rules_matches_total"].GetMetric() {
		l := labels(m)
		if l["rule_name"] == "Test shadow read" {
			matched = true
			// Falco numbers priorities Emergency 0 ... Debug 7: Warning is 4.
			if l["priority"] != "4" || l["source"] != "syscall" || l["tags"] != "test" || m.Counter.GetValue() != 2 {
				t.Errorf("rules_matches_total for the rule: %v = %v", l, m.Counter.GetValue())
			}
		}
	}
	if !matched {
		t.Error("falcosecurity_falco_rules_matches_total has no series for the rule that matched")
	}
	if v := value("falcosecurity_scap_n_evts_total"); v < 2 {
		t.Errorf("falcosecurity_scap_n_evts_total = %v, want ≥ 2 (two events sent)", v)
	}
	if v := value("falcosecurity_falco_host_num_cpus_total"); v != float64(runtime.NumCPU()) {
		t.Errorf("host_num_cpus_total = %v, want %d", v, runtime.NumCPU())
	}
	if v := value("falcosecurity_falco_start_timestamp_nanoseconds"); v < 1e18 {
		t.Errorf("start_timestamp_nanoseconds = %v", v)
	}
	if l := labels(fams["falcosecurity_evt_hostname_info"].GetMetric()[0]); l["hostname"] != "node-7" {
		t.Errorf("hostname_info %v", l)
	}
	sum := sha256.Sum256([]byte(shadowRule))
	var hashed bool
	for _, m := range fams["falcosecurity_falco_sha256_rules_files_info"].GetMetric() {
		l := labels(m)
		hashed = hashed || (l["file_name"] == filepath.Base(rulesFile) && l["sha256"] == hex.EncodeToString(sum[:]))
	}
	if !hashed {
		t.Errorf("sha256_rules_files_info lacks %s", filepath.Base(rulesFile))
	}

	fams, _, _ = scrape(false)
	for name := range fams {
		if len(name) > 14 && name[:14] == "falcosecurity_" {
			t.Errorf("%s served with http.falco_metrics off", name)
		}
	}
}
