package container_test

import (
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
	root, err := container.FindCgroup2Root()
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
