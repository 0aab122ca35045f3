package state

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestBusyboxAppletName: busybox's shell runs its applets by re-executing
// itself through /proc/self/exe with argv[0] set to the applet, so the
// kernel's comm is "exe". proc.name must be the applet's name (argv[0]'s
// basename), as it is for an applet run through its /bin symlink, so that
// rules on proc.name (base64, cat, nc...) see what ran. A real busybox
// container, traced by the real sensor.
func TestBusyboxAppletName(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	env := containertest.New(t)
	ctr, err := env.Create(context.Background(), containertest.Spec{
		Args: []string{"sh", "-c", "echo aWQK | base64 -d >/dev/null; /bin/cat /etc/hostname >/dev/null"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete()
	cg, err := ctr.CgroupID()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sensor.New(&sensor.Options{FilterCgroup: cg, ExcludeSelf: true})
	testkernel.SkipIfErr(t, err)
	defer s.Close()
	var (
		mu    sync.Mutex
		names = map[string]string{} // argv[0] -> proc.name at its exec
		file  = map[string]string{} // argv[0] -> the exec'd filename
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ev *event.Event) {
			tb.Apply(ev)
			if ev.Type == event.TypeExecve && ev.Ret == 0 && ev.Exec != nil && len(ev.Exec.Argv) > 0 && ev.Proc != nil {
				mu.Lock()
				names[ev.Exec.Argv[0]] = ev.Proc.Comm
				file[ev.Exec.Argv[0]] = ev.Exec.Filename
				mu.Unlock()
			}
		})
	}()
	if err := ctr.Start(); err != nil {
		t.Fatal(err)
	}
	if code := ctr.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("container exited %d: %s", code, ctr.Output())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(names)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if file["base64"] != "/proc/self/exe" {
		t.Logf("busybox ran base64 from %q, not /proc/self/exe: the test does not reproduce the re-exec", file["base64"])
	}
	for argv0, want := range map[string]string{"sh": "sh", "base64": "base64", "/bin/cat": "cat"} {
		got, ok := names[argv0]
		if !ok {
			t.Fatalf("no exec of %s seen; execs: %v", argv0, names)
		}
		if got != want {
			t.Errorf("proc.name of %s (exec'd as %s) = %q, want %q", argv0, file[argv0], got, want)
		}
	}
}
