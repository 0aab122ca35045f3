package state

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// cpuSample is a thread's CPU time (USER_HZ ticks) at a boot-clock time.
type cpuSample struct {
	at        int64 // ns since boot
	user, sys uint64
}

// threadCPU keeps, per thread of a process, the samples thread.cpu is
// computed from: base, the start of the window (at least a second old when
// next replaces it), and next.
type threadCPU struct {
	base, next cpuSample
	hasNext    bool
}

// maxCPUThreads bounds the threads of one process whose samples are kept.
const maxCPUThreads = 256

// ThreadCPU implements event.ThreadCPUReader: the CPU use of thread tid of
// the process, in percent of one CPU, split into user and system, over the
// window since a sample taken at least one second before (since the
// thread's start on its first reading), read from /proc/PID/task/TID/stat.
// A reading is taken each time a rule asks (lazily, not periodically).
func (e *procEntry) ThreadCPU(tid uint32) (user, system float64, ok bool) {
	if e.tbl == nil {
		return 0, 0, false
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0, 0, false
	}
	now := ts.Nano()
	cur, start, ok := readTaskCPU(e.tbl.cfg.ProcRoot, e.p.PID, tid)
	if !ok {
		return 0, 0, false
	}
	cur.at = now
	if e.cpu == nil {
		e.cpu = map[uint32]*threadCPU{}
	}
	tc := e.cpu[tid]
	if tc == nil {
		if len(e.cpu) >= maxCPUThreads {
			clear(e.cpu)
		}
		tc = &threadCPU{base: cpuSample{at: start}}
		e.cpu[tid] = tc
	}
	if tc.hasNext && now-tc.next.at >= int64(time.Second) {
		tc.base = tc.next
		tc.hasNext = false
	}
	if !tc.hasNext {
		tc.next, tc.hasNext = cur, true
	}
	dt := float64(now - tc.base.at)
	if dt <= 0 || cur.user < tc.base.user || cur.sys < tc.base.sys {
		return 0, 0, true
	}
	pct := func(ticks uint64) float64 { return float64(ticks) * float64(time.Second/clkTck) / dt * 100 }
	return pct(cur.user - tc.base.user), pct(cur.sys - tc.base.sys), true
}

// readTaskCPU reads utime, stime and the start time (ns since boot) of a
// thread from /proc/PID/task/TID/stat.
func readTaskCPU(root string, pid, tid uint32) (cpuSample, int64, bool) {
	if root == "" {
		root = "/proc"
	}
	b, err := os.ReadFile(root + "/" + strconv.FormatUint(uint64(pid), 10) + "/task/" + strconv.FormatUint(uint64(tid), 10) + "/stat")
	if err != nil {
		return cpuSample{}, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuSample{}, 0, false
	}
	fs := bytes.Fields(b[i+1:])
	// fs[0] is field 3 (state): field N is fs[N-3].
	if len(fs) < 20 {
		return cpuSample{}, 0, false
	}
	u, err1 := strconv.ParseUint(string(fs[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(fs[12]), 10, 64)
	st, err3 := strconv.ParseUint(string(fs[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return cpuSample{}, 0, false
	}
	return cpuSample{user: u, sys: s}, int64(st) * int64(time.Second/clkTck), true
}

// ThreadRunTime implements event.ThreadCPUReader: the time thread tid of
// the process has spent running on a CPU, in ns (the first field of
// /proc/PID/task/TID/schedstat).
func (e *procEntry) ThreadRunTime(tid uint32) (int64, bool) {
	if e.tbl == nil {
		return 0, false
	}
	b, err := os.ReadFile(e.tbl.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(e.p.PID), 10) + "/task/" + strconv.FormatUint(uint64(tid), 10) + "/schedstat")
	if err != nil {
		return 0, false
	}
	f, _, _ := bytes.Cut(b, []byte{' '})
	ns, err := strconv.ParseInt(string(f), 10, 64)
	return ns, err == nil
}
