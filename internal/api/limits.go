package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Timeouts of the endpoint's connections: a client must send its request
// headers promptly, and a keep-alive connection left idle is closed.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
)

// DefaultMaxConns is the connection cap when Options.MaxConns is 0.
const DefaultMaxConns = 64

// Stats are the endpoint's connection counters.
type Stats struct {
	Open     int    // connections open now (at most MaxConns)
	Evicted  uint64 // idle or request-less connections closed to make room
	Rejected uint64 // new connections closed because every open one was busy
}

// Listen opens the endpoint's listener: "unix:PATH" is a unix socket
// created with mode (a stale socket at PATH is replaced, any other file is
// an error), anything else a TCP host:port.
func Listen(addr string, mode os.FileMode) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("listen %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("listen %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	// The socket is created with no access for others (umask), then given
	// mode: never connectable by another user in between. Listen runs at
	// start, before the agent creates other files.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return ln, nil
}

// connLimiter caps the endpoint's open connections, each one descriptor.
// At the cap a new connection evicts the oldest one not serving a request
// (idle keep-alive, or opened without sending one); when every open one is
// busy the new one is closed at once.
type connLimiter struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[net.Conn]*connState

	evicted, rejected atomic.Uint64
}

type connState struct {
	busy  bool
	since time.Time
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, conns: map[net.Conn]*connState{}}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if len(l.conns) >= l.max {
			var victim net.Conn
			var oldest time.Time
			for vc, st := range l.conns {
				if !st.busy && (victim == nil || st.since.Before(oldest)) {
					victim, oldest = vc, st.since
				}
			}
			if victim == nil {
				l.mu.Unlock()
				c.Close()
				l.rejected.Add(1)
				continue
			}
			delete(l.conns, victim)
			victim.Close()
			l.evicted.Add(1)
		}
		l.conns[c] = &connState{since: time.Now()}
		l.mu.Unlock()
		return c, nil
	}
}

// track is the http.Server's ConnState hook.
func (l *connLimiter) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.conns[c]
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	case http.StateActive:
		if ok {
			st.busy = true
		}
	case http.StateIdle:
		if ok {
			st.busy, st.since = false, time.Now()
		}
	}
}

func (l *connLimiter) stats() Stats {
	l.mu.Lock()
	n := len(l.conns)
	l.mu.Unlock()
	return Stats{Open: n, Evicted: l.evicted.Load(), Rejected: l.rejected.Load()}
}
