package event

import (
	"strconv"
	"strings"
)

// refFields are the rest of Falco's syscall-source reference: event
// metadata (timing, counters, raw arguments, plugin and async names),
// resolved paths (evt.abspath, fs.path.*), fd and process state the
// enrichment keeps (fd.types, proc.nthreads...), with the semantics of
// falcosecurity/libs' extractors.
var refFields = []Field{
	// Falco's libs answer 0 for the deprecated latency fields (they need
	// enter events, which neither Falco's modern driver nor Vigil sends).
	{Name: "evt.latency", Type: FieldRelTime, Doc: "Deprecated: 0, as in Falco (whose libs hard-code it: latency needs enter events).", Extract: zeroX},
	{Name: "evt.latency.s", Type: FieldRelTime, Doc: "Deprecated: 0, as in Falco.", Extract: zeroX},
	{Name: "evt.latency.ns", Type: FieldRelTime, Doc: "Deprecated: 0, as in Falco.", Extract: zeroX},
	{Name: "evt.latency.human", Type: FieldString, Doc: "Deprecated: \"0ns\", as in Falco.",
		Extract: func(_ *FieldCtx, _ *Event, _ *FieldArg) (Value, bool) { return sv("0ns") }},
	{Name: "evt.wait_latency", Type: FieldRelTime, Doc: "Deprecated: 0, as in Falco.", Extract: zeroX},
	{Name: "evt.is_wait", Type: FieldBool, Doc: "True for events that make the thread wait (sleep, select, poll); none of the event types Vigil traces does, so false.",
		Extract: func(_ *FieldCtx, _ *Event, _ *FieldArg) (Value, bool) { return bv(false) }},
	{Name: "evt.is_syslog", Type: FieldBool, Doc: "True for a write (write, pwrite, writev, pwritev, sendto, sendmsg) to an fd whose name contains /dev/log, as Falco decides it.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			return bv(ioDir(ev.Type) == 'w' && ev.FDInfo != nil && strings.Contains(ev.FDInfo.Name, "/dev/log"))
		}},
	{Name: "evt.deltatime", Type: FieldRelTime, Doc: "ns between this event and the previous one the engine evaluated (0 for the first).",
		Extract: deltaX(func(d uint64) uint64 { return d })},
	{Name: "evt.deltatime.s", Type: FieldRelTime, Doc: "Integer part of evt.deltatime, in seconds.",
		Extract: deltaX(func(d uint64) uint64 { return d / 1e9 })},
	{Name: "evt.deltatime.ns", Type: FieldRelTime, Doc: "Fractional part of evt.deltatime, in ns.",
		Extract: deltaX(func(d uint64) uint64 { return d % 1e9 })},
	{Name: "evt.reltime", Type: FieldRelTime, Source: SourceAny, Doc: "ns since the first event the engine evaluated (Falco: since the capture started).",
		Extract: relX(func(d uint64) uint64 { return d })},
	{Name: "evt.reltime.s", Type: FieldRelTime, Source: SourceAny, Doc: "Integer part of evt.reltime, in seconds.",
		Extract: relX(func(d uint64) uint64 { return d / 1e9 })},
	{Name: "evt.reltime.ns", Type: FieldRelTime, Source: SourceAny, Doc: "Fractional part of evt.reltime, in ns.",
		Extract: relX(func(d uint64) uint64 { return d % 1e9 })},
	{Name: "evt.count", Type: FieldUint, Doc: "Always 1.",
		Extract: func(_ *FieldCtx, _ *Event, _ *FieldArg) (Value, bool) { return uv(1) }},
	{Name: "evt.count.error", Type: FieldUint, Doc: "1 when the event returned an error, else 0; no value for events without a return value.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return errCount(ev) }},
	{Name: "evt.count.error.file", Type: FieldUint, Doc: "evt.count.error for events on a file or directory fd (and opens without one); no value for others.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if errClass(ev) != 'f' {
				return none()
			}
			return errCount(ev)
		}},
	{Name: "evt.count.error.net", Type: FieldUint, Doc: "evt.count.error for events on a socket (and accept/connect without one); no value for others.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if errClass(ev) != 'n' {
				return none()
			}
			return errCount(ev)
		}},
	{Name: "evt.count.error.memory", Type: FieldUint, Doc: "evt.count.error for memory events (memfd_create); no value for others.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if errClass(ev) != 'm' {
				return none()
			}
			return errCount(ev)
		}},
	{Name: "evt.count.error.other", Type: FieldUint, Doc: "evt.count.error for events that are not file, network or memory events.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if errClass(ev) != 'o' {
				return none()
			}
			return errCount(ev)
		}},
	{Name: "evt.count.exit", Type: FieldUint, Doc: "1 for exit events (every syscall and fork event); no value for procexit, container and audit events, which are not exit events in Falco.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Type == TypeProcExit || !ev.Type.FromSensor() {
				return none()
			}
			return uv(1)
		}},
	{Name: "evt.around", Type: FieldUint, Arg: ArgKeyRequired, FilterOnly: true, Doc: "evt.around[T] = D holds when the event is at most D ms before or after T (ns since the epoch, as %evt.rawtime prints). Only = is supported. Filter only.",
		Extract: func(_ *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			t, err := strconv.ParseUint(a.Key, 10, 64)
			if err != nil {
				return none()
			}
			d := uint64(ev.Time) - t
			if uint64(ev.Time) < t {
				d = t - uint64(ev.Time)
			}
			return uv((d + 999999) / 1e6) // compared with <= D: |ts - T| <= D ms
		}},
	{Name: "evt.info", Type: FieldString, Doc: "The same as evt.args (as in Falco, which has no other info line).",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			s := c.mark()
			c.buf = AppendArgs(c.buf, ev)
			return sv(c.str(s))
		}},
	{Name: "evt.rawarg", Type: FieldString, Arg: ArgEvtArg, ArgType: rawArgType, Doc: "One argument by name (evt.rawarg.size), unrendered: numbers as numbers (compare with < and >), flags and modes as their raw value (open flags as Falco's PPM_O_* bits), paths as passed. Its type is the argument's.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if a.argIdx == nil || ev.Type >= NumTypes || a.argIdx[ev.Type] < 0 {
				return none()
			}
			d := &Lookup(ev.Type).Args[a.argIdx[ev.Type]]
			switch kindType(d.Kind) {
			case FieldString:
				if d.Kind == KindSockaddr {
					s := c.mark()
					c.buf, _ = AppendArg(c.buf, ev, int(a.argIdx[ev.Type]))
					return sv(c.str(s))
				}
				return sv(slotStr(ev, d.Slot))
			default:
				if d.Kind == KindMode {
					return uv(uint64(ev.Mode))
				}
				if d.Flags == "file_flags" {
					return uv(OpenFlagsToPPM(uint64(slotInt(ev, d.Slot)))) // Falco's driver sends PPM_O_* flags
				}
				return iv(slotInt(ev, d.Slot))
			}
		}},
	{Name: "evt.abspath", Type: FieldString, Doc: "Absolute path from the dirfd and path arguments of renameat(2) (the old path), renameat2, symlinkat (linkpath), openat, openat2, linkat (the old path), unlinkat, mkdirat and fchmodat; a dirfd the fd table does not know gives <UNKNOWN>/path. No value for other events.",
		Extract: absPathX(0)},
	{Name: "evt.abspath.src", Type: FieldString, Doc: "evt.abspath of the source (old) path of renameat, renameat2 and linkat.", Extract: absPathX(1)},
	{Name: "evt.abspath.dst", Type: FieldString, Doc: "evt.abspath of the destination (new) path of renameat, renameat2 and linkat.", Extract: absPathX(2)},
	{Name: "fs.path.name", Type: FieldString, Doc: "For a successful mkdir, mkdirat, rmdir, unlink, unlinkat, open, openat, openat2, chmod, fchmodat, fchmod (fd.name) or umount2: the path it operated on, prefixed with the cwd when relative and lexically normalised (the dirfd is not used, as in Falco).",
		Extract: fsPathX(fsName, false)},
	{Name: "fs.path.nameraw", Type: FieldString, Doc: "fs.path.name as passed to the call.", Extract: fsPathX(fsName, true)},
	{Name: "fs.path.source", Type: FieldString, Doc: "For a successful rename* (old path), link/linkat (new path), symlink/symlinkat (linkpath) or mount (source device): the source path, resolved like fs.path.name.",
		Extract: fsPathX(fsSource, false)},
	{Name: "fs.path.sourceraw", Type: FieldString, Doc: "fs.path.source as passed to the call.", Extract: fsPathX(fsSource, true)},
	{Name: "fs.path.target", Type: FieldString, Doc: "For a successful rename* (new path), link/linkat (old path), symlink/symlinkat (target) or mount (mount point): the target path, resolved like fs.path.name.",
		Extract: fsPathX(fsTarget, false)},
	{Name: "fs.path.targetraw", Type: FieldString, Doc: "fs.path.target as passed to the call.", Extract: fsPathX(fsTarget, true)},
	{Name: "fd.proto", Type: FieldUint, Multi: MultiAny, NotEqualAll: true, FilterOnly: true, Doc: "Either endpoint's protocol, compared as fd.port is (Falco compares ports: its protocol names are port numbers unless name resolution is on). Filter only.",
		Extract: func(_ *FieldCtx, _ *Event, _ *FieldArg) (Value, bool) { return none() }, Elem: bothPorts},
	{Name: "fd.cproto", Type: FieldString, Doc: "Client protocol of a TCP/UDP fd: the client port in decimal (Falco without port name resolution, its default).",
		Extract: protoX(portX(false))},
	{Name: "fd.sproto", Type: FieldString, Doc: "Server protocol: the server port in decimal (see fd.cproto).", Extract: protoX(portX(true))},
	{Name: "fd.lproto", Type: FieldString, Doc: "Local protocol: the local port in decimal (see fd.cproto, fd.lport).", Extract: protoX(localX(true, true))},
	{Name: "fd.rproto", Type: FieldString, Doc: "Remote protocol: the remote port in decimal (see fd.cproto, fd.rport).", Extract: protoX(localX(false, true))},
	{Name: "fd.is_server", Type: FieldBool, Doc: "True when the process owns the server end of the fd: a listening socket, or an IP socket whose server end is local (accepted); false for client and non-IP fds. No value without fd state.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			fi := ev.FDInfo
			if fi == nil {
				return none()
			}
			if fi.Listening {
				return bv(true)
			}
			if ipFD(ev) == nil {
				return bv(false)
			}
			return bv(!localIsClient(ev))
		}},
	{Name: "fd.uid", Type: FieldString, Doc: "The thread id followed by fd.num, in decimal, unseparated (as Falco chains them).",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			n, ok := fdNumField.Extract(c, ev, a)
			if !ok {
				return none()
			}
			s := c.mark()
			c.buf = strconv.AppendUint(c.buf, uint64(ev.TID), 10)
			c.buf = strconv.AppendInt(c.buf, n.Int(), 10)
			return sv(c.str(s))
		}},
	{Name: "fd.types", Type: FieldString, Arg: ArgIndexOptional, Multi: MultiList, Doc: "The distinct types (as fd.type) of the process's fds the fd table knows; fd.types[N] is the type of fd N as a one-item list. `in` holds when every type is in the set, `intersects` when one is.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			s := c.mark()
			for i := 0; ; i++ {
				v, ok := fdTypesElem(c, ev, a, i)
				if !ok {
					break
				}
				if i > 0 {
					c.buf = append(c.buf, ',')
				}
				c.buf = append(c.buf, v.Str...)
			}
			if len(c.buf) == s && (ev.Proc == nil || ev.Proc.State == nil) {
				return none()
			}
			return sv(c.str(s))
		}, Elem: fdTypesElem},
	{Name: "proc.nthreads", Type: FieldUint, Doc: "Live threads of the process, the leader included, as the process table knows them (threads are followed through fork events).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil || ev.Proc.State == nil {
				return none()
			}
			leader, n := ev.Proc.State.Threads()
			if leader {
				n++
			}
			return uv(uint64(n))
		}},
	{Name: "proc.nchilds", Type: FieldUint, Doc: "Live threads of the process other than the leader (Falco's definition, not child processes).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil || ev.Proc.State == nil {
				return none()
			}
			_, n := ev.Proc.State.Threads()
			return uv(uint64(n))
		}},
	{Name: "user.homedir", Type: FieldString, Doc: "Home directory of the effective user from the passwd file user.name reads; no value when unknown.",
		Extract: userInfoX(false)},
	{Name: "user.shell", Type: FieldString, Doc: "Login shell of the effective user from the passwd file user.name reads; no value when unknown.",
		Extract: userInfoX(true)},
	{Name: "evt.pluginname", Type: FieldString, Source: SourceAny, Doc: "Name of the plugin that makes the event in Falco: k8saudit for Kubernetes audit events, container for container events; no value for syscall events.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			switch ev.Type {
			case TypeK8sAudit:
				return sv("k8saudit")
			case TypeContainer:
				return sv("container")
			}
			return none()
		}},
	{Name: "evt.plugininfo", Type: FieldString, Source: SourceAny, Doc: "The plugin event as text: the audit event's JSON for Kubernetes audit events; no value for other events.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Type != TypeK8sAudit || ev.Audit == nil || ev.Audit.V == nil {
				return none()
			}
			s := c.mark()
			c.buf = ev.Audit.V.MarshalTo(c.buf)
			return sv(c.str(s))
		}},
	{Name: "evt.asynctype", Type: FieldString, Source: SourceAny, Doc: "Name of an asynchronous event: container for container events (Falco's container plugin emits them asynchronously); no value for others.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Type == TypeContainer {
				return sv("container")
			}
			return none()
		}},
}

