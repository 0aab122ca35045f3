// Package sensor is Vigil's eBPF sensor: it loads the BPF programs in bpf/
// (compiled by bpf2go; the generated .o and .go files are committed, so
// building needs no clang), attaches them to tracepoints, and decodes the
// ring buffer into event.Events.
//
// Design: one event per syscall, taken at sys_exit with the arguments read
// from the task's saved user registers (bpf_task_pt_regs), so there is no
// enter program and no per-task map. Successful execs come from
// sched_process_exec, forks from sched_process_fork, exits from
// sched_process_exit. Filters (event types, own pid, a process tree
// followed through fork, a cgroup) run in the kernel; records go to the
// ring buffer with their actual size (strings packed) without waking the
// reader, which is woken when enough data is pending or polls. Every loss and degradation is counted by
// reason and event type in a per-CPU map (Stats).
//
// The Sensor owns every kernel object it creates and nothing is pinned: the
// caller defers Close, and a killed process leaves nothing attached.
// Probe reports what the host offers, for `vigil doctor`.
package sensor
