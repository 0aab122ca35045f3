package containertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// DockerSocket is the Docker Engine API socket the harness uses.
const DockerSocket = "/var/run/docker.sock"

// DockerdLog is where a dockerd started by StartDockerd logs.
const DockerdLog = "/tmp/vigil-dockerd.log"

// DockerImage is the name `docker load` gives the busybox image (Docker
// shows docker.io/ references without the registry).
const DockerImage = "vigiltest/busybox:1.0"

// Docker is a Docker Engine API client for tests.
type Docker struct {
	http *http.Client
}

// StartDockerd makes sure a dockerd answers on DockerSocket, starting one
// when none does: no bridge, no iptables (containers run with
// --network none), using the shared containerd. It is left running. The
// busybox image is loaded. It skips without root or without dockerd.
func StartDockerd(tb testing.TB) *Docker {
	tb.Helper()
	testkernel.RequireRoot(tb)
	d := &Docker{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", DockerSocket)
		},
	}}}
	if !d.ping() {
		bin, err := exec.LookPath("dockerd")
		if err != nil {
			testkernel.Skip(tb, "dockerd not installed (apt-get install docker.io): "+err.Error())
		}
		ctrd := StartContainerd(tb)
		lock, err := os.OpenFile(startLock, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			tb.Fatal(err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			tb.Fatal(err)
		}
		defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		if !d.ping() {
			if err := startDockerd(bin, ctrd, d); err != nil {
				tb.Fatalf("start dockerd: %v", err)
			}
		}
	}
	if err := d.load(); err != nil {
		tb.Fatalf("docker load: %v", err)
	}
	return d
}

func startDockerd(bin, containerdSock string, d *Docker) error {
	logf, err := os.OpenFile(DockerdLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--bridge=none", "--iptables=false", "--ip6tables=false",
		"--containerd", containerdSock, "-H", "unix://"+DockerSocket)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	noInheritedFDs()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("dockerd exited (%v), see %s", err, DockerdLog)
		default:
		}
		if d.ping() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("dockerd not answering after 60s, see %s", DockerdLog)
}

func (d *Docker) ping() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return d.do(ctx, http.MethodGet, "/_ping", nil, "", nil) == nil
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (d *Docker) do(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("docker %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("docker %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("docker %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

func (d *Docker) load() error {
	var buf bytes.Buffer
	if _, err := BuildImage(&buf, ImageName); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return d.do(ctx, http.MethodPost, "/images/load?quiet=1", &buf, "application/x-tar", nil)
}

// DockerSpec describes a Docker container to run.
type DockerSpec struct {
	Name        string
	Image       string   // default: DockerImage (busybox)
	Args        []string // default: sleep 3600 (with Image set: the image's Cmd)
	Labels      map[string]string
	Privileged  bool
	Binds       []string          // "src:dst[:ro]"
	Healthcheck []string          // e.g. {"CMD-SHELL", "true"}
	Network     string            // default: none
	PidMode     string            // "host": the host's PID namespace
	ReadOnly    bool              // read-only root filesystem
	Tmpfs       map[string]string // mount point → options
	CapAdd      []string          // capabilities added to the default set, e.g. SYS_ADMIN
	CapDrop     []string          // capabilities dropped, e.g. ALL
	SecurityOpt []string          // e.g. seccomp=unconfined, apparmor=unconfined
	Sysctls     map[string]string // namespaced sysctls, e.g. net.ipv4.ip_unprivileged_port_start
}

// DockerContainer is a running Docker container.
type DockerContainer struct {
	ID  string
	PID uint32
	d   *Docker
}

// Run creates and starts a container; t.Cleanup removes it.
func (d *Docker) Run(tb testing.TB, s DockerSpec) *DockerContainer {
	tb.Helper()
	if len(s.Args) == 0 && s.Image == "" {
		s.Args = []string{"sleep", "3600"}
	}
	if s.Image == "" {
		s.Image = DockerImage
	}
	if s.Network == "" {
		s.Network = "none"
	}
	cfg := map[string]any{
		"Image":  s.Image,
		"Labels": s.Labels,
		"HostConfig": map[string]any{
			"NetworkMode":    s.Network,
			"Privileged":     s.Privileged,
			"Binds":          s.Binds,
			"PidMode":        s.PidMode,
			"ReadonlyRootfs": s.ReadOnly,
			"Tmpfs":          s.Tmpfs,
			"CapAdd":         s.CapAdd,
			"CapDrop":        s.CapDrop,
			"SecurityOpt":    s.SecurityOpt,
			"Sysctls":        s.Sysctls,
		},
	}
	if len(s.Args) > 0 {
		cfg["Cmd"] = s.Args
	}
	if len(s.Healthcheck) > 0 {
		cfg["Healthcheck"] = map[string]any{"Test": s.Healthcheck, "Interval": int64(time.Hour)}
	}
	body, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var created struct {
		ID string `json:"Id"`
	}
	path := "/containers/create"
	if s.Name != "" {
		path += "?name=" + url.QueryEscape(s.Name)
	}
	if err := d.do(ctx, http.MethodPost, path, bytes.NewReader(body), "application/json", &created); err != nil {
		tb.Fatal(err)
	}
	c := &DockerContainer{ID: created.ID, d: d}
	tb.Cleanup(func() { c.Remove() })
	if err := d.do(ctx, http.MethodPost, "/containers/"+c.ID+"/start", nil, "", nil); err != nil {
		tb.Fatal(err)
	}
	var in struct{ State struct{ Pid uint32 } }
	if err := d.do(ctx, http.MethodGet, "/containers/"+c.ID+"/json", nil, "", &in); err != nil {
		tb.Fatal(err)
	}
	c.PID = in.State.Pid
	return c
}

// Remove force-removes the container.
func (c *DockerContainer) Remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.d.do(ctx, http.MethodDelete, "/containers/"+c.ID+"?force=1", nil, "", nil)
}

// LoadImage loads a docker-archive (docker load).
func (d *Docker) LoadImage(tb testing.TB, archive string) {
	tb.Helper()
	f, err := os.Open(archive)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := d.do(ctx, http.MethodPost, "/images/load?quiet=1", f, "application/x-tar", nil); err != nil {
		tb.Fatal(err)
	}
}

// Logs returns what the container wrote so far, stdout and stderr
// interleaved (the container has no TTY, so the stream is multiplexed:
// 8-byte frame headers are removed).
func (c *DockerContainer) Logs() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+c.ID+"/logs?stdout=1&stderr=1", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.d.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	for len(raw) >= 8 {
		n := int(raw[4])<<24 | int(raw[5])<<16 | int(raw[6])<<8 | int(raw[7])
		raw = raw[8:]
		n = min(n, len(raw))
		out.Write(raw[:n])
		raw = raw[n:]
	}
	return out.String(), nil
}

// Running reports whether the container is still running.
func (c *DockerContainer) Running() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var in struct{ State struct{ Running bool } }
	err := c.d.do(ctx, http.MethodGet, "/containers/"+c.ID+"/json", nil, "", &in)
	return in.State.Running, err
}

// Wait waits at most timeout for the container to exit and returns its
// exit code.
func (c *DockerContainer) Wait(timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out struct{ StatusCode int }
	err := c.d.do(ctx, http.MethodPost, "/containers/"+c.ID+"/wait", nil, "", &out)
	return out.StatusCode, err
}