// usageFields are the resource fields the sensor reads at exec, and the
// container's image and sandbox ids.
var usageFields = []Field{
	{Name: "k8s.pod.sandbox_id", Type: FieldString, Doc: "The pod sandbox's id, truncated to 12 characters (CRI pods); no value outside Kubernetes.",
		Extract: k8sX(func(c *Container) string {
			if len(c.PodSandboxID) > 12 {
				return c.PodSandboxID[:12]
			}
			return c.PodSandboxID
		})},
	{Name: "k8s.pod.full_sandbox_id", Type: FieldString, Doc: "The pod sandbox's full id (CRI pods); no value outside Kubernetes.",
		Extract: k8sX(func(c *Container) string { return c.PodSandboxID })},
	{Name: "container.image.id", Type: FieldString, Doc: "The container image's id (hex, without sha256:) as Docker reports it; empty for host; no value before the metadata arrives or for runtimes that do not report one (containerd, CRI).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			c := ev.Container
			if c == nil {
				return none()
			}
			if c.ID == "host" {
				return sv("")
			}
			if !c.MetadataKnown || c.ImageID == "" {
				return none()
			}
			return sv(c.ImageID)
		}},
	{Name: "evt.cpu", Type: FieldInt, Doc: "The CPU the event happened on (sensor events; 0 for others).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return iv(int64(ev.CPU)) }},
	{Name: "proc.vmsize", Type: FieldUint, Doc: "Virtual memory of the process in KiB, read by the sensor at its last exec (as Falco refreshes it at exec and clone); no value for processes not seen exec'ing.",
		Extract: usageX(func(u *Usage) uint64 { return u.VMSize })},
	{Name: "proc.vmrss", Type: FieldUint, Doc: "Resident memory (file, anonymous and shared pages) of the process in KiB at its last exec, from the kernel's per-CPU batched counters as Falco reads them (a new image often reads 0).",
		Extract: usageX(func(u *Usage) uint64 { return u.VMRSS })},
	{Name: "proc.vmswap", Type: FieldUint, Doc: "Swapped-out memory of the process in KiB at its last exec.",
		Extract: usageX(func(u *Usage) uint64 { return u.VMSwap })},
	{Name: "thread.vmsize", Type: FieldUint, Doc: "proc.vmsize for the main thread, 0 for other threads (as Falco).",
		Extract: mainThreadX(func(u *Usage) uint64 { return u.VMSize })},
	{Name: "thread.vmrss", Type: FieldUint, Doc: "proc.vmrss for the main thread, 0 for other threads (as Falco).",
		Extract: mainThreadX(func(u *Usage) uint64 { return u.VMRSS })},
	{Name: "thread.pfmajor", Type: FieldUint, Doc: "Major page faults of the thread that exec'd, at its exec.",
		Extract: usageX(func(u *Usage) uint64 { return u.PFMajor })},
	{Name: "thread.pfminor", Type: FieldUint, Doc: "Minor page faults of the thread that exec'd, at its exec.",
		Extract: usageX(func(u *Usage) uint64 { return u.PFMinor })},
	{Name: "proc.fdlimit", Type: FieldInt, Doc: "Soft limit of open fds (RLIMIT_NOFILE) at the process's last exec.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.Usage.Known {
				return iv(p.Usage.FDLimit)
			}
			return none()
		}},
	{Name: "proc.fdopencount", Type: FieldUint, Doc: "Open fds of the process the fd table knows.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil || ev.Proc.State == nil {
				return none()
			}
			n := 0
			ev.Proc.State.EachFD(func(*FDInfo) bool { n++; return true })
			return uv(uint64(n))
		}},
	{Name: "thread.cgroups", Type: FieldString, Doc: "Every cgroup of the process as controller=path pairs separated by spaces, as Falco lists them: on a cgroup v1 host (hybrid ones included) one per v1 controller (name=systemd as such), on a cgroup v2 host cpu, memory and cpuset with the unified path. Read from /proc/PID/cgroup at exec (so a container's process has its container's cgroups), inherited at fork, from the /proc scan for processes older than the agent. No value when unknown.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil || len(ev.Proc.Cgroups) == 0 {
				return none()
			}
			s := c.mark()
			for i, g := range ev.Proc.Cgroups {
				if i > 0 {
					c.buf = append(c.buf, ' ')
				}
				c.buf = append(c.buf, g.Subsys...)
				c.buf = append(c.buf, '=')
				c.buf = append(c.buf, g.Path...)
			}
			return sv(c.str(s))
		}},
	{Name: "thread.cgroup", Type: FieldString, Arg: ArgKeyRequired, Doc: "The process's cgroup path for one controller, as thread.cgroups lists it: thread.cgroup[cpuacct]. No value for a controller it does not list.",
		Extract: func(_ *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if ev.Proc != nil {
				for _, g := range ev.Proc.Cgroups {
					if g.Subsys == a.Key {
						return sv(g.Path)
					}
				}
			}
			return none()
		}},
	{Name: "thread.totexectime", Type: FieldRelTime, Doc: "Time the thread has spent running on a CPU since it started, in ns: Falco sums the run times of the sched_switch events it traced (which Vigil does not trace: a hook on every context switch); Vigil reads the kernel's own sum, the first field of /proc/PID/task/TID/schedstat, when a rule asks. No value for a thread that is gone or for replayed captures.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil {
				return none()
			}
			if r, ok := ev.Proc.State.(ThreadCPUReader); ok {
				if ns, ok := r.ThreadRunTime(ev.TID); ok {
					return uv(uint64(ns))
				}
			}
			return none()
		}},
	{Name: "proc.fdusage", Type: FieldFloat, Doc: "proc.fdopencount as a percentage of proc.fdlimit (Falco's fd usage; 100 when over the limit, 0 when the limit is unknown or 0).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			p := ev.Proc
			if p == nil || p.State == nil || !p.Usage.Known {
				return none()
			}
			if p.Usage.FDLimit <= 0 {
				return fv(0)
			}
			n := 0
			p.State.EachFD(func(*FDInfo) bool { n++; return true })
			return fv(min(float64(n)*100/float64(p.Usage.FDLimit), 100))
		}},
	{Name: "thread.cpu", Type: FieldFloat, Doc: threadCPUDoc("user and system"), Extract: threadCPUX(true, true)},
	{Name: "thread.cpu.user", Type: FieldFloat, Doc: threadCPUDoc("user"), Extract: threadCPUX(true, false)},
	{Name: "thread.cpu.system", Type: FieldFloat, Doc: threadCPUDoc("system"), Extract: threadCPUX(false, true)},
	{Name: "proc.pidns_init_start_ts", Type: FieldUint, Doc: "Start time of the init process of the process's pid namespace, ns since the epoch, read at exec.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.PidnsStart != 0 {
				return uv(uint64(p.PidnsStart))
			}
			return none()
		}},
	{Name: "proc.exe_ino.ctime_duration_pidns_start", Type: FieldAbsTime, Doc: "ns from the start of the pid namespace's init to the executable's ctime, when the namespace started first: small for a binary changed right after its container started.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.PidnsStart != 0 && p.ExeCtime > p.PidnsStart {
				return uv(uint64(p.ExeCtime - p.PidnsStart))
			}
			return none()
		}},
}

