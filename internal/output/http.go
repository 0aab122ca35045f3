package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// HTTPOptions configures an HTTP output.
type HTTPOptions struct {
	URL     string
	Headers map[string]string
	// BatchSize 1 (or 0) POSTs each alert alone, the body being the Falco
	// JSON alert (falcosidekick's format). More POSTs JSON arrays of up to
	// BatchSize alerts, waiting at most BatchInterval for a batch to fill.
	BatchSize     int
	BatchInterval time.Duration
	// Timeout bounds one request; zero means 5s.
	Timeout time.Duration
	// MaxRetries after a network error, 429 or 5xx; the delay starts at
	// RetryBackoff and doubles, capped at 30s.
	MaxRetries   int
	RetryBackoff time.Duration
	// Workers is how many requests may be in flight at once (each worker
	// takes alerts from the output's queue; alerts may then arrive out of
	// order). Zero means 4.
	Workers int
	TLS     TLSOptions
	// NoUpdates: the update of a coalesced alert (vigil.update true, the
	// final vigil.count) is not posted, only its first alert.
	NoUpdates bool
}

// TLSOptions configures HTTPS.
type TLSOptions struct {
	CAFile             string
	CertFile, KeyFile  string
	InsecureSkipVerify bool
}

// HTTP POSTs alerts.
type HTTP struct {
	opts   HTTPOptions
	client *http.Client
	bufs   sync.Pool // *bytes.Buffer, one per request in flight
	// header is built once and shared by every request (read-only: the
	// client and transport do not modify it; no cookie jar is set).
	header http.Header
}

// SkipsUpdates implements UpdateSkipper.
func (h *HTTP) SkipsUpdates() bool { return h.opts.NoUpdates }

// ErrHTTPStatus is matched by errors for a non-2xx response.
var ErrHTTPStatus = errors.New("http output: unexpected status")

// NewHTTP returns an HTTP output; it fails when the TLS files cannot be read.
func NewHTTP(opts HTTPOptions) (*HTTP, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.BatchSize < 1 {
		opts.BatchSize = 1
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.BatchInterval <= 0 {
		opts.BatchInterval = time.Second
	}
	tc, err := TLSConfig(opts.TLS)
	if err != nil {
		return nil, fmt.Errorf("http output: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = opts.Workers
	h := &HTTP{opts: opts, client: &http.Client{Transport: tr, Timeout: opts.Timeout}, header: http.Header{}}
	h.header.Set("Content-Type", "application/json")
	h.header.Set("User-Agent", "vigil")
	for k, v := range opts.Headers {
		h.header.Set(k, v)
	}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	return h, nil
}

// TLSConfig is the client TLS o describes (the HTTP and hub outputs').
func TLSConfig(o TLSOptions) (*tls.Config, error) {
	c := &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca file %s: no PEM certificate", o.CAFile)
		}
		c.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Name implements Output.
func (h *HTTP) Name() string { return "http" }

// BatchSize implements Batcher.
func (h *HTTP) BatchSize() int { return h.opts.BatchSize }

// BatchInterval implements Batcher.
func (h *HTTP) BatchInterval() int64 { return int64(h.opts.BatchInterval) }

// Workers implements Parallel.
func (h *HTTP) Workers() int { return h.opts.Workers }

// Write implements Output: one POST whose body is a's Falco JSON. It is
// safe for concurrent use.
func (h *HTTP) Write(ctx context.Context, a *alert.Alert) error {
	buf := h.bufs.Get().(*bytes.Buffer)
	defer h.bufs.Put(buf)
	buf.Reset()
	buf.Write(a.AppendJSON(buf.AvailableBuffer()))
	return h.post(ctx, buf.Bytes())
}

// WriteBatch implements Batcher: one POST whose body is a JSON array. It
// is safe for concurrent use.
func (h *HTTP) WriteBatch(ctx context.Context, as []*alert.Alert) error {
	buf := h.bufs.Get().(*bytes.Buffer)
	defer h.bufs.Put(buf)
	buf.Reset()
	buf.WriteByte('[')
	for i, a := range as {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(a.AppendJSON(buf.AvailableBuffer()))
	}
	buf.WriteByte(']')
	return h.post(ctx, buf.Bytes())
}

func (h *HTTP) post(ctx context.Context, body []byte) error {
	delay := h.opts.RetryBackoff
	var err error
	for attempt := 0; ; attempt++ {
		var retry bool
		retry, err = h.once(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= h.opts.MaxRetries {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retry abandoned: %v)", err, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// once sends one request; retry tells whether a failure is worth retrying.
func (h *HTTP) once(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("http output: %w", err)
	}
	req.Header = h.header
	resp, err := h.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("http output: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500,
		fmt.Errorf("%w: %s from %s", ErrHTTPStatus, resp.Status, h.opts.URL)
}

// Close implements Output.
func (h *HTTP) Close() error {
	h.client.CloseIdleConnections()
	return nil
}
