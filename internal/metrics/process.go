package metrics

import (
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
)

// RegisterBuild registers vigil_build_info: always 1, the build in its
// labels (version, commit, Go version), as Prometheus' own *_build_info.
func RegisterBuild(r *Registry, version, commit, goVersion string) {
	r.Func("vigil_build_info", "Always 1; the labels name the build of the running agent.", TypeGauge,
		[]string{"version", "revision", "goversion"}, func(e Emit) { e(1, version, commit, goVersion) })
}

// RegisterProcess registers the agent's own resource metrics (RSS, CPU
// seconds, open fds, start time, from /proc/self) and Go runtime basics
// (goroutines, heap, GC cycles).
func RegisterProcess(r *Registry) {
	r.Func("process_resident_memory_bytes", "Resident memory size in bytes.", TypeGauge, nil, func(e Emit) {
		if st, ok := readStat(); ok {
			e(float64(st.rss * int64(os.Getpagesize())))
		}
	})
	r.Func("process_cpu_seconds_total", "User and system CPU time in seconds.", TypeCounter, nil, func(e Emit) {
		if st, ok := readStat(); ok {
			e(float64(st.utime+st.stime) / clkTck)
		}
	})
	r.Func("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", TypeGauge, nil, func(e Emit) {
		if t, ok := startTime(); ok {
			e(t)
		}
	})
	r.Func("process_open_fds", "Open file descriptors.", TypeGauge, nil, func(e Emit) {
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
			e(float64(len(ents)))
		}
	})
	r.Func("go_goroutines", "Goroutines that currently exist.", TypeGauge, nil, func(e Emit) {
		e(float64(runtime.NumGoroutine()))
	})
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/memory/classes/total:bytes"},
	}
	read := func(i int) float64 {
		s := []metrics.Sample{samples[i]}
		metrics.Read(s)
		switch s[0].Value.Kind() {
		case metrics.KindUint64:
			return float64(s[0].Value.Uint64())
		case metrics.KindFloat64:
			return s[0].Value.Float64()
		}
		return 0
	}
	r.Func("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", TypeGauge, nil, func(e Emit) { e(read(0)) })
	r.Func("go_gc_cycles_total", "Completed GC cycles.", TypeCounter, nil, func(e Emit) { e(read(1)) })
	r.Func("go_memstats_sys_bytes", "Bytes of memory obtained from the OS by the Go runtime.", TypeGauge, nil, func(e Emit) { e(read(2)) })
}

// clkTck is USER_HZ, 100 on every Linux architecture Vigil supports.
const clkTck = 100

type procStat struct {
	utime, stime int64
	start        int64 // clock ticks after boot
	rss          int64 // pages
}

// startTime is the process's start time in seconds since the epoch: its
// start in ticks after boot (/proc/self/stat) plus the boot time (btime
// of /proc/stat).
func startTime() (float64, bool) {
	st, ok := readStat()
	if !ok {
		return 0, false
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			boot, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, false
			}
			return float64(boot) + float64(st.start)/clkTck, true
		}
	}
	return 0, false
}

// readStat parses /proc/self/stat (fields after the comm, which may hold
// spaces and parentheses).
func readStat() (procStat, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15, starttime
	// 22, rss 24.
	if len(f) < 22 {
		return procStat{}, false
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	start, _ := strconv.ParseInt(string(f[19]), 10, 64)
	rss, _ := strconv.ParseInt(string(f[21]), 10, 64)
	return procStat{utime: ut, stime: st, start: start, rss: rss}, true
}

// RSSBytes returns this process's resident memory size (0 when
// /proc/self/stat cannot be read).
func RSSBytes() uint64 {
	if st, ok := readStat(); ok {
		return uint64(st.rss * int64(os.Getpagesize()))
	}
	return 0
}
