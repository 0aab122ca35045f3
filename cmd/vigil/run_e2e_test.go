package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

const e2eRule = `
- rule: E2E cat shadow
  desc: cat reads /etc/shadow (end-to-end test)
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and proc.name = cat
  output: Shadow read by cat (file=%fd.name pid=%proc.pid container=%container.id full_id=%container.full_id image=%container.image.repository pod=%k8s.pod.name ns=%k8s.ns.name)
  priority: WARNING
  tags: [test, filesystem]
`

const e2eRuleName = "E2E cat shadow"

// e2eSinks are the receivers the agent under test delivers to.
type e2eSinks struct {
	dir, file, db, rules, cfg string
	listen                    string

	http *httptest.Server
	mu   sync.Mutex
	post [][]byte
	sysl []string
}

func newE2ESinks(t *testing.T) *e2eSinks {
	t.Helper()
	dir := t.TempDir()
	s := &e2eSinks{dir: dir, file: filepath.Join(dir, "alerts.json"), db: filepath.Join(dir, "db", "alerts.db"),
		rules: filepath.Join(dir, "rules.yaml"), cfg: filepath.Join(dir, "vigil.yaml")}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.post = append(s.post, b)
		s.mu.Unlock()
	}))
	t.Cleanup(s.http.Close)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.sysl = append(s.sysl, string(buf[:n]))
			s.mu.Unlock()
		}
	}()
	s.listen = freeLoopback(t)
	if err := os.WriteFile(s.rules, []byte(e2eRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`log_level: info
rules:
  default: false
  files: [%q]
  watch: false
dedup:
  window: 0s
outputs:
  stdout:
    enabled: false
  file:
    enabled: true
    path: %q
  syslog:
    enabled: true
    network: udp
    address: %q
    format: text
  http:
    enabled: true
    url: %q
store:
  enabled: true
  path: %q
  flush_interval: 20ms
http:
  enabled: true
  listen: %q
`, s.rules, s.file, pc.LocalAddr().String(), s.http.URL, s.db, s.listen)
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// freeLoopback returns a loopback address with a port free right now.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// posts returns the HTTP bodies received so far, decoded.
func (s *e2eSinks) posts(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, b := range s.post {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("HTTP body is not one JSON object: %v: %.200s", err, b)
			continue
		}
		out = append(out, m)
	}
	return out
}

func (s *e2eSinks) syslogHas(subs ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.sysl {
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(m, sub)
		}
		if ok {
			return true
		}
	}
	return false
}

func jsonLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("not a JSON line: %v: %.200s", err, sc.Bytes())
			continue
		}
		out = append(out, m)
	}
	return out
}

func fileJSON(t *testing.T, path string) []map[string]any {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return jsonLines(t, b)
}

// find returns the first alert of the e2e rule whose container.id
// output field is ctr.
func find(as []map[string]any, ctr string) map[string]any {
	for _, a := range as {
		if a["rule"] != e2eRuleName {
			continue
		}
		if of, ok := a["output_fields"].(map[string]any); ok && of["container.id"] == ctr {
			return a
		}
	}
	return nil
}

// checkFalcoShape checks an alert against the Falco JSON alert shape.
func checkFalcoShape(t *testing.T, where string, a map[string]any) {
	t.Helper()
	for _, k := range []string{"time", "rule", "priority", "source", "hostname", "output"} {
		if _, ok := a[k].(string); !ok {
			t.Errorf("%s: %q is %T, want string", where, k, a[k])
		}
	}
	if ts, _ := a["time"].(string); ts != "" {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("%s: time %q: %v", where, ts, err)
		}
	}
	if a["priority"] != "Warning" || a["source"] != "syscall" {
		t.Errorf("%s: priority %v source %v", where, a["priority"], a["source"])
	}
	tags, ok := a["tags"].([]any)
	if !ok || len(tags) != 2 {
		t.Errorf("%s: tags %#v", where, a["tags"])
	}
	for _, tg := range tags {
		if _, ok := tg.(string); !ok {
			t.Errorf("%s: tag %#v not a string", where, tg)
		}
	}
	of, ok := a["output_fields"].(map[string]any)
	if !ok {
		t.Fatalf("%s: output_fields is %T", where, a["output_fields"])
	}
	for _, k := range []string{"fd.name", "proc.pid", "container.id", "container.full_id", "container.image.repository", "k8s.pod.name", "k8s.ns.name"} {
		if _, present := of[k]; !present {
			t.Errorf("%s: output_fields lacks %q: %v", where, k, of)
		}
	}
	if of["fd.name"] != "/etc/shadow" {
		t.Errorf("%s: fd.name %#v", where, of["fd.name"])
	}
	if pid, ok := of["proc.pid"].(float64); !ok || pid <= 0 {
		t.Errorf("%s: proc.pid %#v, want a positive number", where, of["proc.pid"])
	}
}

