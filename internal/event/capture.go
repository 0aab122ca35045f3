package event

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/jsontext"
)

// The capture format is JSON lines: one object per event, written by
// AppendJSON (`vigil trace --json`) and read back by CaptureReader
// (`vigil replay`). docs/events.md describes every key. The format is
// stable: keys are only ever added.

// MaxCaptureAncestors bounds proc.ancestors in the capture format.
const MaxCaptureAncestors = 16

// AppendJSON appends ev as one capture-format JSON object followed by a
// newline. It uses no reflection and, for events without enrichment maps,
// does not allocate.
func AppendJSON(dst []byte, ev *Event) []byte { return appendJSON(dst, ev, nil) }

func appendJSON(dst []byte, ev *Event, enc *JSONEncoder) []byte {
	def := Lookup(ev.Type)
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, ev.Type.String())
	dst = append(dst, `,"time":"`...)
	dst = time.Unix(0, ev.Time).UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, ev.Time, 10)
	dst = appendUintField(dst, "pid", uint64(ev.PID))
	dst = appendUintField(dst, "tid", uint64(ev.TID))
	dst = appendUintField(dst, "ppid", uint64(ev.PPID))
	dst = appendUintField(dst, "uid", uint64(ev.UID))
	dst = appendUintField(dst, "gid", uint64(ev.GID))
	dst = appendUintField(dst, "loginuid", uint64(ev.LoginUID))
	dst = appendStringField(dst, "comm", ev.Comm)
	dst = appendUintField(dst, "cgroup_id", ev.CgroupID)
	dst = appendIntField(dst, "ret", ev.Ret)
	dst = append(dst, `,"args":{`...)
	for i := range def.Args {
		a := &def.Args[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, a.Name)
		dst = append(dst, ':')
		dst = appendArg(dst, ev, a.Slot)
	}
	dst = append(dst, '}')
	if ev.Buffer != nil {
		dst = append(dst, `,"buffer":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, ev.Buffer)
		dst = append(dst, '"')
	}
	if ev.Local.Valid() {
		dst = append(dst, `,"local":`...)
		dst = appendAddr(dst, &ev.Local)
	}
	if x := ev.Exec; x != nil {
		dst = append(dst, `,"exec":{"filename":`...)
		dst = appendString(dst, x.Filename)
		dst = appendStringField(dst, "exepath", x.ExePath)
		dst = append(dst, `,"argv":`...)
		dst = appendStrings(dst, x.Argv)
		dst = appendBoolField(dst, "argv_truncated", x.ArgvTruncated)
		dst = appendStringField(dst, "cwd", x.Cwd)
		dst = appendUintField(dst, "tty", uint64(x.Tty))
		dst = appendUintField(dst, "cap_eff", x.CapEff)
		dst = appendUintField(dst, "cap_prm", x.CapPrm)
		dst = appendUintField(dst, "cap_inh", x.CapInh)
		dst = appendBoolField(dst, "upper_layer", x.UpperLayer)
		dst = appendBoolField(dst, "from_memfd", x.FromMemfd)
		dst = appendBoolField(dst, "writable", x.Writable)
		dst = append(dst, `,"env":`...)
		dst = appendStrings(dst, x.Env)
		dst = appendBoolField(dst, "env_truncated", x.EnvTruncated)
		dst = appendIDs(dst, x.IDs)
		dst = appendUintField(dst, "vtid", uint64(x.IDs.VTID))
		dst = appendUintField(dst, "exe_ino", x.ExeIno)
		dst = appendIntField(dst, "exe_ctime", x.ExeCtime)
		dst = appendIntField(dst, "exe_mtime", x.ExeMtime)
		dst = append(dst, '}')
	}
	if p := ev.Proc; p != nil {
		dst = append(dst, `,"proc":`...)
		if enc != nil {
			dst = enc.appendProc(dst, p)
		} else {
			dst = appendProc(dst, p)
		}
	}
	if f := ev.FDInfo; f != nil {
		dst = append(dst, `,"fd":{"num":`...)
		dst = strconv.AppendInt(dst, f.Num, 10)
		dst = append(dst, `,"type":"`...)
		if f.Type >= 0x20 && f.Type < 0x7f && f.Type != '"' && f.Type != '\\' {
			dst = append(dst, byte(f.Type))
		}
		dst = append(dst, '"')
		dst = appendStringField(dst, "name", f.Name)
		dst = appendStringField(dst, "nameraw", f.NameRaw)
		dst = appendUintField(dst, "flags", f.Flags)
		dst = appendStringField(dst, "l4proto", f.L4Proto)
		dst = append(dst, `,"client":`...)
		dst = appendAddr(dst, &f.Client)
		dst = append(dst, `,"server":`...)
		dst = appendAddr(dst, &f.Server)
		dst = appendBoolField(dst, "connected", f.Connected)
		dst = appendBoolField(dst, "name_changed", f.NameChanged)
		dst = appendBoolField(dst, "listening", f.Listening)
		if f.Ino != 0 || f.Dev != 0 {
			dst = appendUintField(dst, "dev", uint64(f.Dev))
			dst = appendUintField(dst, "ino", f.Ino)
		}
		dst = append(dst, '}')
	}
	if c := ev.Container; c != nil {
		dst = append(dst, `,"container":`...)
		if enc != nil {
			dst = enc.appendContainer(dst, c)
		} else {
			dst = appendContainer(dst, c)
		}
	}
	return append(dst, '}', '\n')
}

func appendArg(dst []byte, ev *Event, s Slot) []byte {
	switch s {
	case SlotRet:
		return strconv.AppendInt(dst, ev.Ret, 10)
	case SlotFD:
		return strconv.AppendInt(dst, ev.FD, 10)
	case SlotFD2:
		return strconv.AppendInt(dst, ev.FD2, 10)
	case SlotDirFD:
		return strconv.AppendInt(dst, ev.DirFD, 10)
	case SlotDirFD2:
		return strconv.AppendInt(dst, ev.DirFD2, 10)
	case SlotPath:
		return appendString(dst, ev.Path)
	case SlotPath2:
		return appendString(dst, ev.Path2)
	case SlotStr:
		return appendString(dst, ev.Str)
	case SlotFlags:
		return strconv.AppendUint(dst, ev.Flags, 10)
	case SlotMode:
		return strconv.AppendUint(dst, uint64(ev.Mode), 10)
	case SlotAddr:
		return appendAddr(dst, &ev.Addr)
	case SlotArg0, SlotArg1, SlotArg2, SlotArg3:
		return strconv.AppendInt(dst, ev.Arg[s-SlotArg0], 10)
	}
	return append(dst, "null"...)
}

func appendProc(dst []byte, p *Process) []byte {
	dst = append(dst, `{"pid":`...)
	dst = strconv.AppendUint(dst, uint64(p.PID), 10)
	dst = appendUintField(dst, "ppid", uint64(p.PPID))
	dst = appendStringField(dst, "name", p.Comm)
	dst = appendStringField(dst, "exe", p.Exe)
	dst = appendStringField(dst, "exepath", p.ExePath)
	dst = append(dst, `,"args":`...)
	dst = appendStrings(dst, p.Args)
	dst = appendStringField(dst, "cwd", p.Cwd)
	dst = appendUintField(dst, "tty", uint64(p.Tty))
	dst = appendUintField(dst, "uid", uint64(p.UID))
	dst = appendUintField(dst, "gid", uint64(p.GID))
	dst = appendUintField(dst, "loginuid", uint64(p.LoginUID))
	dst = appendUintField(dst, "cap_eff", p.CapEff)
	dst = appendUintField(dst, "cap_prm", p.CapPrm)
	dst = appendUintField(dst, "cap_inh", p.CapInh)
	dst = appendIntField(dst, "start_time", p.StartTime)
	dst = appendIntField(dst, "exec_time", p.ExecTime)
	dst = appendUintField(dst, "cgroup_id", p.CgroupID)
	dst = appendBoolField(dst, "upper_layer", p.ExeUpperLayer)
	dst = appendBoolField(dst, "from_memfd", p.ExeFromMemfd)
	dst = appendBoolField(dst, "writable", p.ExeWritable)
	dst = append(dst, `,"env":`...)
	dst = appendStrings(dst, p.Env)
	dst = appendIDs(dst, p.IDs)
	dst = appendUintField(dst, "exe_ino", p.ExeIno)
	dst = appendIntField(dst, "exe_ctime", p.ExeCtime)
	dst = appendIntField(dst, "exe_mtime", p.ExeMtime)
	if len(p.Cgroups) > 0 {
		dst = append(dst, `,"cgroups":[`...)
		for i, g := range p.Cgroups {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			dst = appendString(dst, g.Subsys)
			dst = append(dst, ',')
			dst = appendString(dst, g.Path)
			dst = append(dst, ']')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"ancestors":[`...)
	n := 0
	for a := p.Parent; a != nil && n < MaxCaptureAncestors; a = a.Parent {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"pid":`...)
		dst = strconv.AppendUint(dst, uint64(a.PID), 10)
		dst = appendStringField(dst, "name", a.Comm)
		dst = appendStringField(dst, "exe", a.Exe)
		dst = appendStringField(dst, "exepath", a.ExePath)
		dst = append(dst, `,"args":`...)
		dst = appendStrings(dst, a.Args)
		dst = appendIDs(dst, a.IDs)
		dst = append(dst, '}')
	}
	return append(dst, ']', '}')
}

// appendIDs writes the namespace ids of a process (vtid apart: it is the
// exec's thread's).
func appendIDs(dst []byte, ids NSIDs) []byte {
	dst = appendUintField(dst, "vpid", uint64(ids.VPID))
	dst = appendUintField(dst, "vpgid", uint64(ids.VPGID))
	return appendUintField(dst, "vsid", uint64(ids.VSID))
}

func appendContainer(dst []byte, c *Container) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, c.ID)
	dst = appendStringField(dst, "full_id", c.FullID)
	dst = appendStringField(dst, "type", c.Type)
	dst = appendBoolField(dst, "metadata_known", c.MetadataKnown)
	dst = appendStringField(dst, "name", c.Name)
	dst = appendStringField(dst, "image", c.Image)
	dst = appendStringField(dst, "repository", c.Repository)
	dst = appendStringField(dst, "tag", c.Tag)
	dst = appendStringField(dst, "digest", c.Digest)
	dst = appendBoolField(dst, "privileged", c.Privileged)
	dst = append(dst, `,"mounts":[`...)
	for i := range c.Mounts {
		m := &c.Mounts[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"source":`...)
		dst = appendString(dst, m.Source)
		dst = appendStringField(dst, "destination", m.Destination)
		dst = appendStringField(dst, "mode", m.Mode)
		dst = appendBoolField(dst, "rw", m.RW)
		dst = appendStringField(dst, "propagation", m.Propagation)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = appendIntField(dst, "start_ts", c.StartTS)
	dst = appendStringField(dst, "healthcheck", c.Healthcheck)
	dst = append(dst, `,"labels":`...)
	dst = appendMap(dst, c.Labels)
	dst = appendStringField(dst, "pod_name", c.PodName)
	dst = appendStringField(dst, "pod_namespace", c.PodNamespace)
	dst = appendStringField(dst, "pod_uid", c.PodUID)
	dst = append(dst, `,"pod_labels":`...)
	dst = appendMap(dst, c.PodLabels)
	dst = appendStringField(dst, "cgroup_path", c.CgroupPath)
	return append(dst, '}')
}

// appendMap writes m with sorted keys so that output is deterministic.
func appendMap(dst []byte, m map[string]string) []byte {
	dst = append(dst, '{')
	if len(m) > 0 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, m[k])
		}
	}
	return append(dst, '}')
}

func appendAddr(dst []byte, a *SockAddr) []byte {
	dst = append(dst, `{"family":`...)
	dst = strconv.AppendUint(dst, uint64(a.Family), 10)
	if a.IP.IsValid() {
		dst = append(dst, `,"ip":"`...)
		dst = a.IP.AppendTo(dst)
		dst = append(dst, '"')
	}
	if a.Port != 0 {
		dst = appendUintField(dst, "port", uint64(a.Port))
	}
	if a.Path != "" {
		dst = appendStringField(dst, "path", a.Path)
	}
	return append(dst, '}')
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

func appendKey(dst []byte, k string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

func appendUintField(dst []byte, k string, v uint64) []byte {
	return strconv.AppendUint(appendKey(dst, k), v, 10)
}

func appendIntField(dst []byte, k string, v int64) []byte {
	return strconv.AppendInt(appendKey(dst, k), v, 10)
}

func appendBoolField(dst []byte, k string, v bool) []byte {
	return strconv.AppendBool(appendKey(dst, k), v)
}

func appendStringField(dst []byte, k, v string) []byte {
	return appendString(appendKey(dst, k), v)
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte { return jsontext.AppendString(dst, s) }

// ErrBadCapture is matched (errors.Is) by every CaptureError.
var ErrBadCapture = errors.New("bad capture")

// CaptureError reports a capture line that cannot be read.
type CaptureError struct {
	Name string // input name, "" when unknown
	Line int    // 1-based line number
	Col  int    // 1-based column (byte), 0 when unknown
	Msg  string
}

func (e *CaptureError) Error() string {
	name := e.Name
	if name == "" {
		name = "capture"
	}
	return fmt.Sprintf("%s:%d:%d: %s", name, e.Line, e.Col, e.Msg)
}

// Is makes errors.Is(err, ErrBadCapture) true.
func (e *CaptureError) Is(t error) bool { return t == ErrBadCapture }

// CaptureReader reads capture-format JSON lines back into Events.
type CaptureReader struct {
	sc   *bufio.Scanner
	line int
	// Name is used in errors (typically the file name).
	Name string
}

// NewCaptureReader returns a reader of the capture format from r.
func NewCaptureReader(r io.Reader) *CaptureReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	return &CaptureReader{sc: sc}
}

type capAddr struct {
	Family uint16 `json:"family"`
	IP     string `json:"ip"`
	Port   uint16 `json:"port"`
	Path   string `json:"path"`
}

type capExec struct {
	Filename      string   `json:"filename"`
	ExePath       string   `json:"exepath"`
	Argv          []string `json:"argv"`
	ArgvTruncated bool     `json:"argv_truncated"`
	Cwd           string   `json:"cwd"`
	Tty           uint32   `json:"tty"`
	CapEff        uint64   `json:"cap_eff"`
	CapPrm        uint64   `json:"cap_prm"`
	CapInh        uint64   `json:"cap_inh"`
	UpperLayer    bool     `json:"upper_layer"`
	FromMemfd     bool     `json:"from_memfd"`
	Writable      bool     `json:"writable"`
	Env           []string `json:"env"`
	EnvTruncated  bool     `json:"env_truncated"`
	capIDs
	VTID     uint32 `json:"vtid"`
	ExeIno   uint64 `json:"exe_ino"`
	ExeCtime int64  `json:"exe_ctime"`
	ExeMtime int64  `json:"exe_mtime"`
}

type capIDs struct {
	VPID  uint32 `json:"vpid"`
	VPGID uint32 `json:"vpgid"`
	VSID  uint32 `json:"vsid"`
}

func (c capIDs) ids() NSIDs { return NSIDs{VPID: c.VPID, VPGID: c.VPGID, VSID: c.VSID} }

type capAncestor struct {
	PID     uint32   `json:"pid"`
	Name    string   `json:"name"`
	Exe     string   `json:"exe"`
	ExePath string   `json:"exepath"`
	Args    []string `json:"args"`
	capIDs
}

type capProc struct {
	PID        uint32   `json:"pid"`
	PPID       uint32   `json:"ppid"`
	Name       string   `json:"name"`
	Exe        string   `json:"exe"`
	ExePath    string   `json:"exepath"`
	Args       []string `json:"args"`
	Cwd        string   `json:"cwd"`
	Tty        uint32   `json:"tty"`
	UID        uint32   `json:"uid"`
	GID        uint32   `json:"gid"`
	LoginUID   uint32   `json:"loginuid"`
	CapEff     uint64   `json:"cap_eff"`
	CapPrm     uint64   `json:"cap_prm"`
	CapInh     uint64   `json:"cap_inh"`
	StartTime  int64    `json:"start_time"`
	ExecTime   int64    `json:"exec_time"`
	CgroupID   uint64   `json:"cgroup_id"`
	UpperLayer bool     `json:"upper_layer"`
	FromMemfd  bool     `json:"from_memfd"`
	Writable   bool     `json:"writable"`
	Env        []string `json:"env"`
	capIDs
	ExeIno    uint64        `json:"exe_ino"`
	ExeCtime  int64         `json:"exe_ctime"`
	ExeMtime  int64         `json:"exe_mtime"`
	Cgroups   [][2]string   `json:"cgroups"`
	Ancestors []capAncestor `json:"ancestors"`
}

type capFD struct {
	Num         int64   `json:"num"`
	Type        string  `json:"type"`
	Name        string  `json:"name"`
	NameRaw     string  `json:"nameraw"`
	Flags       uint64  `json:"flags"`
	L4Proto     string  `json:"l4proto"`
	Client      capAddr `json:"client"`
	Server      capAddr `json:"server"`
	Connected   bool    `json:"connected"`
	NameChanged bool    `json:"name_changed"`
	Listening   bool    `json:"listening"`
	Dev         uint32  `json:"dev"`
	Ino         uint64  `json:"ino"`
}

type capMount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Mode        string `json:"mode"`
	RW          bool   `json:"rw"`
	Propagation string `json:"propagation"`
}

type capContainer struct {
	ID            string            `json:"id"`
	FullID        string            `json:"full_id"`
	Type          string            `json:"type"`
	MetadataKnown bool              `json:"metadata_known"`
	Name          string            `json:"name"`
	Image         string            `json:"image"`
	Repository    string            `json:"repository"`
	Tag           string            `json:"tag"`
	Digest        string            `json:"digest"`
	Privileged    bool              `json:"privileged"`
	Mounts        []capMount        `json:"mounts"`
	StartTS       int64             `json:"start_ts"`
	Healthcheck   string            `json:"healthcheck"`
	Labels        map[string]string `json:"labels"`
	PodName       string            `json:"pod_name"`
	PodNamespace  string            `json:"pod_namespace"`
	PodUID        string            `json:"pod_uid"`
	PodLabels     map[string]string `json:"pod_labels"`
	CgroupPath    string            `json:"cgroup_path"`
}

type capEvent struct {
	Type      string                     `json:"type"`
	TS        *int64                     `json:"ts"`
	Time      string                     `json:"time"`
	PID       uint32                     `json:"pid"`
	TID       uint32                     `json:"tid"`
	PPID      uint32                     `json:"ppid"`
	UID       uint32                     `json:"uid"`
	GID       uint32                     `json:"gid"`
	LoginUID  *uint32                    `json:"loginuid"`
	Comm      string                     `json:"comm"`
	CgroupID  uint64                     `json:"cgroup_id"`
	Ret       int64                      `json:"ret"`
	Args      map[string]json.RawMessage `json:"args"`
	Buffer    []byte                     `json:"buffer"` // base64, as encoding/json reads []byte
	Local     *capAddr                   `json:"local"`
	Exec      *capExec                   `json:"exec"`
	Proc      *capProc                   `json:"proc"`
	FD        *capFD                     `json:"fd"`
	Container *capContainer              `json:"container"`
}

// Next reads the next event into ev, replacing all its fields. It returns
// io.EOF after the last event and a *CaptureError for a bad line. Blank
// lines are skipped.
func (r *CaptureReader) Next(ev *Event) error {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		return r.decode(b, ev)
	}
	if err := r.sc.Err(); err != nil {
		return &CaptureError{Name: r.Name, Line: r.line + 1, Msg: err.Error()}
	}
	return io.EOF
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (r *CaptureReader) errorf(col int, format string, args ...any) error {
	return &CaptureError{Name: r.Name, Line: r.line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (r *CaptureReader) decode(b []byte, ev *Event) error {
	var c capEvent
	if err := json.Unmarshal(b, &c); err != nil {
		col := 0
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			col = int(se.Offset)
		case errors.As(err, &te):
			col = int(te.Offset)
		}
		return r.errorf(col, "%v", err)
	}
	t, ok := ByName(c.Type)
	if !ok {
		return r.errorf(0, "unknown event type %q", c.Type)
	}
	*ev = Event{Type: t, FD: -1, FD2: -1, DirFD: -1, DirFD2: -1, Buffer: c.Buffer}
	switch {
	case c.TS != nil:
		ev.Time = *c.TS
	case c.Time != "":
		tm, err := time.Parse(time.RFC3339Nano, c.Time)
		if err != nil {
			return r.errorf(0, "time: %v", err)
		}
		ev.Time = tm.UnixNano()
	}
	ev.PID, ev.TID, ev.PPID = c.PID, c.TID, c.PPID
	ev.UID, ev.GID = c.UID, c.GID
	ev.LoginUID = NoLoginUID
	if c.LoginUID != nil {
		ev.LoginUID = *c.LoginUID
	}
	ev.Comm, ev.CgroupID, ev.Ret = c.Comm, c.CgroupID, c.Ret
	def := Lookup(t)
	for i := range def.Args {
		a := &def.Args[i]
		raw, ok := c.Args[a.Name]
		if !ok {
			continue
		}
		if err := setArg(ev, a.Slot, raw); err != nil {
			return r.errorf(0, "args.%s: %v", a.Name, err)
		}
	}
	if c.Local != nil {
		a, err := c.Local.addr()
		if err != nil {
			return r.errorf(0, "local: %v", err)
		}
		ev.Local = a
	}
	if x := c.Exec; x != nil {
		ev.Exec = &Exec{Filename: x.Filename, ExePath: x.ExePath, Argv: nilIfEmpty(x.Argv), ArgvTruncated: x.ArgvTruncated,
			Cwd: x.Cwd, Tty: x.Tty, CapEff: x.CapEff, CapPrm: x.CapPrm, CapInh: x.CapInh,
			UpperLayer: x.UpperLayer, FromMemfd: x.FromMemfd, Writable: x.Writable,
			Env: nilIfEmpty(x.Env), EnvTruncated: x.EnvTruncated, IDs: x.ids(), ExeIno: x.ExeIno, ExeCtime: x.ExeCtime, ExeMtime: x.ExeMtime}
		ev.Exec.IDs.VTID = x.VTID
	}
	if p := c.Proc; p != nil {
		ev.Proc = &Process{PID: p.PID, PPID: p.PPID, Comm: p.Name, Exe: p.Exe, ExePath: p.ExePath, Args: nilIfEmpty(p.Args),
			Cwd: p.Cwd, Tty: p.Tty, UID: p.UID, GID: p.GID, LoginUID: p.LoginUID,
			CapEff: p.CapEff, CapPrm: p.CapPrm, CapInh: p.CapInh, StartTime: p.StartTime, ExecTime: p.ExecTime,
			CgroupID: p.CgroupID, ExeUpperLayer: p.UpperLayer, ExeFromMemfd: p.FromMemfd, ExeWritable: p.Writable,
			Env: nilIfEmpty(p.Env), IDs: p.ids(), ExeIno: p.ExeIno, ExeCtime: p.ExeCtime, ExeMtime: p.ExeMtime}
		for _, g := range p.Cgroups {
			ev.Proc.Cgroups = append(ev.Proc.Cgroups, Cgroup{Subsys: g[0], Path: g[1]})
		}
		child := ev.Proc
		for i, a := range p.Ancestors {
			if i >= MaxCaptureAncestors {
				break
			}
			anc := &Process{PID: a.PID, Comm: a.Name, Exe: a.Exe, ExePath: a.ExePath, Args: nilIfEmpty(a.Args), IDs: a.ids()}
			if i+1 < len(p.Ancestors) {
				anc.PPID = p.Ancestors[i+1].PID
			}
			child.Parent = anc
			child = anc
		}
	}
	if f := c.FD; f != nil {
		fi := &FDInfo{Num: f.Num, Name: f.Name, NameRaw: f.NameRaw, Flags: f.Flags, L4Proto: f.L4Proto,
			Connected: f.Connected, NameChanged: f.NameChanged, Listening: f.Listening, Dev: f.Dev, Ino: f.Ino}
		if len(f.Type) == 1 {
			fi.Type = FDType(f.Type[0])
		} else if f.Type != "" {
			return r.errorf(0, "fd.type: %q is not one character", f.Type)
		}
		var err error
		if fi.Client, err = f.Client.addr(); err != nil {
			return r.errorf(0, "fd.client: %v", err)
		}
		if fi.Server, err = f.Server.addr(); err != nil {
			return r.errorf(0, "fd.server: %v", err)
		}
		ev.FDInfo = fi
	}
	if k := c.Container; k != nil {
		ct := &Container{ID: k.ID, FullID: k.FullID, Type: k.Type, MetadataKnown: k.MetadataKnown, Name: k.Name,
			Image: k.Image, Repository: k.Repository, Tag: k.Tag, Digest: k.Digest, Privileged: k.Privileged,
			StartTS: k.StartTS, Healthcheck: k.Healthcheck, Labels: nilIfEmptyMap(k.Labels), PodName: k.PodName,
			PodNamespace: k.PodNamespace, PodUID: k.PodUID, PodLabels: nilIfEmptyMap(k.PodLabels), CgroupPath: k.CgroupPath}
		if len(k.Mounts) > 0 {
			ct.Mounts = make([]Mount, len(k.Mounts))
			for i, m := range k.Mounts {
				ct.Mounts[i] = Mount(m)
			}
		}
		ev.Container = ct
	}
	return nil
}

// nilIfEmpty keeps a nil slice nil across a round trip ("[]" decodes to an
// empty, non-nil slice).
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func (a *capAddr) addr() (SockAddr, error) {
	s := SockAddr{Family: a.Family, Port: a.Port, Path: a.Path}
	if a.IP != "" {
		ip, err := netip.ParseAddr(a.IP)
		if err != nil {
			return SockAddr{}, err
		}
		s.IP = ip
	}
	return s, nil
}

func setArg(ev *Event, s Slot, raw json.RawMessage) error {
	switch s {
	case SlotPath, SlotPath2, SlotStr:
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		switch s {
		case SlotPath:
			ev.Path = v
		case SlotPath2:
			ev.Path2 = v
		default:
			ev.Str = v
		}
	case SlotAddr:
		var a capAddr
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		v, err := a.addr()
		if err != nil {
			return err
		}
		ev.Addr = v
	case SlotFlags:
		return json.Unmarshal(raw, &ev.Flags)
	case SlotMode:
		return json.Unmarshal(raw, &ev.Mode)
	case SlotRet:
		return json.Unmarshal(raw, &ev.Ret)
	case SlotFD:
		return json.Unmarshal(raw, &ev.FD)
	case SlotFD2:
		return json.Unmarshal(raw, &ev.FD2)
	case SlotDirFD:
		return json.Unmarshal(raw, &ev.DirFD)
	case SlotDirFD2:
		return json.Unmarshal(raw, &ev.DirFD2)
	case SlotArg0, SlotArg1, SlotArg2, SlotArg3:
		return json.Unmarshal(raw, &ev.Arg[s-SlotArg0])
	}
	return nil
}

// AppendText appends ev as one human-readable line (`vigil trace` without
// --json): time, comm(pid:tid), type, arguments by Falco name, exec details
// and, when enriched, the fd name and container. It is not meant to be
// parsed; use AppendJSON for that.
func AppendText(dst []byte, ev *Event) []byte {
	dst = time.Unix(0, ev.Time).UTC().AppendFormat(dst, "15:04:05.000000000")
	dst = append(dst, ' ')
	dst = append(dst, ev.Comm...)
	dst = append(dst, '(')
	dst = strconv.AppendUint(dst, uint64(ev.PID), 10)
	if ev.TID != ev.PID {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(ev.TID), 10)
	}
	dst = append(dst, ") "...)
	dst = append(dst, ev.Type.String()...)
	for _, a := range Lookup(ev.Type).Args {
		dst = append(dst, ' ')
		dst = append(dst, a.Name...)
		dst = append(dst, '=')
		switch a.Slot {
		case SlotPath, SlotPath2, SlotStr:
			dst = strconv.AppendQuote(dst, *textStr(ev, a.Slot))
		case SlotAddr:
			dst = appendAddrText(dst, &ev.Addr)
		case SlotFlags:
			dst = append(dst, "0x"...)
			dst = strconv.AppendUint(dst, ev.Flags, 16)
		case SlotMode:
			if ev.Mode != 0 {
				dst = append(dst, '0')
			}
			dst = strconv.AppendUint(dst, uint64(ev.Mode), 8)
		default:
			dst = appendArg(dst, ev, a.Slot)
		}
	}
	if ev.Local.Valid() {
		dst = append(dst, " local="...)
		dst = appendAddrText(dst, &ev.Local)
	}
	if x := ev.Exec; x != nil {
		dst = append(dst, " exepath="...)
		dst = strconv.AppendQuote(dst, x.ExePath)
		dst = append(dst, " argv=["...)
		for i, a := range x.Argv {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = strconv.AppendQuote(dst, a)
		}
		dst = append(dst, "] cwd="...)
		dst = strconv.AppendQuote(dst, x.Cwd)
		if x.UpperLayer {
			dst = append(dst, " upper_layer"...)
		}
		if x.FromMemfd {
			dst = append(dst, " from_memfd"...)
		}
	}
	if ev.FDInfo != nil && ev.FDInfo.Name != "" {
		dst = append(dst, " fd.name="...)
		dst = strconv.AppendQuote(dst, ev.FDInfo.Name)
	}
	if ev.Proc != nil && ev.Proc.Parent != nil {
		dst = append(dst, " parent="...)
		dst = append(dst, ev.Proc.Parent.Comm...)
	}
	if ev.Container != nil {
		dst = append(dst, " container="...)
		dst = append(dst, ev.Container.ID...)
	}
	return append(dst, '\n')
}

func textStr(ev *Event, s Slot) *string {
	switch s {
	case SlotPath:
		return &ev.Path
	case SlotPath2:
		return &ev.Path2
	}
	return &ev.Str
}

func appendAddrText(dst []byte, a *SockAddr) []byte {
	switch {
	case !a.Valid():
		return append(dst, "none"...)
	case a.Path != "":
		return strconv.AppendQuote(dst, a.Path)
	case a.IP.IsValid():
		return netip.AddrPortFrom(a.IP, a.Port).AppendTo(dst)
	}
	dst = append(dst, "family="...)
	return strconv.AppendUint(dst, uint64(a.Family), 10)
}