func usageX(get func(*Usage) uint64) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if p := ev.Proc; p != nil && p.Usage.Known {
			return uv(get(&p.Usage))
		}
		return none()
	}
}

func mainThreadX(get func(*Usage) uint64) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		p := ev.Proc
		if p == nil || !p.Usage.Known {
			return none()
		}
		if ev.TID != 0 && ev.TID != ev.PID {
			return uv(0)
		}
		return uv(get(&p.Usage))
	}
}

var fdNumField = fieldIn(fields, "fd.num")

// fieldIn finds a field by name in a table (for fields defined in terms of
// others before the registry is built).
func fieldIn(fs []Field, name string) *Field {
	for i := range fs {
		if fs[i].Name == name {
			return &fs[i]
		}
	}
	return nil
}

func zeroX(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return uv(0) }

func deltaX(part func(uint64) uint64) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if c.Prev == 0 || ev.Time < c.Prev {
			return uv(0)
		}
		return uv(part(uint64(ev.Time - c.Prev)))
	}
}

func relX(part func(uint64) uint64) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if c.First == 0 || ev.Time < c.First {
			return uv(0)
		}
		return uv(part(uint64(ev.Time - c.First)))
	}
}

func errCount(ev *Event) (Value, bool) {
	if !hasRet(ev) {
		return none()
	}
	if ev.Ret < 0 {
		return uv(1)
	}
	return uv(0)
}

