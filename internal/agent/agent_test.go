package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/store"
)

const shadowRule = `
- rule: Test shadow read
  desc: test
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow
  output: Shadow read (proc=%proc.name file=%fd.name pid=%proc.pid)
  priority: WARNING
  tags: [test]
`

const brokenRule = `
- rule: Broken
  desc: broken
  condition: evt.type = openat and and
  output: x
  priority: WARNING
`

// fakeSource emits openat events of /etc/shadow by the test process when asked.
type fakeSource struct {
	ch chan struct{}
}

func (f *fakeSource) Run(ctx context.Context, fn func(*event.Event)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.ch:
			ev := event.Event{Type: event.TypeOpenat, Time: time.Now().UnixNano(), PID: uint32(os.Getpid()),
				TID: uint32(os.Getpid()), Comm: "agent.test", Ret: 99, FD: -1, FD2: -1, DirFD: event.AtFDCWD,
				Path: "/etc/shadow", Flags: 0}
			fn(&ev)
		}
	}
}

func (f *fakeSource) Close() error { return nil }

// sinks are the receivers an agent test delivers to.
type sinks struct {
	file      string
	http      *httptest.Server
	mu        sync.Mutex
	bodies    [][]byte
	syslog    net.PacketConn
	syslogMsg chan string
	db        string
}

func newSinks(t *testing.T) *sinks {
	t.Helper()
	dir := t.TempDir()
	s := &sinks{file: filepath.Join(dir, "alerts.json"), db: filepath.Join(dir, "db", "alerts.db"), syslogMsg: make(chan string, 100)}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.mu.Unlock()
	}))
	t.Cleanup(s.http.Close)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.syslog = pc
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.syslogMsg <- string(buf[:n])
		}
	}()
	return s
}

func (s *sinks) config(t *testing.T, rulesPath string) *config.Config {
	t.Helper()
	c := config.DefaultConfig()
	c.Rules.Default = false
	c.Rules.Files = []string{rulesPath}
	c.Rules.Watch = false
	c.Dedup.Window = 0
	c.Outputs.Stdout.Enabled = false
	c.Outputs.File.Enabled = true
	c.Outputs.File.Path = s.file
	c.Outputs.HTTP.Enabled = true
	c.Outputs.HTTP.URL = s.http.URL
	c.Outputs.Syslog.Enabled = true
	c.Outputs.Syslog.Network = "udp"
	c.Outputs.Syslog.Address = s.syslog.LocalAddr().String()
	c.Store.Path = s.db
	c.Store.FlushInterval = 20 * time.Millisecond
	c.HTTP.Enabled = false
	return c
}

