// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Empty programs on the sensor's hooks: the cost floor of any eBPF sensor,
 * used by the benchmark as a baseline. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_exit")
int empty_sys_exit(void *ctx) { return 0; }

SEC("tracepoint/sched/sched_process_exec")
int empty_exec(void *ctx) { return 0; }

SEC("raw_tracepoint/sched_process_fork")
int empty_fork(void *ctx) { return 0; }

SEC("raw_tracepoint/sched_process_exit")
int empty_exit(void *ctx) { return 0; }
