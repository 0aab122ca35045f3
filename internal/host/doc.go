// Package host holds the facts about the machine Vigil runs on that more
// than one package needs, read in one place:
//
//   - where the cgroup v2 hierarchy is mounted (Cgroup2Root:
//     /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid
//     ones), the root of every cgroup path and cgroup id Vigil reports;
//   - where tracefs is (TracefsPath), which the sensor's tracepoints need;
//   - the boot time in wall-clock nanoseconds (BootTime), which turns the
//     kernel's CLOCK_BOOTTIME timestamps and /proc start times into event
//     times;
//   - the decoding of paths in /proc/PID/mountinfo (UnescapeMountinfo).
//
// Contract: nothing here mounts, writes or caches an error; BootTime is
// read once per process (the sensor, the process table and the container
// manager must agree on it).
package host