// errClass classifies an event for the evt.count.error.* fields as libs
// do: by its fd's type when it has one, else by event type: 'f' file,
// 'n' network, 'm' memory, 'o' other.
func errClass(ev *Event) byte {
	if fi := ev.FDInfo; fi != nil {
		switch fi.Type {
		case FDFile, FDDirectory:
			return 'f'
		case FDIPv4, FDIPv6, FDUnix:
			return 'n'
		}
		return 'o'
	}
	switch ev.Type {
	case TypeOpen, TypeOpenat, TypeOpenat2, TypeCreat:
		return 'f'
	case TypeAccept, TypeAccept4, TypeConnect:
		return 'n'
	case TypeMemfdCreate:
		return 'm'
	}
	return 'o'
}

// kindType is the field type of an argument kind's raw value.
func kindType(k Kind) FieldType {
	switch k {
	case KindPath, KindRelPath, KindString, KindSockaddr, KindBuffer:
		return FieldString
	case KindUint, KindUID, KindFlags, KindEnum, KindMode:
		return FieldUint
	}
	return FieldInt
}

// rawArgType is evt.rawarg.NAME's type: that of the first event type's
// argument called NAME.
func rawArgType(a FieldArg) FieldType {
	if a.argIdx == nil {
		return FieldString
	}
	for t := Type(1); t < NumTypes; t++ {
		if i := a.argIdx[t]; i >= 0 {
			return kindType(Lookup(t).Args[i].Kind)
		}
	}
	return FieldString
}

