package event

import (
	"time"
)

// fields is the registry: every filter field Vigil knows, with its type,
// documentation and extractor. It drives the rules compiler, the output
// formatter, `vigil rules fields` and docs/fields.md. Semantics follow
// Falco (see ../shared/falco/FIELDS.md for the libs references).
var fields = []Field{
	// evt.*
	{Name: "evt.type", Type: FieldString, Doc: "Event name (openat, execve, connect...). A successful execveat is reported as execve.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return sv(ev.Type.String()) }},
	{Name: "syscall.type", Type: FieldString, Doc: "Syscall name of a syscall event; no value for lifecycle events.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if s := Lookup(ev.Type).Syscall; s != "" {
				return sv(s)
			}
			return none()
		}},
	{Name: "evt.dir", Type: FieldString, Doc: "Deprecated event direction: always '<' (Vigil evaluates exit events only).",
		Extract: func(_ *FieldCtx, _ *Event, _ *FieldArg) (Value, bool) { return sv("<") }},
	{Name: "evt.category", Type: FieldString, Doc: "Vigil event category: process, file, network or security.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			return sv(Lookup(ev.Type).Category.String())
		}},
	{Name: "evt.time", Type: FieldString, Doc: "Local time of day of the event, HH:MM:SS.nnnnnnnnn.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			s := c.mark()
			c.buf = time.Unix(0, ev.Time).AppendFormat(c.buf, "15:04:05.000000000")
			return sv(c.str(s))
		}},
	{Name: "evt.time.iso8601", Type: FieldString, Doc: "Event time as ISO 8601 UTC with nanoseconds.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			s := c.mark()
			c.buf = time.Unix(0, ev.Time).UTC().AppendFormat(c.buf, "2006-01-02T15:04:05.000000000Z")
			return sv(c.str(s))
		}},
	{Name: "evt.rawtime", Type: FieldAbsTime, Doc: "Event timestamp, ns since the epoch.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return uv(uint64(ev.Time)) }},
	{Name: "evt.num", Type: FieldUint, Doc: "Event sequence number, starting at 1 for the first event the engine sees.",
		Extract: func(c *FieldCtx, _ *Event, _ *FieldArg) (Value, bool) { return uv(c.Num) }},
	{Name: "evt.hostname", Type: FieldString, Doc: "Host name of the machine the engine runs on.",
		Extract: func(c *FieldCtx, _ *Event, _ *FieldArg) (Value, bool) { return sv(c.Hostname) }},
	{Name: "evt.res", Type: FieldString, Doc: "SUCCESS when the return value is ≥0, else the errno name (ENOENT...). No value for events without a return value.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if !hasRet(ev) {
				return none()
			}
			s := c.mark()
			c.buf = AppendRes(c.buf, ev.Ret)
			return sv(c.str(s))
		}},
	{Name: "evt.rawres", Type: FieldInt, Doc: "Return value as a signed integer: a new fd, 0, or -errno.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if !hasRet(ev) {
				return none()
			}
			return iv(ev.Ret)
		}},
	{Name: "evt.failed", Type: FieldBool, Doc: "True when the return value is negative.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if !hasRet(ev) {
				return none()
			}
			return bv(ev.Ret < 0)
		}},
	{Name: "evt.args", Type: FieldString, Doc: "All arguments as name=value separated by spaces.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			s := c.mark()
			c.buf = AppendArgs(c.buf, ev)
			return sv(c.str(s))
		}},
	{Name: "evt.arg", Type: FieldString, Arg: ArgEvtArg, Doc: "One argument, by name (evt.arg.flags) or position (evt.arg[1]), rendered as Falco does: flags by name in table order, errnos by name, relative paths resolved. No value when the event has no such argument.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if a.argIdx == nil || ev.Type >= NumTypes {
				return none()
			}
			i := a.argIdx[ev.Type]
			if i < 0 {
				return none()
			}
			s := c.mark()
			var ok bool
			c.buf, ok = AppendArg(c.buf, ev, int(i))
			if !ok {
				return none()
			}
			if len(c.buf) == s {
				return sv("<NA>")
			}
			return sv(c.str(s))
		}},
	{Name: "evt.is_open_read", Type: FieldBool, Doc: "True for an open/openat/openat2 whose flags include read access (O_RDONLY, O_RDWR, and O_PATH); false for every other event.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			return bv(isOpenCall(ev.Type) && OpenFlagsToPPM(ev.Flags)&PPMORdonly != 0)
		}},
	{Name: "evt.is_open_write", Type: FieldBool, Doc: "True for an open/openat/openat2 whose flags include write access (O_WRONLY, O_RDWR); false for every other event.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			return bv(isOpenCall(ev.Type) && OpenFlagsToPPM(ev.Flags)&PPMOWronly != 0)
		}},
	{Name: "evt.is_open_create", Type: FieldBool, Doc: "True for an open/openat/openat2 that created its file (the kernel's FMODE_CREATED on the new file, read by the sensor at open exit; Falco's O_F_CREATED) or that succeeded with O_TMPFILE; false for every other event, creat included (as in Falco).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if !isOpenCall(ev.Type) {
				return bv(false)
			}
			return bv(ev.Flags&OpenCreated != 0 || (ev.Flags&kOTmpfile == kOTmpfile && ev.Ret >= 0))
		}},
	{Name: "evt.is_open_exec", Type: FieldBool, Doc: "True for an open that created a file with an executable mode bit.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			return bv(isOpen(ev.Type) && ev.Flags&kOCreat != 0 && ev.Mode&0o111 != 0)
		}},

	// proc.*
	{Name: "proc.pid", Type: FieldInt, Doc: "Process id (thread group id).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return iv(int64(ev.PID)) }},
	{Name: "proc.ppid", Type: FieldInt, Doc: "Parent process id.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc != nil {
				return iv(int64(ev.Proc.PPID))
			}
			return iv(int64(ev.PPID))
		}},
	{Name: "proc.name", Type: FieldString, Doc: "Kernel comm of the process: basename of the invoked path, at most 15 bytes; for a program re-exec'd through /proc/self/exe (busybox's shell running an applet) the basename of argv[0], not \"exe\".",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc != nil {
				return sv(ev.Proc.Comm)
			}
			if ev.Comm != "" {
				return sv(ev.Comm)
			}
			return none()
		}},
	{Name: "proc.exe", Type: FieldString, Doc: "argv[0] as the program received it (not a resolved path).", Extract: procX(attrExe)},
	{Name: "proc.exepath", Type: FieldString, Doc: "Resolved path of the executable (symlinks resolved; memfd:NAME for memfd execs).", Extract: procX(attrExePath)},
	{Name: "proc.args", Type: FieldString, Arg: ArgIndexOptional, Doc: "argv[1:] joined by spaces; proc.args[N] is one argument (0-based, empty when out of range).",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			p := ev.Proc
			if p == nil {
				return none()
			}
			if a.Has {
				if a.Index < len(p.Args) {
					return sv(p.Args[a.Index])
				}
				return sv("")
			}
			return sv(c.args(p))
		}},
	{Name: "proc.cmdline", Type: FieldString, Doc: "proc.name followed by the arguments, space-separated (starts with the comm, not argv[0]).", Extract: procX(attrCmdline)},
	{Name: "proc.cwd", Type: FieldString, Doc: "Working directory, always ending in '/'.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			p := ev.Proc
			if p == nil || p.Cwd == "" {
				return none()
			}
			if p.Cwd[len(p.Cwd)-1] == '/' {
				return sv(p.Cwd)
			}
			s := c.mark()
			c.buf = append(c.buf, p.Cwd...)
			c.buf = append(c.buf, '/')
			return sv(c.str(s))
		}},
	{Name: "proc.tty", Type: FieldUint, Doc: "Controlling terminal as an encoded dev_t (34816+n for /dev/pts/n); 0 when none.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil {
				return none()
			}
			return uv(uint64(ev.Proc.Tty))
		}},
	{Name: "proc.pname", Type: FieldString, Doc: "comm of the parent process; no value when the parent is unknown.", Extract: parentX(attrName)},
	{Name: "proc.pexe", Type: FieldString, Doc: "argv[0] of the parent process.", Extract: parentX(attrExe)},
	{Name: "proc.pexepath", Type: FieldString, Doc: "Executable path of the parent process.", Extract: parentX(attrExePath)},
	{Name: "proc.pcmdline", Type: FieldString, Doc: "Command line (comm + args) of the parent process.", Extract: parentX(attrCmdline)},
	{Name: "proc.aname", Type: FieldString, Arg: ArgIndexOptional, Multi: MultiAny, Doc: "proc.aname[N]: comm of the N-th ancestor ([0] the process, [1] the parent). Without an index, a comparison holds if it holds for any ancestor (never the process itself); output lists all ancestors.",
		Extract: ancestorX(attrName), Elem: ancestorElem(attrName)},
	{Name: "proc.aexe", Type: FieldString, Arg: ArgIndexOptional, Multi: MultiAny, Doc: "argv[0] of an ancestor, indexed like proc.aname.",
		Extract: ancestorX(attrExe), Elem: ancestorElem(attrExe)},
	{Name: "proc.aexepath", Type: FieldString, Arg: ArgIndexOptional, Multi: MultiAny, Doc: "Executable path of an ancestor, indexed like proc.aname.",
		Extract: ancestorX(attrExePath), Elem: ancestorElem(attrExePath)},
	{Name: "proc.acmdline", Type: FieldString, Arg: ArgIndexOptional, Multi: MultiAny, Doc: "Command line of an ancestor, indexed like proc.aname.",
		Extract: ancestorX(attrCmdline), Elem: ancestorElem(attrCmdline)},
	{Name: "proc.apid", Type: FieldInt, Arg: ArgIndexOptional, Multi: MultiAny, Doc: "pid of an ancestor, indexed like proc.aname.",
		Extract: ancestorX(attrPID), Elem: ancestorElem(attrPID)},
	{Name: "proc.sname", Type: FieldString, Doc: "Name (comm) of the session leader: the process whose pid is proc.sid, else the eldest ancestor in the same session.",
		Extract: leaderX(vsidOf, attrName)},
	{Name: "proc.sid", Type: FieldInt, Doc: "Session id, as seen from the process's pid namespace (inherited at fork, read by the sensor at exec).", Extract: idX(vsidOf)},
	{Name: "proc.sid.exe", Type: FieldString, Doc: "argv[0] of the session leader (see proc.sname).", Extract: leaderX(vsidOf, attrExe)},
	{Name: "proc.sid.exepath", Type: FieldString, Doc: "Executable path of the session leader (see proc.sname).", Extract: leaderX(vsidOf, attrExePath)},
	{Name: "proc.is_sid_leader", Type: FieldBool, Doc: "The process is its session's leader (proc.sid = proc.vpid).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.IDs.VSID != 0 && p.IDs.VPID != 0 {
				return bv(p.IDs.VSID == p.IDs.VPID)
			}
			return none()
		}},
	{Name: "proc.vpgid", Type: FieldInt, Doc: "Process group id, as seen from the process's pid namespace.", Extract: idX(vpgidOf)},
	{Name: "proc.vpgid.name", Type: FieldString, Doc: "Name (comm) of the process group leader: the process whose vpid is proc.vpgid, else the eldest ancestor in the same group.",
		Extract: leaderX(vpgidOf, attrName)},
	{Name: "proc.vpgid.exe", Type: FieldString, Doc: "argv[0] of the process group leader.", Extract: leaderX(vpgidOf, attrExe)},
	{Name: "proc.vpgid.exepath", Type: FieldString, Doc: "Executable path of the process group leader.", Extract: leaderX(vpgidOf, attrExePath)},
	{Name: "proc.is_vpgid_leader", Type: FieldBool, Doc: "The process leads its process group (proc.vpgid = proc.vpid): a command typed at a shell, not one run by a script.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.IDs.VPGID != 0 && p.IDs.VPID != 0 {
				return bv(p.IDs.VPGID == p.IDs.VPID)
			}
			return none()
		}},
	{Name: "proc.vpid", Type: FieldInt, Doc: "Process id as seen from the process's own pid namespace (1 for a container's init). Known from the process's exec (or the /proc scan); a forked child that has not exec'd has no value.",
		Extract: idX(func(ids *NSIDs) uint32 { return ids.VPID })},
	{Name: "proc.env", Type: FieldString, Arg: ArgKeyOptional, Doc: "Environment of the process at exec, NAME=value entries space-separated; proc.env[NAME] is one variable's value. The sensor captures the first 1024 bytes of the environment (VIGIL_ENV_MAX); variables past that have no value.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			p := ev.Proc
			if p == nil {
				return none()
			}
			if a.Has {
				if v, ok := envValue(p.Env, a.Key); ok {
					return sv(v)
				}
				return none()
			}
			s := c.mark()
			for i, kv := range p.Env {
				if i > 0 {
					c.buf = append(c.buf, ' ')
				}
				c.buf = append(c.buf, kv...)
			}
			return sv(c.str(s))
		}},
	{Name: "proc.duration", Type: FieldRelTime, Doc: "ns since the process was forked; no value when the fork time is unknown.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil || ev.Proc.StartTime == 0 {
				return none()
			}
			return uv(uint64(ev.Time - ev.Proc.StartTime))
		}},
	{Name: "proc.is_exe_upper_layer", Type: FieldBool, Doc: "The executable lives in an overlayfs upper layer (written or copied up after the container started).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil {
				return none()
			}
			return bv(ev.Proc.ExeUpperLayer)
		}},
	{Name: "proc.is_exe_from_memfd", Type: FieldBool, Doc: "The executable is a memfd (fileless execution).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil {
				return none()
			}
			return bv(ev.Proc.ExeFromMemfd)
		}},
	{Name: "proc.is_exe_writable", Type: FieldBool, Doc: "The executable is writable by the user running it.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Proc == nil {
				return none()
			}
			return bv(ev.Proc.ExeWritable)
		}},
	{Name: "proc.exe_ino", Type: FieldInt, Doc: "Inode number of the executable, read at exec (or from /proc/PID/exe).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.ExeIno != 0 {
				return iv(int64(p.ExeIno))
			}
			return none()
		}},
	{Name: "proc.exe_ino.ctime", Type: FieldAbsTime, Doc: "ctime of the executable's inode at exec, ns since the epoch.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.ExeCtime != 0 {
				return uv(uint64(p.ExeCtime))
			}
			return none()
		}},
	{Name: "proc.exe_ino.mtime", Type: FieldAbsTime, Doc: "mtime of the executable's inode at exec, ns since the epoch.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.ExeMtime != 0 {
				return uv(uint64(p.ExeMtime))
			}
			return none()
		}},
	{Name: "proc.exe_ino.ctime_duration_proc_start", Type: FieldAbsTime, Doc: "ns from the executable's last status change (ctime) to the process's start (fork): small for a binary written just before it ran. No value when either is unknown or the ctime is later.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.ExeCtime != 0 && p.StartTime >= p.ExeCtime {
				return uv(uint64(p.StartTime - p.ExeCtime))
			}
			return none()
		}},
	{Name: "thread.tid", Type: FieldInt, Doc: "Thread id.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return iv(int64(ev.TID)) }},
	{Name: "thread.vtid", Type: FieldInt, Doc: "Thread id as seen from the thread's pid namespace: on an exec the sensor's value; for the main thread proc.vpid; no value for other threads.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if x := ev.Exec; x != nil && x.IDs.VTID != 0 {
				return iv(int64(x.IDs.VTID))
			}
			if p := ev.Proc; p != nil && ev.TID == ev.PID && p.IDs.VPID != 0 {
				return iv(int64(p.IDs.VPID))
			}
			return none()
		}},
	{Name: "thread.cap_effective", Type: FieldString, Doc: "Effective capabilities: CAP_* names in bit order, space-separated; empty when none.",
		Extract: capX(func(p *Process) uint64 { return p.CapEff }, func(x *Exec) uint64 { return x.CapEff })},
	{Name: "thread.cap_permitted", Type: FieldString, Doc: "Permitted capabilities, formatted like thread.cap_effective.",
		Extract: capX(func(p *Process) uint64 { return p.CapPrm }, func(x *Exec) uint64 { return x.CapPrm })},
	{Name: "thread.cap_inheritable", Type: FieldString, Doc: "Inheritable capabilities, formatted like thread.cap_effective.",
		Extract: capX(func(p *Process) uint64 { return p.CapInh }, func(x *Exec) uint64 { return x.CapInh })},

	// user.*, group.*
	{Name: "user.uid", Type: FieldUint, Doc: "Effective user id.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return uv(uint64(ev.UID)) }},
	{Name: "user.name", Type: FieldString, Doc: "Name of the effective user (the container's /etc/passwd for container processes); root for 0, the literal <NA> when unknown.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return sv(userName(c, ev, ev.UID, false)) }},
	{Name: "user.loginuid", Type: FieldInt, Doc: "Audit login uid; -1 when unset.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.LoginUID == NoLoginUID {
				return iv(-1)
			}
			return iv(int64(ev.LoginUID))
		}},
	{Name: "user.loginname", Type: FieldString, Doc: "Name of the login uid; root for 0, <NA> when unset or unknown.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.LoginUID == NoLoginUID {
				return sv("<NA>")
			}
			return sv(userName(c, ev, ev.LoginUID, false))
		}},
	{Name: "group.gid", Type: FieldUint, Doc: "Effective group id.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return uv(uint64(ev.GID)) }},
	{Name: "group.name", Type: FieldString, Doc: "Name of the effective group; root for 0, <NA> when unknown.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return sv(userName(c, ev, ev.GID, true)) }},

	// fd.*
	{Name: "fd.num", Type: FieldInt, Doc: "The fd the event created or used; -1 for a failed open. No value on events without an fd (execve, ptrace, link, symlink, init_module).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if fi := ev.FDInfo; fi != nil {
				return iv(fi.Num)
			}
			if isOpen(ev.Type) && ev.Ret < 0 {
				return iv(-1)
			}
			if !fdEvent(ev.Type) {
				return none()
			}
			for _, a := range Lookup(ev.Type).Args {
				if a.Name == "fd" {
					return iv(slotInt(ev, a.Slot))
				}
			}
			return none()
		}},
	{Name: "fd.type", Type: FieldString, Doc: "file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, bpf, io_uring, memfd, pidfd; the literal <NA> for unknown kinds. No value without fd state.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if fi := ev.FDInfo; fi != nil {
				return sv(fdTypeName(fi.Type))
			}
			return none()
		}},
	{Name: "fd.typechar", Type: FieldString, Doc: "One letter: f file, d directory, 4 IPv4, 6 IPv6, u unix, p pipe, e eventfd, s signalfd, l epoll, i inotify, t timerfd, n netlink, b bpf, r io_uring, m memfd, P pidfd, o unknown. Guessed from the event type without fd state (f for a failed openat, o for a failed open).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if fi := ev.FDInfo; fi != nil {
				return sv(typeCharStr(byte(fi.Type)))
			}
			if !fdEvent(ev.Type) {
				return none()
			}
			switch ev.Type {
			case TypeOpenat, TypeOpenat2, TypeCreat:
				return sv("f")
			case TypeSocket, TypeAccept, TypeAccept4:
				return sv("4")
			}
			return sv("o")
		}},
	{Name: "fd.name", Type: FieldString, Doc: "File: absolute, lexically normalised path. Socket: clientIP:port->serverIP:port. Rebuilt from the arguments for failed opens.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if n, ok := fdName(c, ev); ok {
				return sv(n)
			}
			return none()
		}},
	{Name: "fd.nameraw", Type: FieldString, Doc: "The path argument exactly as passed to open; empty for non-file fds.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if fi := ev.FDInfo; fi != nil {
				return sv(fi.NameRaw)
			}
			if failedOpen(ev) {
				return sv(ev.Path)
			}
			return none()
		}},
	{Name: "fd.directory", Type: FieldString, Doc: "Immediate parent directory of fd.name without trailing '/' ('/' for top-level files); the name itself for directory fds. Available for failed opens.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if !fdIsFileLike(ev) {
				return none()
			}
			n, _ := fdName(c, ev)
			if ev.FDInfo != nil && ev.FDInfo.Type == FDDirectory {
				return sv(n)
			}
			i := len(n) - 1
			for i >= 0 && n[i] != '/' {
				i--
			}
			if i <= 0 {
				return sv("/")
			}
			return sv(n[:i])
		}},
	{Name: "fd.filename", Type: FieldString, Doc: "Basename of fd.name for regular files with fd state; no value for directories and failed opens.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			fi := ev.FDInfo
			if fi == nil || fi.Type != FDFile {
				return none()
			}
			n := fi.Name
			i := len(n) - 1
			for i >= 0 && n[i] != '/' {
				i--
			}
			return sv(n[i+1:])
		}},
	{Name: "fd.ip", Type: FieldIPAddr, Multi: MultiAny, NotEqualAll: true, FilterOnly: true, Doc: "Either endpoint's IP: = and in hold when either matches, != when neither does. Filter only.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) { return bothIPs(c, ev, a, 0) }, Elem: bothIPs},
	{Name: "fd.net", Type: FieldIPNet, Multi: MultiAny, NotEqualAll: true, FilterOnly: true, Doc: "Either endpoint's IP compared against CIDR networks; != holds when neither is inside. Filter only.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) { return bothIPs(c, ev, a, 0) }, Elem: bothIPs},
	{Name: "fd.cip", Type: FieldIPAddr, Doc: "Client IP of the connection.", Extract: ipX(false)},
	{Name: "fd.port", Type: FieldUint, Multi: MultiAny, NotEqualAll: true, FilterOnly: true, Doc: "Either endpoint's port: = and in hold when either matches, != when neither does. Filter only.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) { return bothPorts(c, ev, a, 0) }, Elem: bothPorts},
	{Name: "fd.lnet", Type: FieldIPNet, FilterOnly: true, Doc: "Local IP (see fd.lip) compared against CIDR networks. Filter only.", Extract: localX(true, false)},
	{Name: "fd.rnet", Type: FieldIPNet, FilterOnly: true, Doc: "Remote IP (see fd.rip) compared against CIDR networks. Filter only.", Extract: localX(false, false)},
	{Name: "fd.sockfamily", Type: FieldString, Doc: "Socket family of the fd: ip (IPv4 or IPv6) or unix; no value for other fds.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if fi := ev.FDInfo; fi != nil {
				switch fi.Type {
				case FDIPv4, FDIPv6:
					return sv("ip")
				case FDUnix:
					return sv("unix")
				}
			}
			return none()
		}},
	{Name: "fd.sip", Type: FieldIPAddr, Doc: "Server IP (the connect destination, or the bound address of a listening socket).", Extract: ipX(true)},
	{Name: "fd.cnet", Type: FieldIPNet, FilterOnly: true, Doc: "Client IP compared against CIDR networks. Filter only.", Extract: ipX(false)},
	{Name: "fd.snet", Type: FieldIPNet, FilterOnly: true, Doc: "Server IP compared against CIDR networks. Filter only.", Extract: ipX(true)},
	{Name: "fd.cport", Type: FieldUint, Doc: "Client port.", Extract: portX(false)},
	{Name: "fd.sport", Type: FieldUint, Doc: "Server port.", Extract: portX(true)},
	{Name: "fd.lip", Type: FieldIPAddr, Doc: "Local IP: the client end for outbound connections, the server end for accepted/listening ones.", Extract: localX(true, false)},
	{Name: "fd.rip", Type: FieldIPAddr, Doc: "Remote IP (the other end from fd.lip).", Extract: localX(false, false)},
	{Name: "fd.lport", Type: FieldUint, Doc: "Local port (see fd.lip).", Extract: localX(true, true)},
	{Name: "fd.rport", Type: FieldUint, Doc: "Remote port (see fd.lip).", Extract: localX(false, true)},
	{Name: "fd.l4proto", Type: FieldString, Doc: "tcp, udp, icmp or raw; the literal <NA> for non-IP fds.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			fi := ev.FDInfo
			if fi == nil {
				return none()
			}
			if fi.L4Proto == "" || (fi.Type != FDIPv4 && fi.Type != FDIPv6) {
				return sv("<NA>")
			}
			return sv(fi.L4Proto)
		}},
	{Name: "fd.connected", Type: FieldBool, Doc: "The socket is connected (connect returned 0 or EINPROGRESS, or it was accepted).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.FDInfo == nil {
				return none()
			}
			return bv(ev.FDInfo.Connected)
		}},
	{Name: "fd.name_changed", Type: FieldBool, Doc: "This event changed the fd's name (e.g. an unconnected UDP sendto to a new peer).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.FDInfo == nil {
				return none()
			}
			return bv(ev.FDInfo.NameChanged)
		}},
	{Name: "fd.dev", Type: FieldUint, Doc: "Device of the file's filesystem, encoded as the kernel's new_encode_dev (as stat's st_dev): read by the sensor from the new fd at open exit and kept in the fd table (from stat of /proc/PID/fd/N for fds open before the agent). 0 for fds that are not files; no value without fd state (a failed open).",
		Extract: fdFileX(func(fi *FDInfo) uint64 { return uint64(fi.Dev) })},
	{Name: "fd.dev.major", Type: FieldUint, Doc: "Major number of fd.dev.",
		Extract: fdFileX(func(fi *FDInfo) uint64 { return uint64(fi.Dev&0xfff00) >> 8 })},
	{Name: "fd.dev.minor", Type: FieldUint, Doc: "Minor number of fd.dev.",
		Extract: fdFileX(func(fi *FDInfo) uint64 { return uint64(fi.Dev&0xff | (fi.Dev>>12)&0xfff00) })},
	{Name: "fd.ino", Type: FieldUint, Doc: "Inode number of the file, read with fd.dev; 0 for fds that are not files; no value without fd state.",
		Extract: fdFileX(func(fi *FDInfo) uint64 { return fi.Ino })},
	{Name: "fd.sip.name", Type: FieldString, Doc: hostNameDoc("server"), Extract: hostNameX(ipX(true))},
	{Name: "fd.cip.name", Type: FieldString, Doc: hostNameDoc("client"), Extract: hostNameX(ipX(false))},
	{Name: "fd.lip.name", Type: FieldString, Doc: hostNameDoc("local"), Extract: hostNameX(localX(true, false))},
	{Name: "fd.rip.name", Type: FieldString, Doc: hostNameDoc("remote"), Extract: hostNameX(localX(false, false))},

	// container.*
	{Name: "container.id", Type: FieldString, Doc: "12-character container id, or 'host' for host processes. Known before the runtime metadata arrives.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if c := ev.Container; c != nil {
				return sv(c.ID)
			}
			return none()
		}},
	{Name: "container.full_id", Type: FieldString, Doc: "Full 64-character container id, or 'host'.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if c := ev.Container; c != nil {
				if c.ID == "host" {
					return sv("host")
				}
				return sv(c.FullID)
			}
			return none()
		}},
	{Name: "container.type", Type: FieldString, Doc: "docker, containerd, cri-o, podman, runc, or host.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if c := ev.Container; c != nil {
				if c.ID == "host" {
					return sv("host")
				}
				return sv(c.Type)
			}
			return none()
		}},
	{Name: "container.name", Type: FieldString, Doc: "Container name ('host' for host processes). No value until the runtime metadata arrives.",
		Extract: ctrX(func(c *Container) Value {
			if c.ID == "host" {
				return Value{Str: "host"}
			}
			return Value{Str: c.Name}
		})},
	{Name: "container.image", Type: FieldString, Doc: "Image reference as the runtime reports it; empty for host.", Extract: ctrX(func(c *Container) Value { return Value{Str: c.Image} })},
	{Name: "container.image.repository", Type: FieldString, Doc: "Image repository without tag or digest (docker: as written, alpine; CRI: docker.io/library/alpine); empty for host, no value before the metadata arrives.",
		Extract: ctrX(func(c *Container) Value { return Value{Str: c.Repository} })},
	{Name: "container.image.tag", Type: FieldString, Doc: "Image tag.", Extract: ctrX(func(c *Container) Value { return Value{Str: c.Tag} })},
	{Name: "container.image.digest", Type: FieldString, Doc: "Image digest.", Extract: ctrX(func(c *Container) Value { return Value{Str: c.Digest} })},
	{Name: "container.privileged", Type: FieldBool, Doc: "The container runs privileged; false for host.",
		Extract: ctrX(func(c *Container) Value {
			if c.Privileged {
				return Value{Num: 1}
			}
			return Value{}
		})},
	{Name: "container.start_ts", Type: FieldAbsTime, Doc: "Container start time, ns since the epoch; no value when unknown.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if c := ctrMeta(ev); c != nil && c.StartTS != 0 {
				return uv(uint64(c.StartTS))
			}
			return none()
		}},
	{Name: "container.healthcheck", Type: FieldString, Doc: "The container's health check command, or NONE.",
		Extract: ctrX(func(c *Container) Value {
			if c.Healthcheck == "" {
				return Value{Str: "NONE"}
			}
			return Value{Str: c.Healthcheck}
		})},
	{Name: "container.mounts", Type: FieldString, Doc: "All mounts, comma-separated, each source:dest:mode:rw:propagation.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			ct := ctrMeta(ev)
			if ct == nil {
				return none()
			}
			s := c.mark()
			for i := range ct.Mounts {
				if i > 0 {
					c.buf = append(c.buf, ',')
				}
				c.appendMount(&ct.Mounts[i])
			}
			return sv(c.str(s))
		}},
	{Name: "container.mount", Type: FieldString, Arg: ArgIndexOrKey, Doc: "One mount, by index or by source path, as source:dest:mode:rw:propagation.",
		Extract: mountX(false, func(c *FieldCtx, m *Mount) Value {
			s := c.mark()
			c.appendMount(m)
			return Value{Str: c.str(s)}
		})},
	{Name: "container.mount.source", Type: FieldString, Arg: ArgIndexOrKey, Doc: "Mount source, by index or by mount destination: container.mount.source[/etc].",
		Extract: mountX(true, func(_ *FieldCtx, m *Mount) Value { return Value{Str: m.Source} })},
	{Name: "container.mount.dest", Type: FieldString, Arg: ArgIndexOrKey, Doc: "Mount destination, by index or by mount source: container.mount.dest[/var/run/docker.sock].",
		Extract: mountX(false, func(_ *FieldCtx, m *Mount) Value { return Value{Str: m.Destination} })},
	{Name: "container.mount.mode", Type: FieldString, Arg: ArgIndexOrKey, Doc: "Mount mode, by index or by source.",
		Extract: mountX(false, func(_ *FieldCtx, m *Mount) Value { return Value{Str: m.Mode} })},
	{Name: "container.mount.rdwr", Type: FieldString, Arg: ArgIndexOrKey, Doc: "true/false: the mount is read-write, by index or by source.",
		Extract: mountX(false, func(_ *FieldCtx, m *Mount) Value {
			if m.RW {
				return Value{Str: "true"}
			}
			return Value{Str: "false"}
		})},
	{Name: "container.mount.propagation", Type: FieldString, Arg: ArgIndexOrKey, Doc: "Mount propagation, by index or by source.",
		Extract: mountX(false, func(_ *FieldCtx, m *Mount) Value { return Value{Str: m.Propagation} })},
	{Name: "container.label", Type: FieldString, Arg: ArgKeyRequired, Doc: "A container label: container.label[com.example.app].",
		Extract: func(_ *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if c := ctrMeta(ev); c != nil {
				if v, ok := c.Labels[a.Key]; ok {
					return sv(v)
				}
			}
			return none()
		}},

	// k8s.*
	{Name: "k8s.pod.name", Type: FieldString, Doc: "Kubernetes pod name; no value outside Kubernetes.", Extract: k8sX(func(c *Container) string { return c.PodName })},
	{Name: "k8s.ns.name", Type: FieldString, Doc: "Kubernetes namespace.", Extract: k8sX(func(c *Container) string { return c.PodNamespace })},
	{Name: "k8s.pod.uid", Type: FieldString, Doc: "Kubernetes pod UID.", Extract: k8sX(func(c *Container) string { return c.PodUID })},
	{Name: "k8s.pod.id", Type: FieldString, Doc: "Alias of k8s.pod.uid.", Extract: k8sX(func(c *Container) string { return c.PodUID })},
	{Name: "k8s.pod.label", Type: FieldString, Arg: ArgKeyRequired, Doc: "A pod label: k8s.pod.label[app].",
		Extract: func(_ *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if c := ctrMeta(ev); c != nil && c.PodName != "" {
				if v, ok := c.PodLabels[a.Key]; ok {
					return sv(v)
				}
			}
			return none()
		}},
	{Name: "k8s.pod.labels", Type: FieldString, Multi: MultiList, Doc: "List of the pod's labels as key:value, sorted by key. `in` holds when every label is in the set, `intersects` when one is.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			ct := ctrMeta(ev)
			if ct == nil || ct.PodName == "" {
				return none()
			}
			s := c.mark()
			c.buf = append(c.buf, '(')
			for i := 0; ; i++ {
				v, ok := podLabel(c, ct, i)
				if !ok {
					break
				}
				if i > 0 {
					c.buf = append(c.buf, ',')
				}
				c.buf = append(c.buf, v.Str...)
			}
			c.buf = append(c.buf, ')')
			return sv(c.str(s))
		},
		Elem: func(c *FieldCtx, ev *Event, _ *FieldArg, i int) (Value, bool) {
			ct := ctrMeta(ev)
			if ct == nil || ct.PodName == "" {
				return none()
			}
			return podLabel(c, ct, i)
		}},
}

