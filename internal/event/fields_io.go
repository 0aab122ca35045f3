package event

import "strings"

// ioFields are Falco's fields about I/O events, the event type as a test,
// the login shell and ancestors' environments, and the health-check tag,
// derived from what the events and the process table already hold.
var ioFields = []Field{
	{Name: "evt.is_io", Type: FieldBool, Doc: "True for events that read or write data through an fd: the read/write family and sendto, sendmsg, recvfrom, recvmsg.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return bv(ioDir(ev.Type) != 0) }},
	{Name: "evt.is_io_read", Type: FieldBool, Doc: "True for I/O events that read (read, pread, readv, preadv, recvfrom, recvmsg).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return bv(ioDir(ev.Type) == 'r') }},
	{Name: "evt.is_io_write", Type: FieldBool, Doc: "True for I/O events that write (write, pwrite, writev, pwritev, sendto, sendmsg).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return bv(ioDir(ev.Type) == 'w') }},
	{Name: "evt.io_dir", Type: FieldString, Doc: "r for I/O events that read, w for those that write; no value for other events.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			switch ioDir(ev.Type) {
			case 'r':
				return sv("r")
			case 'w':
				return sv("w")
			}
			return none()
		}},
	{Name: "evt.buflen", Type: FieldUint, Doc: "Length of the data an I/O event moved (its return value); no value for other events or a failed call.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ioDir(ev.Type) == 0 || ev.Ret < 0 {
				return none()
			}
			return uv(uint64(ev.Ret))
		}},
	{Name: "evt.buffer", Type: FieldString, Doc: "The first bytes an I/O call (read, write, pread, pwrite, readv, writev, preadv, pwritev, sendto, sendmsg, recvfrom, recvmsg; for the vector and msg calls, of the first iovec) moved, at most 80 (Falco's default snaplen). The sensor copies them only for the I/O types of loaded rules that read evt.buffer or evt.arg.data; no value otherwise. Compare with bcontains/bstartswith (hex) or contains.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if ev.Buffer == nil {
				return none()
			}
			s := c.mark()
			c.buf = append(c.buf, ev.Buffer...)
			return sv(c.str(s))
		}},
	{Name: "evt.type.is", Type: FieldUint, Arg: ArgKeyRequired, Doc: "1 when the event is of the type named by the argument (evt.type.is.open, evt.type.is[execve]), else 0.",
		Extract: func(_ *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if t, ok := ByName(a.Key); ok && t == ev.Type {
				return uv(1)
			}
			return uv(0)
		}},
	{Name: "proc.loginshellid", Type: FieldInt, Doc: "Pid of the oldest shell (a process whose name ends in \"sh\") among the process and its ancestors: the login shell of its session; no value when there is none.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			var pid uint32
			for p := ev.Proc; p != nil; p = p.Parent {
				if strings.HasSuffix(p.Comm, "sh") {
					pid = p.PID
				}
			}
			if pid == 0 {
				return none()
			}
			return iv(int64(pid))
		}},
	{Name: "proc.aenv", Type: FieldString, Arg: ArgKeyOptional, Doc: "Environments of the process's ancestors (parent first), NAME=value entries space-separated; proc.aenv[NAME] is the value of NAME in the nearest ancestor that has it. Ancestors known from /proc or their exec carry their environment.",
		Extract: func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
			if ev.Proc == nil {
				return none()
			}
			if a.Has {
				for p := ev.Proc.Parent; p != nil; p = p.Parent {
					if v, ok := envValue(p.Env, a.Key); ok {
						return sv(v)
					}
				}
				return none()
			}
			s := c.mark()
			for p := ev.Proc.Parent; p != nil; p = p.Parent {
				for _, kv := range p.Env {
					if len(c.buf) > s {
						c.buf = append(c.buf, ' ')
					}
					c.buf = append(c.buf, kv...)
				}
			}
			return sv(c.str(s))
		}},
	{Name: "proc.is_container_healthcheck", Type: FieldBool, Doc: "True for a process the container runtime runs as the container's configured health check (its command line is container.healthcheck), and for its descendants.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			ct := ev.Container
			if ct == nil || ct.Healthcheck == "" || ct.Healthcheck == "NONE" {
				return bv(false)
			}
			for p := ev.Proc; p != nil; p = p.Parent {
				if isHealthcheck(c, ct.Healthcheck, p) {
					return bv(true)
				}
				if p.IDs.VPID == 1 {
					break // the container's init: no health check above it
				}
			}
			return bv(false)
		}},
}

// ioDir is 'r' or 'w' for the I/O event types, 0 for the others.
func ioDir(t Type) byte {
	switch t {
	case TypeRecvfrom, TypeRecvmsg, TypeRead, TypePread, TypeReadv, TypePreadv:
		return 'r'
	case TypeSendto, TypeSendmsg, TypeWrite, TypePwrite, TypeWritev, TypePwritev:
		return 'w'
	}
	return 0
}

// envValue finds NAME in NAME=value entries.
func envValue(env []string, name string) (string, bool) {
	for _, kv := range env {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return kv[len(name)+1:], true
		}
	}
	return "", false
}

// isHealthcheck tells whether p runs the health check hc: Docker reports
// it as the command line ("/bin/sh -c CMD" for CMD-SHELL), which p's
// argv ends with, as the rules' vigil_container_healthcheck macro checks.
func isHealthcheck(c *FieldCtx, hc string, p *Process) bool {
	if len(p.Args) == 0 {
		return false
	}
	s := c.mark()
	for i, a := range p.Args {
		if i > 0 {
			c.buf = append(c.buf, ' ')
		}
		c.buf = append(c.buf, a...)
	}
	args := c.str(s)
	return strings.HasSuffix(hc, args)
}