// absPathX is evt.abspath (which 0), .src (1) and .dst (2).
func absPathX(which int) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		var path string
		var dirfd int64
		switch ev.Type {
		case TypeRenameat, TypeRenameat2, TypeLinkat:
			if which == 2 {
				path, dirfd = ev.Path2, ev.DirFD2
			} else {
				path, dirfd = ev.Path, ev.DirFD
			}
		case TypeSymlinkat:
			path, dirfd = ev.Path2, ev.DirFD
		case TypeOpenat, TypeOpenat2, TypeUnlinkat, TypeMkdirat, TypeFchmodat:
			path, dirfd = ev.Path, ev.DirFD
		default:
			return none()
		}
		if path == "" || ev.Proc == nil {
			return none()
		}
		s := c.mark()
		switch {
		case path[0] == '/':
			c.buf = AppendJoinPath(c.buf, "/", path)
		case dirfd == AtFDCWD:
			c.buf = AppendJoinPath(c.buf, ev.Proc.Cwd, path)
		default:
			var fi *FDInfo
			if ev.Proc.State != nil {
				fi, _ = ev.Proc.State.FD(dirfd)
			}
			if fi == nil {
				c.buf = append(c.buf, "<UNKNOWN>/"...)
				c.buf = append(c.buf, path...)
			} else {
				c.buf = AppendJoinPath(c.buf, fi.Name, path)
			}
		}
		return sv(c.str(s))
	}
}

