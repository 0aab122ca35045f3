package containertest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// RuncContainer is a container started with `runc run`, without containerd.
type RuncContainer struct {
	ID     string
	Bundle string
	PID    uint32
	// CgroupPath is the cgroup path runc placed the container in (runc's
	// default for a spec without cgroupsPath: /<id>).
	CgroupPath string
	// Root is runc's state directory.
	Root string
}

// RuncRoot is runc's default state directory for root.
const RuncRoot = "/run/runc"

// RunRunc creates a bundle (busybox rootfs and a spec from `runc spec`)
// and starts it detached with `runc run -d`. t.Cleanup kills and deletes
// it.
func RunRunc(tb testing.TB, args ...string) *RuncContainer {
	tb.Helper()
	testkernel.RequireRoot(tb)
	runc, err := exec.LookPath("runc")
	if err != nil {
		testkernel.Skip(tb, "runc not installed: "+err.Error())
	}
	if len(args) == 0 {
		args = []string{"sleep", "3600"}
	}
	bundle := tb.TempDir()
	if err := WriteRootfs(filepath.Join(bundle, "rootfs")); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		tb.Fatalf("runc spec: %v: %s", err, out)
	}
	cfgPath := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		tb.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		tb.Fatalf("parse runc spec: %v", err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Root.Readonly = false
	if data, err = json.MarshalIndent(&spec, "", "\t"); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	c := &RuncContainer{ID: NewID(), Bundle: bundle, Root: RuncRoot}
	tb.Cleanup(func() { c.Delete() })
	pidFile := filepath.Join(bundle, "pid")
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer devnull.Close()
	// runc run -d hands its stdio to the container: give it files, not
	// pipes, or waiting for runc would wait for the container.
	logPath := filepath.Join(bundle, "stderr")
	stderr, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer stderr.Close()
	cmd := exec.Command(runc, "run", "-d", "--bundle", bundle, "--pid-file", pidFile, c.ID)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, stderr
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(logPath)
		tb.Fatalf("runc run: %v: %s", err, msg)
	}
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		tb.Fatalf("runc pid file: %v", err)
	}
	var pid uint32
	if _, err := fmt.Sscan(strings.TrimSpace(string(pidData)), &pid); err != nil {
		tb.Fatalf("runc pid file %q: %v", pidData, err)
	}
	c.PID = pid
	c.CgroupPath = "/" + c.ID
	return c
}

// Delete kills and deletes the container; it is idempotent.
func (c *RuncContainer) Delete() error {
	if c.ID == "" {
		return nil
	}
	if c.PID != 0 {
		_ = syscall.Kill(int(c.PID), syscall.SIGKILL)
	}
	out, err := exec.Command("runc", "delete", "--force", c.ID).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "does not exist") {
		return fmt.Errorf("runc delete %s: %v: %s", c.ID, err, out)
	}
	return nil
}

// WaitGone polls until the container's init process has exited.
func (c *RuncContainer) WaitGone(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(int(c.PID), 0); err != nil {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}
