package host

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUnprivilegedPortStart reads the sysctl of another network namespace
// (a process in a new one, where it was set to 1000), and of the caller's,
// which the read leaves the thread in.
func TestUnprivilegedPortStart(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("VIGIL_REQUIRE_PRIVILEGED") != "" {
			t.Fatal("needs root (setns)")
		}
		t.Skip("needs root (setns)")
	}
	cmd := exec.Command("unshare", "--net", "sh", "-c", "echo 1000 > /proc/sys/net/ipv4/ip_unprivileged_port_start && echo ready && exec sleep 30")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("the namespace's process: %q %v", buf, err)
	}
	own, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(own)))
	if want == 1000 {
		t.Fatal("the host's value is the test's")
	}
	for range 3 {
		if n, err := UnprivilegedPortStart(uint32(cmd.Process.Pid)); err != nil || n != 1000 {
			t.Fatalf("the new namespace's: %d %v, want 1000", n, err)
		}
		if n, err := UnprivilegedPortStart(uint32(os.Getpid())); err != nil || n != want {
			t.Fatalf("the caller's: %d %v, want %d", n, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := UnprivilegedPortStart(1 << 30); err == nil {
		t.Error("a process that does not exist: no error")
	}
}
