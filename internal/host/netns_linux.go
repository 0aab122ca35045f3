package host

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// UnprivilegedPortStart returns net.ipv4.ip_unprivileged_port_start of
// the network namespace of process pid: binding a port below it needs
// CAP_NET_BIND_SERVICE (Docker sets it to 0 in its containers). The
// sysctl is read from inside that namespace (procfs serves the reader's),
// on a locked thread that returns to the caller's namespace; a thread that
// cannot return is not reused. Needs CAP_SYS_ADMIN.
func UnprivilegedPortStart(pid uint32) (int, error) {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return 0, err
	}
	defer target.Close()
	runtime.LockOSThread()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return 0, fmt.Errorf("setns into the network namespace of %d: %w", pid, err)
	}
	b, readErr := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays in the other namespace: locked, it ends with
		// its goroutine instead of serving another.
		return 0, fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	if readErr != nil {
		return 0, readErr
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("ip_unprivileged_port_start: %w", err)
	}
	return n, nil
}
