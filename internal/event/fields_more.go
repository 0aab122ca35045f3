package event

import (
	"time"
)

// moreFields are the fields of Falco's reference derived from data Vigil
// already has (time forms, process start times and argument counts, fd and
// container combinations). They join the registry with the others.
var moreFields = []Field{
	{Name: "evt.time.s", Type: FieldString, Source: SourceAny, Doc: "Local time of day of the event without nanoseconds, HH:MM:SS.",
		Extract: timeX("15:04:05", false)},
	{Name: "evt.datetime", Type: FieldString, Source: SourceAny, Doc: "Local date and time of the event with nanoseconds, YYYY-MM-DD HH:MM:SS.nnnnnnnnn.",
		Extract: timeX("2006-01-02 15:04:05.000000000", false)},
	{Name: "evt.datetime.s", Type: FieldString, Source: SourceAny, Doc: "Local date and time of the event without nanoseconds.",
		Extract: timeX("2006-01-02 15:04:05", false)},
	{Name: "evt.rawtime.s", Type: FieldAbsTime, Source: SourceAny, Doc: "Integer part of evt.rawtime: seconds since the epoch.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return uv(uint64(ev.Time) / 1e9) }},
	{Name: "evt.rawtime.ns", Type: FieldAbsTime, Source: SourceAny, Doc: "Fractional part of evt.rawtime, in ns.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return uv(uint64(ev.Time) % 1e9) }},
	{Name: "evt.source", Type: FieldString, Source: SourceAny, Doc: "The source of the event: syscall or k8s_audit.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return sv(ev.Type.Source()) }},
	{Name: "evt.is_async", Type: FieldBool, Source: SourceAny, Doc: "True for the container event (Falco's container plugin emits it asynchronously; Vigil's pipeline makes it in order with the syscall events), false for every other event.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return bv(ev.Type == TypeContainer) }},
	{Name: "proc.cmdnargs", Type: FieldUint, Doc: "Number of command line arguments (proc.args).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil {
				return uv(uint64(len(p.Args)))
			}
			return none()
		}},
	{Name: "proc.cmdlenargs", Type: FieldUint, Doc: "Total length of the command line arguments (proc.args), without separators.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			p := ev.Proc
			if p == nil {
				return none()
			}
			n := 0
			for _, a := range p.Args {
				n += len(a)
			}
			return uv(uint64(n))
		}},
	{Name: "proc.exeline", Type: FieldString, Doc: "proc.exe followed by the arguments, space-separated.",
		Extract: func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			p := ev.Proc
			if p == nil {
				return none()
			}
			s := c.mark()
			c.buf = append(c.buf, p.Exe...)
			for _, a := range p.Args {
				c.buf = append(c.buf, ' ')
				c.buf = append(c.buf, a...)
			}
			return sv(c.str(s))
		}},
	{Name: "proc.pvpid", Type: FieldInt, Doc: "The parent's pid as seen from its pid namespace (see proc.vpid).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ancestor(ev, 1); p != nil && p.IDs.VPID != 0 {
				return iv(int64(p.IDs.VPID))
			}
			return none()
		}},
	{Name: "proc.pid.ts", Type: FieldRelTime, Doc: "Start (fork) of the process, ns since the epoch.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ev.Proc; p != nil && p.StartTime != 0 {
				return uv(uint64(p.StartTime))
			}
			return none()
		}},
	{Name: "proc.ppid.ts", Type: FieldRelTime, Doc: "Start (fork) of the parent process, ns since the epoch.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ancestor(ev, 1); p != nil && p.StartTime != 0 {
				return uv(uint64(p.StartTime))
			}
			return none()
		}},
	{Name: "proc.ppid.duration", Type: FieldRelTime, Doc: "ns since the parent process started.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if p := ancestor(ev, 1); p != nil && p.StartTime != 0 && ev.Time >= p.StartTime {
				return uv(uint64(ev.Time - p.StartTime))
			}
			return none()
		}},
	{Name: "thread.ismain", Type: FieldBool, Doc: "The thread is the process's main thread (thread.tid = proc.pid).",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) { return bv(ev.TID == ev.PID) }},
	{Name: "container.duration", Type: FieldRelTime, Doc: "ns since container.start_ts.",
		Extract: func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
			if c := ctrMeta(ev); c != nil && c.StartTS != 0 && ev.Time >= c.StartTS {
				return uv(uint64(ev.Time - c.StartTS))
			}
			return none()
		}},
	{Name: "fd.containername", Type: FieldString, Doc: "container.id and fd.name chained (container.id:fd.name).",
		Extract: chainX("fd.name")},
	{Name: "fd.containerdirectory", Type: FieldString, Doc: "container.id and fd.directory chained (container.id:fd.directory).",
		Extract: chainX("fd.directory")},
}

// timeX formats the event time in local time with layout.
func timeX(layout string, _ bool) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		s := c.mark()
		c.buf = time.Unix(0, ev.Time).AppendFormat(c.buf, layout)
		return sv(c.str(s))
	}
}

// chainX is container.id, ':' and the named field.
func chainX(field string) Extractor {
	return func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
		f := fieldIndex[field]
		v, ok := f.Extract(c, ev, a)
		if !ok || ev.Container == nil {
			return none()
		}
		s := c.mark()
		c.buf = append(c.buf, ev.Container.ID...)
		c.buf = append(c.buf, ':')
		c.buf = append(c.buf, v.Str...)
		return sv(c.str(s))
	}
}
