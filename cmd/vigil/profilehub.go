package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/hub"
	"github.com/vigilsec/vigil/internal/profile"
)

// profileHub reads and accepts profiles through a hub's HTTP API
// (vigil profile --hub URL): the fleet's merged profiles.
type profileHub struct {
	base  string
	token string
	http  *http.Client
}

// newProfileHub checks the flags: the hub's API URL, a file holding its
// token (viewer to read, admin to accept) and an optional CA.
func newProfileHub(base, tokenFile, caFile string) (*profileHub, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--hub %q: want the hub's API URL, http(s)://HOST:PORT", base)
	}
	if tokenFile == "" {
		return nil, errors.New("--hub needs --token-file (the hub's viewer token; admin to accept)")
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--hub-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--hub-ca %s: no PEM certificate", caFile)
		}
	}
	return &profileHub{base: strings.TrimSuffix(base, "/"), token: strings.TrimSpace(string(tok)),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

// do sends a request to the API and returns the body of a 200 answer;
// another answer is an error with the hub's message.
func (h *profileHub) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("hub: %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return nil, fmt.Errorf("hub: %s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	return data, nil
}

func (h *profileHub) list(ctx context.Context) ([]hub.ProfileSummary, error) {
	data, err := h.do(ctx, http.MethodGet, "/api/profiles", nil)
	if err != nil {
		return nil, err
	}
	var out []hub.ProfileSummary
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("hub: profile list: %w", err)
	}
	return out, nil
}

// get returns the fleet's merged profile of name.
func (h *profileHub) get(ctx context.Context, name string) (*profile.Profile, error) {
	data, err := h.do(ctx, http.MethodGet, "/api/profiles/"+url.PathEscape(name), nil)
	if err != nil {
		return nil, err
	}
	return profile.Decode(data, "hub profile "+name, profile.Limits{})
}

// accept folds a behaviour into the fleet's profile (admin token); it
// returns the new merge.
func (h *profileHub) accept(ctx context.Context, name string, it profile.Item) (*profile.Profile, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "kind": string(it.Kind), "value": it.Value})
	data, err := h.do(ctx, http.MethodPost, "/api/profiles/accept", body)
	if err != nil {
		return nil, err
	}
	return profile.Decode(data, "hub profile "+name, profile.Limits{})
}

// alertBody returns a stored alert's JSON (the console API's alert detail).
func (h *profileHub) alertBody(ctx context.Context, uuid string) ([]byte, error) {
	data, err := h.do(ctx, http.MethodGet, "/console/api/alerts/"+url.PathEscape(uuid), nil)
	if err != nil {
		return nil, err
	}
	var d struct {
		Alert json.RawMessage `json:"alert"`
	}
	if err := json.Unmarshal(data, &d); err != nil || len(d.Alert) == 0 {
		return nil, fmt.Errorf("hub: alert %s: no alert in the answer", uuid)
	}
	return d.Alert, nil
}
