package api

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/store"
)

func start(t *testing.T, opts Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(opts).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAlertsAPI(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	var as []*alert.Alert
	for i, r := range []string{"A", "B", "A"} {
		as = append(as, &alert.Alert{UUID: alert.NewUUID(), Time: now.Add(time.Duration(i-10) * time.Minute), Rule: r,
			Priority: alert.PriorityWarning + alert.Priority(i%2), Source: "syscall", Output: "x", Vigil: alert.Context{Count: 1}})
	}
	as = append(as, &alert.Alert{UUID: alert.NewUUID(), Time: now.Add(-3 * time.Hour), Rule: "A", Priority: alert.PriorityCritical, Source: "syscall"})
	if err := st.Insert(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	reg.Counter("vigil_test_total", "t").Inc()
	base := start(t, Options{Token: "tok3n", Store: st, Metrics: reg.Handler()})

	if code, body := get(t, base+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics", ""); code != 200 || !strings.Contains(body, "vigil_test_total 1") {
		t.Errorf("metrics %d %q", code, body)
	}
	if code, _ := get(t, base+"/api/alerts", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get(t, base+"/api/alerts", "tok3n-wrong"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	for q, want := range map[string]int{"": 4, "?since=1h": 3, "?rule=A": 3, "?rule=A&since=1h": 2, "?priority=warning": 3,
		"?priority=critical": 1, "?container=host": 4, "?container=abc": 0, "?limit=1": 1, "?since=1d": 4} {
		code, body := get(t, base+"/api/alerts"+q, "tok3n")
		if code != 200 {
			t.Errorf("%s: %d %s", q, code, body)
			continue
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v %s", q, err, body)
		}
		if len(got) != want {
			t.Errorf("%s: %d alerts, want %d", q, len(got), want)
		}
		for _, a := range got {
			if _, ok := a["output_fields"].(map[string]any); !ok {
				t.Errorf("not Falco JSON: %v", a)
			}
		}
	}
	for _, q := range []string{"?since=yesterday", "?priority=loud", "?limit=-1"} {
		if code, _ := get(t, base+"/api/alerts"+q, "tok3n"); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
}

func TestAPIDisabledWithoutToken(t *testing.T) {
	base := start(t, Options{})
	code, body := get(t, base+"/api/alerts", "anything")
	if code != 403 || !strings.Contains(body, "disabled") {
		t.Errorf("%d %s", code, body)
	}
	if code, _ := get(t, base+"/metrics", ""); code != 404 {
		t.Errorf("metrics without registry: %d", code)
	}
}

func TestReadToken(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tok")
	if tok, _, err := ReadToken(""); tok != "" || err != nil {
		t.Fatal("empty path")
	}
	if _, _, err := ReadToken(p); err == nil {
		t.Fatal("missing file accepted")
	}
	writeFile(t, p, "  s3cret\n")
	if tok, warn, err := ReadToken(p); tok != "s3cret" || warn != "" || err != nil {
		t.Fatalf("%q %q %v", tok, warn, err)
	}
	// Readable by every local user: read, with a warning.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if tok, warn, err := ReadToken(p); tok != "s3cret" || err != nil || !strings.Contains(warn, "readable by every user") || !strings.Contains(warn, p) {
		t.Fatalf("world-readable token file: %q %q %v", tok, warn, err)
	}
	writeFile(t, p, "\n")
	if _, _, err := ReadToken(p); err == nil {
		t.Fatal("empty token accepted")
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
