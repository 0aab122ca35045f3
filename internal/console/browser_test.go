package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigilsec/vigil/internal/agent"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/testkernel"
)

const (
	adminToken  = "admin-token-for-the-console-test"
	viewerToken = "viewer-token-for-the-console-test"
)

// xssPayload would run script if any alert string reached the page as
// HTML; the test checks the flag never gets set and the text shows as is.
const xssPayload = `<img src=x onerror="window.vigilXSS=1"><script>window.vigilXSS=2</script>`

// consoleAgent is an agent serving the console on a free loopback port.
type consoleAgent struct {
	a    *agent.Agent
	base string // http://127.0.0.1:port
	dir  string
}

// startConsoleAgent runs an agent (source nil: the real sensor) with the
// console, an admin and a viewer token, until the test ends.
func startConsoleAgent(t testing.TB, src agent.Source) *consoleAgent {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.DefaultConfig()
	cfg.Hostname = "console-test-node"
	cfg.Outputs.Stdout.Enabled = false
	cfg.Store.Path = filepath.Join(dir, "alerts.db")
	cfg.Store.FlushInterval = 20 * time.Millisecond
	cfg.HTTP.Listen = addr
	cfg.HTTP.TokenFile = filepath.Join(dir, "admin.token")
	cfg.Console.ViewerTokenFile = filepath.Join(dir, "viewer.token")
	cfg.Recorder.After = time.Second
	cfg.Drift.Enabled = false
	for p, tok := range map[string]string{cfg.HTTP.TokenFile: adminToken, cfg.Console.ViewerTokenFile: viewerToken} {
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := agent.New(cfg, &agent.Options{NoSignals: true, Logger: slog.New(slog.DiscardHandler), Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	ca := &consoleAgent{a: a, base: "http://" + addr, dir: dir}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			testkernel.SkipIfErr(t, err)
			t.Fatal("agent stopped")
		default:
		}
		if r, err := http.Get(ca.base + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return ca
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("agent not healthy in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// request makes an API request with a bearer token.
func (ca *consoleAgent) request(t testing.TB, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ca.base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost {
		req.Header.Set("X-Vigil-Console", "1")
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// seed stores n synthetic alerts over the last hours: rules Test R1..R3,
// nodes, namespaces, pods and images in turn; one carries xssPayload in
// every string the page shows.
func seed(t testing.TB, ca *consoleAgent, n int) {
	t.Helper()
	st := ca.a.Store()
	now := time.Now()
	var batch []*alert.Alert
	for i := range n {
		a := &alert.Alert{UUID: alert.NewUUID(), Time: now.Add(-time.Duration(i)*10*time.Second - 15*time.Second), Rule: fmt.Sprintf("Test R%d", i%3+1),
			Priority: []alert.Priority{alert.PriorityCritical, alert.PriorityWarning, alert.PriorityNotice}[i%3], Source: alert.SourceSyscall,
			Hostname: []string{"node-a", "node-b"}[i%2], Output: fmt.Sprintf("seeded alert %d", i),
			Vigil: alert.Context{Count: 1, Container: &alert.Container{ID: fmt.Sprintf("%012x", i), Name: "app",
				Image: []string{"nginx:1.27", "redis:7"}[i%2], PodNamespace: []string{"shop", "pay", "ops", "dev"}[i%4], PodName: fmt.Sprintf("web-%d", i%5)},
				Process: []alert.Process{{PID: uint32(1000 + i), Comm: "cat", ExePath: "/bin/cat", Args: []string{"/etc/shadow"}}}}}
		if i == 0 {
			a.Output, a.Vigil.Container.Name = xssPayload, xssPayload
			a.Vigil.Process[0].Args = []string{xssPayload}
		}
		batch = append(batch, a)
		if len(batch) == 1000 || i == n-1 {
			if err := st.Insert(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// browser is a headless Chromium with the console's console errors
// collected.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
	shots  string
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testkernel.Skip(t, "no chromium (Debian package chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, m.String()+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	b.shots = os.Getenv("VIGIL_TEST_OUTPUT")
	if b.shots == "" {
		b.shots, _ = os.MkdirTemp("", "vigil-console-shots-")
	}
	return b
}

func (b *browser) run(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(t, what, err)
	}
}

// fail ends the test with what the page shows and the console said.
func (b *browser) fail(t testing.TB, what string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 2000)`))
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Fatalf("%s: %v\npage: %s\nconsole:\n%s", what, err, body, strings.Join(b.errors, "\n"))
}

// value runs one action that returns a value.
func value[T any](t testing.TB, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(t, what, err)
	}
	return v
}

func (b *browser) text(t testing.TB, css string) string {
	t.Helper()
	return value(t, b, "text of "+css, chromedp.Text(chromedp.CSS(css)))
}

// shot writes a screenshot of the page to the output directory.
func (b *browser) shot(t testing.TB, name string) {
	t.Helper()
	png := value(t, b, "screenshot "+name, chromedp.FullScreenshot(100))
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) noErrors(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(b.errors, "\n"))
		b.errors = nil
	}
}

// goTo shows the console page of hash (same document: no page load) and
// waits for its data.
func goTo(hash string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](fmt.Sprintf(`delete document.getElementById("page").dataset.loaded; location.hash = %q; null`, hash))(ctx, t)
		return err
	}), loaded)
}

// unload forgets that the page is loaded (before an action that reloads it).
var unload = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := chromedp.Evaluate[any](`delete document.getElementById("page").dataset.loaded; null`)(ctx, t)
	return err
})

// loaded waits for the current page's data to be shown.
var loaded = chromedp.WaitVisible(chromedp.CSS(`#page[data-loaded="1"]`))

func (b *browser) login(t testing.TB, base, token string) {
	t.Helper()
	b.run(t, "login", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("login-btn")), loaded)
}

func (b *browser) rows(t testing.TB) int {
	t.Helper()
	return value(t, b, "count rows", chromedp.Evaluate[int](`document.querySelectorAll("#alerts-body tr").length`))
}

// filter sets the alert list's filters and waits for the list.
func (b *browser) filter(t testing.TB, base string, kv ...string) int {
	t.Helper()
	acts := []chromedp.Action[chromedp.Void]{goTo("#/alerts")}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "priority" {
			acts = append(acts, chromedp.SetValue(chromedp.ID("f-priority"), kv[i+1]))
		} else {
			acts = append(acts, chromedp.SendKeys(chromedp.ID("f-"+kv[i]), kv[i+1]))
		}
	}
	acts = append(acts, unload, chromedp.Click(chromedp.ID("apply")), loaded)
	b.run(t, fmt.Sprint("filter ", kv), acts...)
	return b.rows(t)
}

// TestConsoleInBrowser drives the console of an agent with the real sensor
// in headless Chromium: login as admin; the alert list, where an XSS
// payload in an alert's strings shows as text and runs nothing; filters
// narrow the list as the store says; a real `cat /etc/shadow` in a
// container (its pod labelled) appears live within 2 s and its detail
// shows the pod, the ancestry and the incident timeline with the exec of
// cat and the open marked; rule hits, nodes, posture, images pages; the
// admin reloads rules; a viewer gets 403 on the rules API and the page
// hides the button. No console errors anywhere; screenshots go to
// $VIGIL_TEST_OUTPUT (default a new temporary directory).
func TestConsoleInBrowser(t *testing.T) {
	testkernel.RequireRoot(t)
	br := newBrowser(t)
	env := newContainerEnv(t)
	ca := startConsoleAgent(t, nil)
	seed(t, ca, 60)
	t.Logf("screenshots in %s", br.shots)

	// Not logged in: the API refuses, the page shows the login form.
	if code, _ := ca.request(t, "GET", "/console/api/alerts", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("alerts without a login: %d", code)
	}
	br.run(t, "login page", chromedp.Navigate(ca.base+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	br.shot(t, "login")
	br.login(t, ca.base, adminToken)
	br.run(t, "filter to seeded", goTo("#/alerts?rule=Test%20R1"))
	br.shot(t, "alerts")

	// XSS: the payload is text in the page and ran nothing.
	xss := value(t, br, "xss flag", chromedp.Evaluate[string](`String(window.vigilXSS)`))
	imgs := value(t, br, "xss elements", chromedp.Evaluate[int](`document.querySelectorAll("#alerts-body img, #alerts-body script").length`))
	text := br.text(t, "#alerts-body")
	if xss != "undefined" || imgs != 0 || !strings.Contains(text, xssPayload) {
		t.Fatalf("xss: flag %v, %d elements, payload shown as text: %v", xss, imgs, strings.Contains(text, xssPayload))
	}

	// Filters narrow the list, as the store counts.
	for _, tc := range []struct {
		kv   []string
		want int
	}{
		{[]string{"rule", "Test R1"}, 20},
		{[]string{"rule", "Test R2", "node", "node-b"}, 10},
		{[]string{"namespace", "shop", "image", "nginx:1.27"}, 15},
		{[]string{"pod", "web-3", "rule", "Test R1"}, 4},
		{[]string{"priority", "Critical", "rule", "Test R1"}, 20},
		{[]string{"priority", "Critical", "rule", "Test R2"}, 0},
		{[]string{"rule", "Test R3", "since", "5m"}, 9},
	} {
		if n := br.filter(t, ca.base, tc.kv...); n != tc.want {
			t.Errorf("filter %v: %d rows, want %d", tc.kv, n, tc.want)
		}
	}
	br.shot(t, "alerts-filtered")

	// Live: a real cat /etc/shadow in a pod's container appears within 2 s.
	c := env.run(t, "shop", "web-live")
	br.run(t, "live list", goTo("#/alerts?namespace=shop"),
		chromedp.WaitVisible(chromedp.CSS(`#live-status.ok`)))
	before := br.rows(t)
	c.exec(t, "/bin/sh", "-c", "cat /etc/shadow >/dev/null; echo done")
	start := time.Now()
	var uuid string
	for {
		got := value(t, br, "live rows", chromedp.Evaluate[[]map[string]string](`Array.from(document.querySelectorAll("#alerts-body tr[data-uuid] td.rule")).map(td => ({rule: td.textContent, uuid: td.parentElement.dataset.uuid}))`))
		for _, r := range got {
			if r["rule"] == "Vigil Sensitive File Read" {
				uuid = r["uuid"]
			}
		}
		if uuid != "" {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("no live row for the container's cat /etc/shadow within 2 s (%d rows before, %d now)", before, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("live alert shown %v after the exec returned", time.Since(start).Round(time.Millisecond))
	br.shot(t, "alerts-live")

	// Detail: pod, ancestry and the incident timeline of the real events;
	// wait for the after window to close so the timeline is complete.
	time.Sleep(2500 * time.Millisecond)
	br.run(t, "detail", goTo("#/alert/"+uuid))
	tl, pod, anc := br.text(t, "#d-timeline"), br.text(t, "#d-container"), br.text(t, "#d-ancestry")
	br.shot(t, "alert-detail")
	marked := br.text(t, "#d-timeline tr.ev-alert")
	if !strings.Contains(pod, "web-live") || !strings.Contains(pod, "shop") || !strings.Contains(pod, c.id[:12]) {
		t.Errorf("container and pod: %q", pod)
	}
	if !strings.Contains(anc, "cat") || !strings.Contains(anc, "sh") {
		t.Errorf("ancestry: %q", anc)
	}
	if !strings.Contains(marked, "openat") || !strings.Contains(marked, "/etc/shadow") {
		t.Errorf("marked event %q", marked)
	}
	if !strings.Contains(tl, "execve") || !strings.Contains(tl, "cat /etc/shadow") {
		t.Errorf("timeline lacks the shell's and cat's execs:\n%s", tl)
	}
	state := br.text(t, "#d-timeline-state")
	if !strings.Contains(state, "complete") {
		t.Errorf("incident %q", state)
	}

	// Rule hits, nodes, posture and images.
	br.run(t, "rules", goTo("#/rules"))
	legend := br.text(t, "#hits-legend")
	br.shot(t, "rules")
	if !strings.Contains(legend, "Test R1 (20)") {
		t.Errorf("legend %q", legend)
	}
	br.run(t, "reload rules", chromedp.Click(chromedp.ID("reload-rules")), chromedp.WaitVisible(chromedp.CSS(`#reload-result.ok`)))
	br.run(t, "nodes", goTo("#/nodes"))
	nodes := br.text(t, "#nodes")
	br.shot(t, "nodes")
	if !strings.Contains(nodes, "console-test-node") || !strings.Contains(nodes, "alive") {
		t.Errorf("nodes %q", nodes)
	}
	uploadReports(t, ca)
	br.run(t, "posture", goTo("#/posture"))
	posture := br.text(t, "#posture")
	br.shot(t, "posture")
	if !strings.Contains(posture, "VGL-") {
		t.Errorf("posture findings: %q", posture)
	}
	br.run(t, "images", goTo("#/images"))
	images := br.text(t, "#images")
	br.shot(t, "images")
	if !strings.Contains(images, "CVE-2024-0001") {
		t.Errorf("image findings: %q", images)
	}
	br.noErrors(t)

	// A viewer: reads, cannot push rules (403) nor upload, and sees no
	// such controls.
	if code, body := ca.request(t, "POST", "/console/api/rules", viewerToken, ""); code != http.StatusForbidden {
		t.Errorf("viewer pushing rules: %d %s", code, body)
	}
	if code, _ := ca.request(t, "POST", "/console/api/reports?kind=posture", viewerToken, "{}"); code != http.StatusForbidden {
		t.Errorf("viewer uploading: %d", code)
	}
	if code, _ := ca.request(t, "POST", "/console/api/rules", adminToken, ""); code != http.StatusOK {
		t.Errorf("admin reloading rules: %d", code)
	}
	br.run(t, "logout", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("token")))
	br.login(t, ca.base, viewerToken)
	br.run(t, "viewer rules", goTo("#/rules"))
	buttons := value(t, br, "reload buttons", chromedp.Evaluate[int](`document.querySelectorAll("#reload-rules").length`))
	br.run(t, "viewer posture", goTo("#/posture"))
	uploads := value(t, br, "upload forms", chromedp.Evaluate[int](`document.querySelectorAll("#upload").length`))
	br.shot(t, "viewer-posture")
	if buttons != 0 || uploads != 0 {
		t.Errorf("viewer sees %d reload buttons and %d upload forms", buttons, uploads)
	}
	br.noErrors(t)

	// Every response carries the CSP.
	r, err := http.Get(ca.base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
}

// uploadReports uploads a real `vigil k8s audit` result of the shared
// Kubernetes Goat manifests and an image scan result; a bad upload gets a
// positioned error.
func uploadReports(t testing.TB, ca *consoleAgent) {
	t.Helper()
	code, body := ca.request(t, "POST", "/console/api/reports?kind=posture&name=goat.json", adminToken, auditGoat(t))
	if code != http.StatusOK {
		t.Fatalf("upload posture: %d %s", code, body)
	}
	scan := `{"target": "nginx:1.27", "packages": 1, "findings": [{"id": "CVE-2024-0001", "severity": "HIGH",
		"package": {"type": "deb", "name": "openssl", "version": "3.0.1"}, "matched_name": "openssl", "matched_version": "3.0.1",
		"ecosystem": "Debian:12", "fixed_versions": ["3.0.2"]}]}`
	if code, body := ca.request(t, "POST", "/console/api/reports?kind=image&name=scan.json", adminToken, scan); code != http.StatusOK {
		t.Fatalf("upload image scan: %d %s", code, body)
	}
	code, body = ca.request(t, "POST", "/console/api/reports?kind=compliance", adminToken, "{\n  \"framework\": [1,\n}")
	if code != http.StatusBadRequest || !strings.Contains(body, "2:") {
		t.Fatalf("bad upload: %d %s", code, body)
	}
}
