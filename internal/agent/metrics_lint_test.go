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
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsLint scrapes the agent's /metrics, parses it with Prometheus'
// parser, checks it with Prometheus' own lint rules (promlint: counters end
// in _total, base units, no camelCase, help on every family, ...) and
// checks the families #16 asks for: vigil_build_info,
// process_start_time_seconds, the rules files' hashes, lost events apart
// from degraded (truncated) ones.
func TestMetricsLint(t *testing.T) {
	s := newSinks(t)
	p := filepath.Join(t.TempDir(), "rules.yaml")
	_ = os.WriteFile(p, []byte(shadowRule), 0o600)
	addr := freeAddr(t)
	cfg := s.config(t, p)
	cfg.HTTP.Enabled = true
	cfg.HTTP.Listen = addr
	cfg.Profiles.Enabled = true // its families are linted too
	src := &fakeSource{ch: make(chan struct{}, 1)}
	runAgent(t, cfg, &Options{Source: src})
	var body []byte
	waitFor(t, "metrics", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == 200
	})

	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint cannot read /metrics: %v", err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus' parser rejects /metrics: %v", err)
	}

	bi := fams["vigil_build_info"]
	if bi == nil || bi.GetType() != dto.MetricType_GAUGE || len(bi.Metric) != 1 || bi.Metric[0].Gauge.GetValue() != 1 {
		t.Fatalf("vigil_build_info: %v", bi)
	}
	if got := labels(bi.Metric[0]); got["goversion"] != runtime.Version() || got["version"] == "" || got["revision"] == "" {
		t.Errorf("vigil_build_info labels %v", got)
	}

	st := fams["process_start_time_seconds"]
	if st == nil || len(st.Metric) != 1 {
		t.Fatalf("process_start_time_seconds: %v", st)
	}
	// The test process started this agent: its start time is its own,
	// before now and not long before (a tick is 10 ms).
	started := time.Unix(0, int64(st.Metric[0].Gauge.GetValue()*1e9))
	if started.After(time.Now().Add(time.Second)) || time.Since(started) > 30*time.Minute {
		t.Errorf("process_start_time_seconds = %v (now %v)", started, time.Now())
	}

	rf := fams["vigil_rules_file_info"]
	sum := sha256.Sum256([]byte(shadowRule))
	found := false
	for _, m := range rf.GetMetric() {
		l := labels(m)
		if l["file"] == p {
			found = l["sha256"] == hex.EncodeToString(sum[:])
			if !found {
				t.Errorf("vigil_rules_file_info{file=%q} sha256 %q, want the file's", p, l["sha256"])
			}
		}
	}
	if !found {
		t.Errorf("vigil_rules_file_info lacks %s: %v", p, rf)
	}

	reasons := func(name string) []string {
		var rs []string
		for _, m := range fams[name].GetMetric() {
			rs = append(rs, labels(m)["reason"])
		}
		slices.Sort(rs)
		return rs
	}
	if got, want := reasons("vigil_events_lost_total"), []string{"decode_failed", "ringbuf_full", "shed"}; !slices.Equal(got, want) {
		t.Errorf("vigil_events_lost_total reasons %v, want %v", got, want)
	}
	if got, want := reasons("vigil_events_degraded_total"), []string{"argv_truncated", "path_truncated", "read_failed", "str_truncated"}; !slices.Equal(got, want) {
		t.Errorf("vigil_events_degraded_total reasons %v, want %v", got, want)
	}
	for _, name := range []string{"vigil_prevention_decisions_total", "vigil_prevention_gate_answers_total", "vigil_prevention_exec_holds_total",
		"vigil_prevention_gate_fallback_answers_total"} {
		if !bytes.Contains(body, []byte("# TYPE "+name+" counter")) {
			t.Errorf("/metrics lacks the family %s", name)
		}
	}
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.Label {
		l[p.GetName()] = p.GetValue()
	}
	return l
}
