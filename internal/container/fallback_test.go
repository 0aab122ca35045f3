package container_test

import (
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestPidFallbackV1Only places a process the way a v1-only runtime would
// on this hybrid host: in /docker/<id> of a v1 hierarchy, left in the v2
// root. Resolving by the v2 root's id and the pid finds the container
// through /proc/PID/cgroup's v1 line.
func TestPidFallbackV1Only(t *testing.T) {
	testkernel.RequireRoot(t)
	root, err := host.Cgroup2Root()
	testkernel.SkipIfErr(t, err)
	if root == "/sys/fs/cgroup" {
		// Unified host: no v1 hierarchy exists, the fallback is off by
		// default and the v2 root is the host's.
		m := startManager(t, container.Options{})
		rootID, err := container.CgroupID(root, "/")
		if err != nil {
			t.Fatal(err)
		}
		if h := m.Resolve(rootID, uint32(os.Getpid())); h != m.Host() {
			t.Fatalf("v2 root resolved to %+v", h)
		}
		return
	}
	v1 := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(v1, "cgroup.procs")); err != nil {
		testkernel.Skip(t, "no v1 pids hierarchy: "+err.Error())
	}
	id := containertest.NewID()
	dir := filepath.Join(v1, "docker", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove(dir)
		os.Remove(filepath.Join(v1, "docker")) // fails harmlessly when Docker uses it
	})
	pid := uint32(cmd.Process.Pid)
	// v2: the root, as a v1-only runtime leaves it; v1: the container's.
	if err := os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	on := true
	m := startManager(t, container.Options{PidFallback: &on})
	rootID, err := container.CgroupID(root, "/")
	if err != nil {
		t.Fatal(err)
	}
	got := m.Resolve(rootID, pid)
	if got == nil || got.FullID != id || got.Type != container.TypeDocker || got.MetadataKnown {
		t.Fatalf("v1-only process resolved to %+v, want id-only docker %s", got, id)
	}
	if h := m.Resolve(rootID, 1); h != m.Host() {
		t.Fatalf("init resolved to %+v", h)
	}
	// Without the fallback the v2 root is the host.
	off := false
	m2 := startManager(t, container.Options{PidFallback: &off})
	if h := m2.Resolve(rootID, pid); h != m2.Host() {
		t.Fatalf("fallback off: %+v", h)
	}
	// A process and cgroup that are both gone are unknown, not the host.
	if u := m.Resolve(0, 0x7ffffff0); u != nil {
		t.Fatalf("gone pid resolved to %+v", u)
	}
}

// TestPidFallbackCached resolves events of a live and of an exited process
// in the v2 root with the pid fallback on: /proc/PID/cgroup is read once per
// pid, not once per event (the events of a process are often read after it
// exited, when the consumer is behind).
func TestPidFallbackCached(t *testing.T) {
	root, err := host.Cgroup2Root()
	testkernel.SkipIfErr(t, err)
	on := true
	m := startManager(t, container.Options{PidFallback: &on})
	rootID, err := container.CgroupID(root, "/")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := uint32(cmd.Process.Pid)
	for _, pid := range []uint32{uint32(os.Getpid()), gone} {
		before := m.Stats()
		first := m.Resolve(rootID, pid)
		for i := 0; i < 100; i++ {
			if got := m.Resolve(rootID, pid); got != first {
				t.Fatalf("pid %d: call %d resolved to %+v, first to %+v", pid, i, got, first)
			}
		}
		after := m.Stats()
		if n := after.ProcReads - before.ProcReads; n != 1 {
			t.Errorf("pid %d: %d reads of /proc/PID/cgroup for 101 events, want 1", pid, n)
		}
		if n := after.Hits - before.Hits; n < 100 {
			t.Errorf("pid %d: %d cache hits for 101 events, want 100", pid, n)
		}
	}
	// The exited process's events in the root cgroup are the host's.
	if h := m.Resolve(rootID, gone); h != m.Host() {
		t.Fatalf("exited pid in the root cgroup resolved to %+v", h)
	}
	// Without a cgroup id, an exited process stays unknown, also cached.
	before := m.Stats().ProcReads
	for i := 0; i < 10; i++ {
		if u := m.Resolve(0, gone); u != nil {
			t.Fatalf("exited pid without cgroup resolved to %+v", u)
		}
	}
	if n := m.Stats().ProcReads - before; n > 1 {
		t.Errorf("%d reads for 10 events of an exited pid without cgroup, want at most 1", n)
	}
}