type fsRole uint8

const (
	fsName fsRole = iota
	fsSource
	fsTarget
)

// fsPath returns the path of a successful filesystem event in role r, as
// libs' fs.path extractors choose it.
func fsPath(ev *Event, r fsRole) (string, bool) {
	if isOpen(ev.Type) {
		if ev.Ret < 0 || ev.Type == TypeCreat {
			return "", false
		}
	} else if ev.Ret != 0 {
		return "", false
	}
	switch r {
	case fsName:
		switch ev.Type {
		case TypeMkdir, TypeMkdirat, TypeRmdir, TypeUnlink, TypeUnlinkat, TypeOpen, TypeOpenat, TypeOpenat2,
			TypeChmod, TypeFchmodat, TypeUmount2:
			return ev.Path, true
		case TypeFchmod:
			if ev.FDInfo != nil {
				return ev.FDInfo.Name, true
			}
		}
	case fsSource:
		switch ev.Type {
		case TypeRename, TypeRenameat, TypeRenameat2, TypeMount:
			return ev.Path, true
		case TypeLink, TypeLinkat, TypeSymlink, TypeSymlinkat:
			return ev.Path2, true
		}
	case fsTarget:
		switch ev.Type {
		case TypeRename, TypeRenameat, TypeRenameat2, TypeMount:
			return ev.Path2, true
		case TypeLink, TypeLinkat, TypeSymlink, TypeSymlinkat:
			return ev.Path, true
		}
	}
	return "", false
}

