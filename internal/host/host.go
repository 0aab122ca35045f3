package host

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TracefsPath is where tracefs is mounted (or is mounted by the sensor).
const TracefsPath = "/sys/kernel/tracing"

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted.
var ErrNoCgroup2 = errors.New("no cgroup v2 hierarchy mounted")

// Cgroup2Root returns the mount point of the cgroup v2 hierarchy:
// /sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup on unified ones.
func Cgroup2Root() (string, error) {
	for _, p := range [...]string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p, nil
		}
	}
	return "", ErrNoCgroup2
}

// CgroupVersion is the cgroup layout of the host as Falco's libs tell it
// apart: 2 when /sys/fs/cgroup is the unified cgroup v2 hierarchy, 1 when it
// holds v1 controllers (hybrid hosts, with v2 at /sys/fs/cgroup/unified,
// included). Read once.
var CgroupVersion = sync.OnceValue(func() int {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
})

// BootTime returns the host's boot time in nanoseconds since the epoch:
// wall-clock time minus CLOCK_BOOTTIME, sampled three times and taken from
// the sample whose wall-clock reads were closest together. Read once.
var BootTime = sync.OnceValue(func() int64 {
	var ts unix.Timespec
	best, bestGap := int64(0), int64(-1)
	for range 3 {
		w0 := time.Now().UnixNano()
		if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
			return 0
		}
		w1 := time.Now().UnixNano()
		if gap := w1 - w0; bestGap < 0 || gap < bestGap {
			bestGap = gap
			best = (w0+w1)/2 - ts.Nano()
		}
	}
	return best
})

// UnescapeMountinfo decodes the octal escapes of /proc/PID/mountinfo
// paths (\040 for a space, \134 for a backslash).
func UnescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
