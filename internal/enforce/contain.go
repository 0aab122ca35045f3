package enforce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Containment responses: act on a whole container (its cgroup) or on one
// process, for an alert.

// CgroupV2Root is where the cgroup v2 hierarchy is mounted:
// /sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup on unified ones.
var CgroupV2Root = detectCgroupV2()

// CgroupV1Freezer is the v1 freezer mount used when a cgroup has no v2
// cgroup.freeze file.
const CgroupV1Freezer = "/sys/fs/cgroup/freezer"

func detectCgroupV2() string {
	if root, err := host.Cgroup2Root(); err == nil {
		return root
	}
	return "/sys/fs/cgroup"
}

// ErrNoFreezer is returned when a cgroup can be frozen by neither v2
// cgroup.freeze nor the v1 freezer.
var ErrNoFreezer = errors.New("no cgroup freezer for this cgroup")

// Freeze pauses every process of the cgroup (v2 path, absolute or relative
// to CgroupV2Root) and waits until the kernel reports it frozen. It uses
// v2 cgroup.freeze, or the v1 freezer hierarchy at the same relative path.
func Freeze(cgroup string, timeout time.Duration) error {
	return setFrozen(cgroup, true, timeout)
}

// Thaw resumes a cgroup paused by Freeze.
func Thaw(cgroup string) error { return setFrozen(cgroup, false, 5*time.Second) }

func setFrozen(cgroup string, frozen bool, timeout time.Duration) error {
	rel := cleanCgroup(cgroup)
	v2 := filepath.Join(CgroupV2Root, rel)
	val, v1val := "0", "THAWED"
	if frozen {
		val, v1val = "1", "FROZEN"
	}
	if err := os.WriteFile(filepath.Join(v2, "cgroup.freeze"), []byte(val), 0); err == nil {
		return waitFile(filepath.Join(v2, "cgroup.events"), "frozen "+val, timeout)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("freeze %s: %w", rel, err)
	}
	v1 := filepath.Join(CgroupV1Freezer, rel, "freezer.state")
	if err := os.WriteFile(v1, []byte(v1val), 0); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("freeze %s: %w", rel, ErrNoFreezer)
		}
		return fmt.Errorf("freeze %s (v1): %w", rel, err)
	}
	return waitFile(v1, v1val, timeout)
}

// waitFile polls file until one of its lines equals want.
func waitFile(file, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if sc.Text() == want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %q after %s", file, want, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// KillCgroup stops a container the hard way: SIGKILL to every process of
// the cgroup (v2 cgroup.kill, else each pid in cgroup.procs until empty).
func KillCgroup(cgroup string) error {
	dir := filepath.Join(CgroupV2Root, cleanCgroup(cgroup))
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err == nil {
		return nil
	}
	for range 100 {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return fmt.Errorf("kill cgroup %s: %w", cgroup, err)
		}
		fields := bytes.Fields(data)
		if len(fields) == 0 {
			return nil
		}
		for _, f := range fields {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	return fmt.Errorf("kill cgroup %s: processes keep appearing", cgroup)
}

// KillPID sends SIGKILL to pid through a pidfd, so a recycled pid is never
// hit once the pidfd is open. It is the "actions: [kill]" response.
func KillPID(pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil // already gone
		}
		return fmt.Errorf("kill %d: pidfd_open: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
