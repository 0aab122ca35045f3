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
// The read/write family (event.IOTypes) runs on every read and write of the
// machine, so its hooks are attached only while asked for by type (Options
// Types, or Interest.Types through SetInterest, which attaches and
// detaches them); "every type" leaves it out. An I/O call's first bytes
// (Event.Buffer, at most VIGIL_SNAP_MAX = 80, Falco's default snaplen; of
// the first iovec for the vector and msg calls) are copied only for the
// types in Snap, which interest.Of sets from the rules that read
// evt.buffer or evt.arg.data.
//
// The Sensor owns every kernel object it creates and nothing is pinned: the
// caller defers Close, and a killed process leaves nothing attached.
// Probe reports what the host offers, for `vigil doctor`.
package sensor