// agentProc is a running `vigil run`.
type agentProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startRun(t *testing.T, bin string, s *e2eSinks) *agentProc {
	t.Helper()
	p := &agentProc{cmd: exec.Command(bin, "run", "--config", s.cfg), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	// Healthy once the sensor is attached.
	pollUntil(t, 60*time.Second, "vigil run healthy", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("vigil run exited: %v\n%s", err, p.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + s.listen + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *agentProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("vigil run after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("vigil run did not stop on SIGTERM\n%s", p.stderr.String())
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// TestRunEndToEnd runs the built binary: `vigil run` with file, HTTP,
// syslog and store outputs; cat /etc/shadow on the host and in a containerd
// container with kubelet labels; the alerts reach every output with their
// container context; after SIGTERM and a restart `vigil alerts` finds them.
func TestRunEndToEnd(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	env := containertest.New(t) // starts containerd, imports the image
	bin := buildVigil(t)
	s := newE2ESinks(t)

	// The test image has no /etc/shadow: bind one in.
	shadow := filepath.Join(s.dir, "shadow")
	if err := os.WriteFile(shadow, []byte("root:*:19000:0:99999:7:::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctr := env.Run(t, containertest.Spec{
		Labels: containertest.PodLabels("e2e-ns", "e2e-pod", "0f6c3a55-4b43-4d6e-9f38-bb2fb0d2f3a1", "app", nil),
		Mounts: []specs.Mount{{Destination: "/etc/shadow", Type: "bind", Source: shadow, Options: []string{"rbind", "ro"}}},
	})

	p := startRun(t, bin, s)

	// (a) on the host.
	pollUntil(t, 30*time.Second, "host alert in the file", func() bool {
		if err := exec.Command("cat", "/etc/shadow").Run(); err != nil {
			t.Fatal(err)
		}
		return find(fileJSON(t, s.file), "host") != nil
	})
	// (b) in the container, until the alert carries the runtime metadata.
	short := ctr.ID[:12]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, out := ctr.Exec(t, 10*time.Second, "cat", "/etc/shadow"); code != 0 {
			t.Fatalf("cat in the container: %d %s", code, out)
		}
		a := find(fileJSON(t, s.file), short)
		if a != nil && a["output_fields"].(map[string]any)["container.image.repository"] != nil {
			break
		}
		if time.Now().After(deadline) {
			// Say what the agent made of the container's reads.
			var seen []string
			for _, a := range fileJSON(t, s.file) {
				if a["rule"] == e2eRuleName {
					seen = append(seen, fmt.Sprint(a["output"]))
				}
			}
			var metrics string
			if resp, err := http.Get("http://" + s.listen + "/metrics"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				metrics = string(b)
			}
			var cm []string
			for _, l := range strings.Split(metrics, "\n") {
				if strings.HasPrefix(l, "vigil_container") || strings.HasPrefix(l, "vigil_events_lost") || strings.HasPrefix(l, "vigil_queue_dropped") {
					cm = append(cm, l)
				}
			}
			t.Fatalf("timed out waiting for the container %s's alert with its image in the file; its alerts:\n%s\ncontainer metrics:\n%s\nagent log:\n%s",
				short, strings.Join(seen, "\n"), strings.Join(cm, "\n"), p.stderr.String())
		}
	}

	pollUntil(t, 20*time.Second, "both alerts over HTTP", func() bool {
		ps := s.posts(t)
		return find(ps, "host") != nil && find(ps, short) != nil
	})
	pollUntil(t, 20*time.Second, "both alerts over syslog", func() bool {
		return s.syslogHas(e2eRuleName, "container=host") && s.syslogHas(e2eRuleName, "container="+short)
	})

	fileAs, httpAs := fileJSON(t, s.file), s.posts(t)
	repo := strings.SplitN(containertest.ImageName, ":", 2)[0] // no tag
	for where, as := range map[string][]map[string]any{"file": fileAs, "http": httpAs} {
		h := find(as, "host")
		checkFalcoShape(t, where+" host", h)
		hof := h["output_fields"].(map[string]any)
		// docs/fields.md: repository empty for host, pod and namespace no value.
		if hof["k8s.pod.name"] != nil || hof["k8s.ns.name"] != nil || hof["container.image.repository"] != "" || hof["container.full_id"] != "host" {
			t.Errorf("%s host: want null pod and namespace, empty repository, full_id host: %v", where, hof)
		}
		var c map[string]any
		for _, a := range as { // the newest: it has the metadata
			if a["rule"] == e2eRuleName && a["output_fields"].(map[string]any)["container.id"] == short {
				c = a
			}
		}
		checkFalcoShape(t, where+" container", c)
		cof := c["output_fields"].(map[string]any)
		if cof["container.full_id"] != ctr.ID {
			t.Errorf("%s container: container.full_id %v, want containerd's id %s", where, cof["container.full_id"], ctr.ID)
		}
		if cof["container.image.repository"] != repo || cof["k8s.pod.name"] != "e2e-pod" || cof["k8s.ns.name"] != "e2e-ns" {
			t.Errorf("%s container: output_fields %v; want repository %s, pod e2e-pod, namespace e2e-ns", where, cof, repo)
		}
		vc, _ := c["vigil"].(map[string]any)
		if vcc, _ := vc["container"].(map[string]any); vcc == nil || vcc["id"] != short || vcc["image"] != containertest.ImageName {
			t.Errorf("%s container: vigil.container %v, want id %s, image %s", where, vc["container"], short, containertest.ImageName)
		}
	}

	// /metrics over HTTP parses and counts events and matches.
	resp, err := http.Get("http://" + s.listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	sum := func(name string, label, value string) float64 {
		var v float64
		if f := fams[name]; f != nil {
			for _, m := range f.Metric {
				ok := label == ""
				for _, l := range m.Label {
					ok = ok || (l.GetName() == label && l.GetValue() == value)
				}
				if ok && m.Counter != nil {
					v += m.Counter.GetValue()
				}
			}
		}
		return v
	}
	if v := sum("vigil_events_total", "type", "openat"); v <= 0 {
		t.Errorf("vigil_events_total{type=openat} = %v", v)
	}
	if v := sum("vigil_rule_matches_total", "rule", e2eRuleName); v < 2 {
		t.Errorf("vigil_rule_matches_total{rule=%q} = %v", e2eRuleName, v)
	}
	if v := sum("vigil_output_sent_total", "output", "http"); v < 2 {
		t.Errorf("vigil_output_sent_total{output=http} = %v", v)
	}

	// SIGTERM flushes; the store has everything the file has.
	p.stop(t)
	count := func(as []map[string]any) int {
		n := 0
		for _, a := range as {
			if a["rule"] == e2eRuleName {
				n++
			}
		}
		return n
	}
	nFile := count(fileJSON(t, s.file))
	if nHTTP := count(s.posts(t)); nHTTP != nFile {
		t.Errorf("after SIGTERM: %d alerts over HTTP, %d in the file", nHTTP, nFile)
	}

	// Restart, then query the store with the built CLI.
	p = startRun(t, bin, s)
	alerts := func(args ...string) []map[string]any {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, append([]string{"alerts", "--db", s.db, "--json", "--rule", e2eRuleName}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("vigil alerts %v: %v\n%s", args, err, errb.String())
		}
		return jsonLines(t, out.Bytes())
	}
	all := alerts()
	if len(all) != nFile {
		t.Errorf("vigil alerts: %d alerts of the rule, the file has %d", len(all), nFile)
	}
	if h := find(all, "host"); h == nil {
		t.Errorf("vigil alerts: no host alert")
	} else {
		checkFalcoShape(t, "store host", h)
	}
	for _, id := range []string{ctr.ID, short} {
		byCtr := alerts("--container", id)
		if len(byCtr) == 0 {
			t.Errorf("vigil alerts --container %s: none", id)
		}
		for _, a := range byCtr {
			if a["output_fields"].(map[string]any)["container.id"] != short {
				t.Errorf("vigil alerts --container %s: alert of %v", id, a["output_fields"])
			}
		}
	}
	if hs := alerts("--container", "host"); find(hs, short) != nil || find(hs, "host") == nil {
		t.Errorf("vigil alerts --container host: %d alerts, wrong set", len(hs))
	}
	p.stop(t)
}
