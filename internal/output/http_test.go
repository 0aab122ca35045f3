package output

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

type receiver struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
}

func (r *receiver) handler(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func TestHTTPFalcoBody(t *testing.T) {
	var rc receiver
	srv := httptest.NewServer(http.HandlerFunc(rc.handler))
	defer srv.Close()
	h, err := NewHTTP(HTTPOptions{URL: srv.URL + "/", Headers: map[string]string{"X-Token": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert(7)
	if err := h.Write(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if rc.count() != 1 {
		t.Fatalf("%d requests", rc.count())
	}
	m := checkFalcoShape(t, rc.bodies[0])
	if m["uuid"] != a.UUID || m["rule"] != a.Rule || m["priority"] != "Warning" || m["source"] != "syscall" {
		t.Errorf("body %v", m)
	}
	if of := m["output_fields"].(map[string]any); of["proc.pid"] != 7.0 || of["container.id"] != nil {
		t.Errorf("output_fields %v", of)
	}
	hd := rc.headers[0]
	if hd.Get("Content-Type") != "application/json" || hd.Get("X-Token") != "s3cret" {
		t.Errorf("headers %v", hd)
	}
}

func TestHTTPBatch(t *testing.T) {
	var rc receiver
	srv := httptest.NewServer(http.HandlerFunc(rc.handler))
	defer srv.Close()
	h, _ := NewHTTP(HTTPOptions{URL: srv.URL, BatchSize: 3})
	if err := h.WriteBatch(context.Background(), []*alert.Alert{testAlert(1), testAlert(2), testAlert(3)}); err != nil {
		t.Fatal(err)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(rc.bodies[0], &arr); err != nil || len(arr) != 3 {
		t.Fatalf("batch body: %v %s", err, rc.bodies[0])
	}
	for _, x := range arr {
		checkFalcoShape(t, x)
	}
}

func TestHTTPRetry(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	h, _ := NewHTTP(HTTPOptions{URL: srv.URL, MaxRetries: 3, RetryBackoff: time.Millisecond})
	if err := h.Write(context.Background(), testAlert(1)); err != nil {
		t.Fatalf("after retries: %v", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}
	// 400 is not retried and is reported.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer bad.Close()
	calls.Store(0)
	h, _ = NewHTTP(HTTPOptions{URL: bad.URL, MaxRetries: 3, RetryBackoff: time.Millisecond})
	if err := h.Write(context.Background(), testAlert(1)); !errors.Is(err, ErrHTTPStatus) || calls.Load() != 1 {
		t.Fatalf("400: err %v after %d calls", err, calls.Load())
	}
}

func TestHTTPTLS(t *testing.T) {
	var rc receiver
	srv := httptest.NewTLSServer(http.HandlerFunc(rc.handler))
	defer srv.Close()
	// Without the CA the server is rejected.
	h, _ := NewHTTP(HTTPOptions{URL: srv.URL})
	if err := h.Write(context.Background(), testAlert(1)); err == nil {
		t.Fatal("unverified server accepted")
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := NewHTTP(HTTPOptions{URL: srv.URL, TLS: TLSOptions{CAFile: ca}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Write(context.Background(), testAlert(1)); err != nil {
		t.Fatalf("with CA file: %v", err)
	}
	h, _ = NewHTTP(HTTPOptions{URL: srv.URL, TLS: TLSOptions{InsecureSkipVerify: true}})
	if err := h.Write(context.Background(), testAlert(1)); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if rc.count() != 2 {
		t.Fatalf("%d requests", rc.count())
	}
	if _, err := NewHTTP(HTTPOptions{URL: srv.URL, TLS: TLSOptions{CAFile: "/nonexistent"}}); err == nil {
		t.Fatal("missing CA file accepted")
	}
}