func fsPathX(r fsRole, raw bool) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		p, ok := fsPath(ev, r)
		if !ok || p == "" {
			return none()
		}
		if raw {
			return sv(p)
		}
		if p[0] == '/' {
			s := c.mark()
			c.buf = AppendJoinPath(c.buf, "/", p)
			return sv(c.str(s))
		}
		if ev.Proc == nil {
			return none()
		}
		s := c.mark()
		c.buf = AppendJoinPath(c.buf, ev.Proc.Cwd, p)
		return sv(c.str(s))
	}
}

// protoX renders a port extractor's value in decimal.
func protoX(port Extractor) Extractor {
	return func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
		v, ok := port(c, ev, a)
		if !ok {
			return none()
		}
		s := c.mark()
		c.buf = strconv.AppendUint(c.buf, v.Num, 10)
		return sv(c.str(s))
	}
}

// fdTypesElem yields the distinct fd types of the process (or the type of
// fd N with an index).
func fdTypesElem(_ *FieldCtx, ev *Event, a *FieldArg, i int) (Value, bool) {
	if ev.Proc == nil || ev.Proc.State == nil {
		return none()
	}
	st := ev.Proc.State
	if a.Has {
		if i > 0 {
			return none()
		}
		fi, ok := st.FD(int64(a.Index))
		if !ok {
			return none()
		}
		return sv(fdTypeName(fi.Type))
	}
	var seen [256]bool
	st.EachFD(func(fi *FDInfo) bool {
		seen[fi.Type] = true
		return true
	})
	n := 0
	for _, t := range fdTypes { // in a fixed order
		if seen[t] {
			if n == i {
				return sv(fdTypeName(t))
			}
			n++
		}
	}
	return none()
}

// UserInfoDB is a UserDB that also knows home directories and shells
// (user.homedir, user.shell).
type UserInfoDB interface {
	UserInfo(ev *Event, uid uint32) (home, shell string, ok bool)
}

func userInfoX(shell bool) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		db, ok := c.Users.(UserInfoDB)
		if !ok {
			return none()
		}
		h, s, ok := db.UserInfo(ev, ev.UID)
		if !ok {
			return none()
		}
		if shell {
			return sv(s)
		}
		return sv(h)
	}
}

// threadCPUDoc documents thread.cpu*: Falco computes them from the
// driver's per-second procinfo events; Vigil reads /proc when a rule asks.
func threadCPUDoc(what string) string {
	return "CPU time (" + what + ") of the thread in percent of one CPU over about the last second: computed when a rule or output asks, from /proc/PID/task/TID/stat deltas over the window since a reading at least a second old (since the thread's start on the first reading; Falco computes it every second from its procinfo events). No value for a thread that is gone or for replayed captures."
}

func threadCPUX(user, system bool) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if ev.Proc == nil {
			return none()
		}
		r, ok := ev.Proc.State.(ThreadCPUReader)
		if !ok {
			return none()
		}
		u, s, ok := r.ThreadCPU(ev.TID)
		if !ok {
			return none()
		}
		v := 0.0
		if user {
			v += u
		}
		if system {
			v += s
		}
		return fv(v)
	}
}
