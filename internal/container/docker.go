package container

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// dockerClient speaks the Docker Engine API (and Podman's compatible one)
// over a unix socket with plain net/http.
type dockerClient struct {
	sock string
	typ  string // TypeDocker or TypePodman
	http *http.Client

	mu        sync.Mutex
	connected bool
	images    map[string]string // image id -> repo digest
}

func newDockerClient(sock, typ string) *dockerClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &dockerClient{sock: sock, typ: typ, http: &http.Client{Transport: tr}, images: map[string]string{}}
}

func (c *dockerClient) name() string          { return c.typ }
func (c *dockerClient) socket() string        { return c.sock }
func (c *dockerClient) handles(t string) bool { return t == c.typ }

// get decodes the JSON answer of GET path into v.
func (c *dockerClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", c.typ, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", c.typ, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: GET %s: %w", c.typ, path, ErrNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: GET %s: %s: %s", c.typ, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: GET %s: decode: %w", c.typ, path, err)
	}
	return nil
}

// dockerInspect is the part of GET /containers/{id}/json Vigil reads.
type dockerInspect struct {
	ID      string `json:"Id"`
	Name    string
	Image   string // image id
	Created string
	State   struct {
		Pid       int
		Running   bool
		StartedAt string
	}
	Config struct {
		Image       string
		Labels      map[string]string
		Healthcheck *struct{ Test []string }
	}
	HostConfig struct{ Privileged bool }
	Mounts     []struct {
		Type, Source, Destination, Mode, Propagation string
		RW                                           bool
	}
}

func (c *dockerClient) watch(ctx context.Context, s *clientSink) error {
	if _, err := os.Stat(c.sock); err != nil {
		return fmt.Errorf("%s: %w", c.typ, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	var ver struct{ Version string }
	err := c.get(vctx, "/version", &ver)
	cancel()
	if err != nil {
		return err
	}
	// Open the event stream before listing so nothing is lost in between.
	filters := url.QueryEscape(`{"type":["container"]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/events?filters="+filters, nil)
	if err != nil {
		return fmt.Errorf("%s: events: %w", c.typ, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: events: %w", c.typ, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: events: %s", c.typ, resp.Status)
	}
	c.mu.Lock()
	c.connected = true
	c.images = map[string]string{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.connected = false
		c.mu.Unlock()
	}()
	var list []struct {
		ID string `json:"Id"`
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = c.get(lctx, "/containers/json?all=1", &list)
	if err == nil {
		for _, l := range list {
			if ct, err := c.inspectID(lctx, l.ID); err == nil {
				s.Put(ct)
			}
		}
	}
	cancel()
	if err != nil {
		return err
	}
	s.Connected(ver.Version)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Action string
			Actor  struct{ ID string }
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Actor.ID == "" {
			continue
		}
		switch ev.Action {
		case "create", "start", "rename", "update":
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if ct, err := c.inspectID(ictx, ev.Actor.ID); err == nil {
				s.Put(ct)
			}
			cancel()
		case "destroy":
			s.Delete(ev.Actor.ID)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: events: %w", c.typ, err)
	}
	return fmt.Errorf("%s: events: stream closed", c.typ)
}

func (c *dockerClient) inspect(ctx context.Context, info PathInfo) (*event.Container, error) {
	c.mu.Lock()
	ok := c.connected
	c.mu.Unlock()
	if !ok {
		return nil, ErrNotConnected
	}
	return c.inspectID(ctx, info.ID)
}

func (c *dockerClient) inspectID(ctx context.Context, id string) (*event.Container, error) {
	var in dockerInspect
	if err := c.get(ctx, "/containers/"+url.PathEscape(id)+"/json", &in); err != nil {
		return nil, err
	}
	ct := &event.Container{
		ID: shortID(in.ID), FullID: in.ID, Type: c.typ, MetadataKnown: true,
		Name: strings.TrimPrefix(in.Name, "/"), Labels: in.Config.Labels,
		Privileged: in.HostConfig.Privileged,
	}
	setImage(ct, in.Config.Image)
	ct.ImageID = strings.TrimPrefix(in.Image, "sha256:")
	if ct.Digest == "" && in.Image != "" {
		ct.Digest = c.imageDigest(ctx, in.Image, ct.Repository)
	}
	for _, m := range in.Mounts {
		ct.Mounts = append(ct.Mounts, event.Mount{Source: m.Source, Destination: m.Destination, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation})
	}
	if h := in.Config.Healthcheck; h != nil && len(h.Test) > 1 {
		switch h.Test[0] {
		case "CMD-SHELL":
			ct.Healthcheck = "/bin/sh -c " + h.Test[1]
		case "CMD":
			ct.Healthcheck = strings.Join(h.Test[1:], " ")
		}
	}
	setPod(ct, in.Config.Labels, nil)
	if in.State.Pid > 0 {
		if ts, err := ProcStartTime(uint32(in.State.Pid)); err == nil {
			ct.StartTS = ts
		}
	}
	if ct.StartTS == 0 && in.State.Running {
		if t, err := time.Parse(time.RFC3339Nano, in.State.StartedAt); err == nil {
			ct.StartTS = t.UnixNano()
		}
	}
	return ct, nil
}

// imageDigest returns the repo digest of image id for repository.
func (c *dockerClient) imageDigest(ctx context.Context, imageID, repo string) string {
	c.mu.Lock()
	d, ok := c.images[imageID]
	c.mu.Unlock()
	if ok {
		return d
	}
	var img struct{ RepoDigests []string }
	if err := c.get(ctx, "/images/"+url.PathEscape(imageID)+"/json", &img); err != nil {
		return ""
	}
	for _, rd := range img.RepoDigests {
		r, dg, found := strings.Cut(rd, "@")
		if found && (d == "" || r == repo) {
			d = dg
		}
	}
	c.mu.Lock()
	c.images[imageID] = d
	c.mu.Unlock()
	return d
}