// podLabel returns the i-th pod label in key order as key:value. Sorting
// per call is avoided by selecting the i-th smallest key.
func podLabel(c *FieldCtx, ct *Container, i int) (Value, bool) {
	if i >= len(ct.PodLabels) {
		return none()
	}
	// the i-th smallest key: count keys smaller than each candidate
	for k, v := range ct.PodLabels {
		n := 0
		for k2 := range ct.PodLabels {
			if k2 < k {
				n++
			}
		}
		if n == i {
			s := c.mark()
			c.buf = append(c.buf, k...)
			c.buf = append(c.buf, ':')
			c.buf = append(c.buf, v...)
			return sv(c.str(s))
		}
	}
	return none()
}

// hasRet reports whether the event type has a return value argument.
func hasRet(ev *Event) bool {
	args := Lookup(ev.Type).Args
	return len(args) > 0 && args[0].Slot == SlotRet
}

// fdFileX extracts a number of the event's fd state (none without one, or
// for a failed open).
func fdFileX(get func(*FDInfo) uint64) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if fi := ev.FDInfo; fi != nil && fi.Num >= 0 {
			return uv(get(fi))
		}
		return none()
	}
}

func isOpenCall(t Type) bool { return t == TypeOpen || t == TypeOpenat || t == TypeOpenat2 }

var typeChars [256]string

func init() {
	for i := range typeChars {
		typeChars[i] = string(rune(i))
	}
}

func typeCharStr(b byte) string {
	if b == 0 {
		return "o"
	}
	return typeChars[b]
}
