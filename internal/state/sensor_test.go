package state

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestWithSensor feeds the real sensor's events for `sh -c "cd DIR && cat
// ./sub/../data.txt; busybox nc 127.0.0.1 PORT"` into a seeded table and
// checks the enriched openat of cat (the process after its exec, its
// ancestry through sh to this test, the fd resolved against the cwd that
// sh's chdir set) and nc's connect (the client->server tuple).
func TestWithSensor(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const rel = "./sub/../data.txt"
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- ""
			return
		}
		peer <- c.RemoteAddr().String()
		c.Close()
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	script := "cd " + dir + " && cat " + rel + " >/dev/null; busybox nc 127.0.0.1 " + strconv.Itoa(port) + " </dev/null; true"
	h, err := sensor.StartHeld([]string{"sh", "-c", script}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := New(Config{})
	if err != nil {
		h.Abort()
		t.Fatal(err)
	}
	if err := tb.Seed(); err != nil {
		h.Abort()
		t.Fatal(err)
	}
	s, err := sensor.New(&sensor.Options{FilterPIDTree: h.Pid(), ExcludeSelf: true})
	if err != nil {
		h.Abort()
		testkernel.SkipIfErr(t, err)
	}
	defer s.Close()

	type seen struct {
		proc       event.Process
		parentComm string
		grandPID   uint32
		fd         event.FDInfo
	}
	got := make(chan seen, 1)
	conn := make(chan event.FDInfo, 1)
	exited := make(chan event.Process, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ev *event.Event) {
			tb.Apply(ev)
			switch {
			case ev.Type == event.TypeOpenat && ev.Path == rel && ev.FDInfo != nil:
				v := seen{proc: *ev.Proc, fd: *ev.FDInfo}
				if p := ev.Proc.Parent; p != nil {
					v.parentComm = p.Comm
					if p.Parent != nil {
						v.grandPID = p.Parent.PID
					}
				}
				select {
				case got <- v:
				default:
				}
			case ev.Type == event.TypeConnect && ev.Ret == 0 && ev.Addr.Port == uint16(port) && ev.FDInfo != nil:
				select {
				case conn <- *ev.FDInfo:
				default:
				}
			case ev.Type == event.TypeProcExit && ev.Proc != nil && ev.Proc.Comm == "cat":
				select {
				case exited <- *ev.Proc:
				default:
				}
			}
		})
	}()
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if err := h.Cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}

	var v seen
	select {
	case v = <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no enriched openat of %s within 10s; stats %+v", rel, tb.Stats())
	}
	catPath, _ := exec.LookPath("cat")
	catReal, _ := filepath.EvalSymlinks(catPath)
	p := v.proc
	if p.Comm != "cat" || p.Exe != "cat" || strings.Join(p.Args, " ") != rel || p.ExePath != catReal || p.Cwd != dir+"/" {
		t.Fatalf("cat process: %+v\nwant comm/exe cat, args %s, exepath %s, cwd %s/", p, rel, catReal, dir)
	}
	if v.parentComm != "sh" || v.grandPID != uint32(os.Getpid()) {
		t.Fatalf("ancestry: parent %q, grandparent pid %d; want sh and this test (%d)", v.parentComm, v.grandPID, os.Getpid())
	}
	if v.fd.Num < 0 || v.fd.Type != event.FDFile || v.fd.Name != dir+"/data.txt" || v.fd.NameRaw != rel {
		t.Fatalf("cat's fd: %+v, want %s/data.txt", v.fd, dir)
	}
	select {
	case x := <-exited:
		if x.PID != p.PID {
			t.Fatalf("exit of pid %d, cat was %d", x.PID, p.PID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no enriched exit of cat within 10s")
	}
	var client string
	select {
	case client = <-peer:
	case <-time.After(10 * time.Second):
		t.Fatal("nc did not connect within 10s")
	}
	select {
	case fi := <-conn:
		want := client + "->127.0.0.1:" + strconv.Itoa(port)
		if fi.Name != want || fi.Type != event.FDIPv4 || fi.L4Proto != "tcp" || !fi.Connected || fi.Num < 0 {
			t.Fatalf("nc's connect: %+v, want name %s", fi, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no enriched connect within 10s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sensor: %v", err)
	}
	if _, ok := tb.Lookup(p.PID); ok {
		// Reaped at the event after the exit; sh's exit follows cat's.
		t.Fatalf("cat (%d) not reaped after its exit", p.PID)
	}
}
