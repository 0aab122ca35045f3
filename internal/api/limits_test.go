package api

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIdleConnectionsCannotExhaustTheEndpoint: a local user opening many
// keep-alive connections and leaving them idle (the fd exhaustion of the
// issue) makes the endpoint close the oldest idle ones beyond its cap, so
// it never holds more than MaxConns descriptors, and /healthz still
// answers.
func TestIdleConnectionsCannotExhaustTheEndpoint(t *testing.T) {
	const max = 16
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{MaxConns: max})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 10 * max {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// One request, then idle with the connection kept alive.
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
	}
	if n := srv.Stats().Open; n > max {
		t.Fatalf("the endpoint holds %d connections, cap %d", n, max)
	}
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < 9*max {
		t.Errorf("%d of %d idle connections closed by the endpoint, want at least %d", closed, len(conns), 9*max)
	}
	if st := srv.Stats(); st.Evicted < uint64(9*max) {
		t.Errorf("stats %+v: evictions not counted", st)
	}
	code, body := get(t, "http://"+addr+"/healthz", "")
	if code != 200 || !strings.HasPrefix(body, "ok") {
		t.Fatalf("/healthz under the flood: %d %q", code, body)
	}
}

// TestUnixSocketEndpoint: "unix:PATH" serves on a socket created with the
// given mode (0600 by default: root only), replacing a stale socket but
// never another kind of file.
func TestUnixSocketEndpoint(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.sock")
	ln, err := Listen("unix:"+path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v, want a 0600 socket", st.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(Options{}).Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	resp, err := client.Get("http://vigil/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz over the socket: %d", resp.StatusCode)
	}
	cancel()
	<-done

	// A regular file at the path is not removed to make room.
	reg := filepath.Join(dir, "file")
	os.WriteFile(reg, []byte("keep"), 0o600)
	if _, err := Listen("unix:"+reg, 0o600); err == nil {
		t.Fatal("listened over a regular file")
	}
	if b, _ := os.ReadFile(reg); string(b) != "keep" {
		t.Fatal("regular file replaced")
	}
}