func (s *sinks) httpCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func fileAlerts(path string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func countRule(as []map[string]any, rule string) int {
	n := 0
	for _, a := range as {
		if a["rule"] == rule {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var syslogRe = regexp.MustCompile(`^<\d+>1 \S+ \S+ vigil \d+ alert \[vigil@32473 rule="([^"]*)"`)

// waitSyslog waits for a syslog message about rule.
func (s *sinks) waitSyslog(t *testing.T, rule string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m := <-s.syslogMsg:
			if sm := syslogRe.FindStringSubmatch(m); sm != nil && sm[1] == rule {
				return
			}
		case <-deadline:
			t.Fatalf("no syslog message for %q", rule)
		}
	}
}

func scrape(t *testing.T, a *Agent) map[string]*dto.MetricFamily {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(a.Registry().WriteText(pw)) }()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(pr)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

func metricValue(f *dto.MetricFamily, label, value string) float64 {
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == label && l.GetValue() == value {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

// TestPipelineSyntheticEvents runs the whole delivery side on synthetic
// events (no privilege needed): alerts reach the file, HTTP, syslog and the
// store; a broken reload keeps the old rules; the store survives a restart.
func TestPipelineSyntheticEvents(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	src := &fakeSource{ch: make(chan struct{}, 10)}
	a, err := New(cfg, &Options{Source: src, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()

	src.ch <- struct{}{}
	waitFor(t, "alert in file", func() bool { return countRule(fileAlerts(s.file), "Test shadow read") == 1 })
	waitFor(t, "alert over HTTP", func() bool { return s.httpCount() == 1 })
	s.waitSyslog(t, "Test shadow read")
	fa := fileAlerts(s.file)[0]
	if of := fa["output_fields"].(map[string]any); of["fd.name"] != "/etc/shadow" || of["proc.pid"] != float64(os.Getpid()) {
		t.Errorf("output_fields %v", of)
	}

	// A broken rules file: reload fails, the old rules stay.
	if err := os.WriteFile(rulesPath, []byte(brokenRule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Fatal("broken rules reloaded")
	}
	if a.Ruleset().Rules[0].Name != "Test shadow read" {
		t.Fatal("old rules lost")
	}
	src.ch <- struct{}{}
	waitFor(t, "detection after failed reload", func() bool { return countRule(fileAlerts(s.file), "Test shadow read") == 2 })
	waitFor(t, "reload failure alert", func() bool { return countRule(fileAlerts(s.file), RuleReloadFailed) == 1 })

	fams := scrape(t, a)
	if v := metricValue(fams["vigil_rule_matches_total"], "rule", "Test shadow read"); v != 2 {
		t.Errorf("rule matches = %v", v)
	}
	if v := metricValue(fams["vigil_events_total"], "type", "openat"); v != 2 {
		t.Errorf("openat events = %v", v)
	}
	if v := metricValue(fams["vigil_rules_reloads_total"], "result", "error"); v != 1 {
		t.Errorf("reload errors = %v", v)
	}
	if v := metricValue(fams["vigil_output_sent_total"], "output", "file"); v < 2 {
		t.Errorf("file sent = %v", v)
	}
	if fams["process_resident_memory_bytes"] == nil || fams["vigil_process_table_size"] == nil {
		t.Error("missing process metrics")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// After the agent stopped, the store holds the alerts.
	st, err := store.OpenExisting(s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Query(context.Background(), store.Filter{Rule: "Test shadow read"})
	if err != nil || len(got) != 2 {
		t.Fatalf("store: %d alerts, %v", len(got), err)
	}
	if got[0].ContainerID() != "host" || got[0].Priority != alert.PriorityWarning || len(got[0].Vigil.Process) == 0 {
		t.Errorf("stored alert %+v", got[0])
	}
}

// TestNewSkipsBrokenRules: by default (rules.on_error: skip) a rule that
// does not compile is left out, the others run, and an internal alert
// names the skipped rule with its position; with on_error: fail the agent
// refuses to start.
func TestNewSkipsBrokenRules(t *testing.T) {
	s := newSinks(t)
	p := filepath.Join(t.TempDir(), "rules.yaml")
	_ = os.WriteFile(p, []byte(shadowRule+brokenRule), 0o600)
	cfg := s.config(t, p)
	a, err := New(cfg, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("broken rule at start: %v", err)
	}
	if rs := a.Ruleset(); len(rs.Rules) != 1 || rs.Rules[0].Name != "Test shadow read" {
		t.Fatalf("rules in force: %v", rs.Rules)
	}
	a.closeSinks()
	var skipped []map[string]any
	for _, x := range fileAlerts(s.file) {
		if x["rule"] == RuleSkipped {
			skipped = append(skipped, x)
		}
	}
	line := strings.Count(shadowRule, "\n") + 2 // brokenRule starts with a newline
	want := fmt.Sprintf("%s:%d:3", p, line)
	if len(skipped) != 1 || !strings.Contains(skipped[0]["output"].(string), `rule "Broken" at `+want) {
		t.Fatalf("skip alerts %v (want position %s)", skipped, want)
	}
	if of := skipped[0]["output_fields"].(map[string]any); of["vigil.rule"] != "Broken" || of["vigil.position"] != want {
		t.Errorf("output_fields %v", of)
	}

	cfg.Rules.OnError = config.RulesOnErrorFail
	if _, err := New(cfg, &Options{Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("on_error fail: %v", err)
	}
}

func TestEventTypes(t *testing.T) {
	ts := eventTypes([]string{"openat", "network", "openat"})
	if len(ts) < 5 || ts[0] != event.TypeOpenat {
		t.Fatalf("%v", ts)
	}
	for _, x := range ts[1:] {
		if event.Lookup(x).Category != event.CatNetwork {
			t.Fatalf("%v not network", x)
		}
	}
	if eventTypes(nil) != nil {
		t.Fatal("empty means all (nil)")
	}
}

func TestLostEventsAlert(t *testing.T) {
	s := newSinks(t)
	p := filepath.Join(t.TempDir(), "rules.yaml")
	_ = os.WriteFile(p, []byte(shadowRule), 0o600)
	a, err := New(s.config(t, p), &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	st := sensor.Stats{Lost: 5}
	st.Drops[sensor.ReasonRingbufFull][event.TypeOpenat] = 5
	now := time.Now().UnixNano()
	a.checkLost(&st, now)
	st.Lost = 9
	a.checkLost(&st, now+int64(time.Second)) // rate-limited
	st.Lost = 12
	a.checkLost(&st, now+int64(2*time.Minute))
	a.closeSinks()
	var outs []string
	for _, x := range fileAlerts(s.file) {
		if x["rule"] == RuleEventsLost {
			outs = append(outs, x["output"].(string))
		}
	}
	if len(outs) != 2 || !strings.Contains(outs[0], "lost 5 events") || !strings.Contains(outs[1], "lost 7 events") {
		t.Fatalf("lost alerts %q", outs)
	}
}

// TestHTTPEndpoint: the agent serves /healthz and /metrics on http.listen,
// and a busy port fails the start.
func TestHTTPEndpoint(t *testing.T) {
	s := newSinks(t)
	p := filepath.Join(t.TempDir(), "rules.yaml")
	_ = os.WriteFile(p, []byte(shadowRule), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := s.config(t, p)
	cfg.HTTP.Enabled = true
	cfg.HTTP.Listen = addr
	// Busy port.
	a, err := New(cfg, &Options{Source: &fakeSource{ch: make(chan struct{})}, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("busy port: %v", err)
	}
	ln.Close()

	src := &fakeSource{ch: make(chan struct{}, 1)}
	a, err = New(cfg, &Options{Source: src, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "healthz", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	src.ch <- struct{}{}
	waitFor(t, "alert", func() bool { return countRule(fileAlerts(s.file), "Test shadow read") == 1 })
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fams, err := func() (map[string]*dto.MetricFamily, error) {
		p := expfmt.NewTextParser(model.UTF8Validation)
		return p.TextToMetricFamilies(resp.Body)
	}()
	if err != nil {
		t.Fatal(err)
	}
	if v := metricValue(fams["vigil_rule_matches_total"], "rule", "Test shadow read"); v != 1 {
		t.Errorf("matches over /metrics = %v", v)
	}
	resp2, err := http.Get("http://" + addr + "/api/alerts")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 403 {
		t.Errorf("api without token: %d", resp2.StatusCode)
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct{ release chan struct{} }

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return len(p), nil
}

// TestQueueDropsRaiseAlerts (#12 item 8): when the stdout output's queue
// is full its drops raise the internal alert "Vigil queue overflow", which
// reaches the other outputs and the store, and /metrics counts the drops of
// every bounded queue by name.
func TestQueueDropsRaiseAlerts(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled, cfg.Outputs.Syslog.Enabled = false, false
	cfg.Outputs.Stdout.Enabled = true
	cfg.Outputs.Stdout.QueueSize = 2
	cfg.Outputs.Stdout.Format = "json"
	stdout := &blockingWriter{release: make(chan struct{})}
	src := &fakeSource{ch: make(chan struct{}, 64)}
	a, err := New(cfg, &Options{Source: src, Stdout: stdout, NoSignals: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	const n = 20
	for range n {
		src.ch <- struct{}{}
	}
	waitFor(t, "all matches in the file", func() bool { return countRule(fileAlerts(s.file), "Test shadow read") == n })
	waitFor(t, "the overflow alert in the file", func() bool { return countRule(fileAlerts(s.file), queue.RuleOverflow) == 1 })
	var ov map[string]any
	for _, al := range fileAlerts(s.file) {
		if al["rule"] == queue.RuleOverflow {
			ov = al
		}
	}
	of := ov["output_fields"].(map[string]any)
	// The writer holds one alert and the queue two: the rest is dropped.
	if of["vigil.queue"] != "output.stdout" || of["vigil.total_dropped"].(float64) < 1 || ov["source"] != alert.SourceInternal {
		t.Errorf("overflow alert %v", ov)
	}
	fams := scrape(t, a)
	if v := metricValue(fams["vigil_queue_dropped_total"], "queue", "output.stdout"); v < n-3 {
		t.Errorf("vigil_queue_dropped_total{queue=output.stdout} = %v, want >= %d", v, n-3)
	}
	for _, q := range []string{"output.file", "store", "responses", "container_lookups"} {
		found := false
		for _, m := range fams["vigil_queue_capacity"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue" && l.GetValue() == q {
					found = true
				}
			}
		}
		if !found && (q != "container_lookups" || a.containers != nil) {
			t.Errorf("queue %s missing from /metrics", q)
		}
	}
	close(stdout.release)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenExisting(s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Query(context.Background(), store.Filter{Rule: queue.RuleOverflow})
	if err != nil || len(got) != 1 {
		t.Fatalf("overflow alerts in the store: %d, %v", len(got), err)
	}
}

// TestStagePanicKeepsAgentRunning (#12 item 1, per-event half): a panic in
// a per-event stage does not take the agent down: the event's alert is
// still delivered, the internal alert names the stage and the panic, the
// panic is counted in /metrics, and the next events are handled.
func TestStagePanicKeepsAgentRunning(t *testing.T) {
	s := newSinks(t)
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(shadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled, cfg.Outputs.Syslog.Enabled = false, false
	src := &fakeSource{ch: make(chan struct{}, 8)}
	n := 0
	a, err := New(cfg, &Options{Source: src, NoSignals: true, Logger: slog.New(slog.DiscardHandler),
		Tap: func(ev *event.Event) {
			n++
			if n == 1 {
				panic(fmt.Sprintf("tap broke on %s", ev.Path))
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	src.ch <- struct{}{}
	src.ch <- struct{}{}
	waitFor(t, "both alerts", func() bool { return countRule(fileAlerts(s.file), "Test shadow read") == 2 })
	waitFor(t, "the panic alert", func() bool { return countRule(fileAlerts(s.file), guard.RulePanic) == 1 })
	for _, al := range fileAlerts(s.file) {
		if al["rule"] != guard.RulePanic {
			continue
		}
		of := al["output_fields"].(map[string]any)
		if of["vigil.stage"] != guard.StageTap || of["vigil.panic"] != "tap broke on /etc/shadow" || of["vigil.on"] != "openat event" {
			t.Errorf("panic alert fields %v", of)
		}
	}
	if v := metricValue(scrape(t, a)["vigil_panics_total"], "stage", guard.StageTap); v != 1 {
		t.Errorf("vigil_panics_total{stage=tap} = %v", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
