// Package enforce turns prevention policies (package policy) into kernel
// enforcement and reports every decision.
//
// Mechanisms:
//   - network: cgroup-bpf programs (connect4/6, sendmsg4/6, bind4/6)
//     attached to the cgroup v2 directories of the selected containers (the
//     root for host scope); policy lives in maps keyed by cgroup id, so
//     updates need no reload. Denied operations fail with EPERM.
//   - process: a sched_process_exec raw tracepoint program decides on the
//     executable the kernel loaded (device and inode, parent directories,
//     names, sha256 content cached per inode) and SIGKILLs the task
//     (bpf_send_signal) before its first instruction (kill, audit);
//     fanotify FAN_OPEN_EXEC_PERM makes execve fail with EPERM (block).
//   - the exec gate (Options.Gate): the same program stops (SIGSTOP) the
//     first exec of a cgroup not classified yet, and a task whose content
//     must be hashed; the holder (hold.go) has it classified (GateOptions.
//     Admit), decides with vigil_exec_decide (a syscall program sharing
//     the code) and resumes or kills it within GateOptions.Timeout. A
//     releaser child process (releaser.go) resumes held tasks when the
//     agent dies.
//   - files: a fanotify FAN_CLASS_CONTENT group answering FAN_OPEN_PERM from
//     an in-memory table; denied opens fail with EPERM. The group lives in
//     a child process of the agent that never forks (see gate.go). The gate
//     is supervised (gatewatch.go): one that dies is replaced with its marks
//     at once, one that freezes is answered for with FileFallback by a
//     watchdog and replaced; Options.OnGate and GateStatus report it.
//     Marks go in each target's root (/proc/PID/root), the host's in the
//     host's root (hostroot.go: "/" or, for an agent in a container of its
//     own, its nearest ancestor's root in another mount namespace). A rule
//     path that does not exist there is left unmarked (Plan.Unmarked,
//     MarksMissing), not an error.
//   - containment: Freeze/Thaw/KillCgroup for a container, KillPID for a
//     process.
//
// The Landlock path for a file section (a sandbox the agent does not hold)
// is package landlock; ProbeHost reports its ABI.
//
// BuildPlan is pure data (testable without root); an Enforcer loads a plan.
// The Enforcer owns every object it loads: Close detaches the programs and
// closes the fanotify group, after which the kernel allows everything again
// (also when the agent dies: the kernel closes its fds). Nothing is pinned.
//
// Every decision becomes a Decision on Decisions(); audit mode and dry-run
// produce the same decisions as enforce mode with Enforced false.
package enforce
