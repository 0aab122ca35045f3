package event

import (
	"math"
	"net/netip"
	"sort"
	"strconv"
	"unsafe"
)

// FieldType is the type of a filter field's value.
type FieldType uint8

const (
	FieldString  FieldType = iota + 1
	FieldInt               // int64
	FieldUint              // uint64
	FieldBool              // true/false
	FieldIPAddr            // an IP address
	FieldIPNet             // an IP address compared against CIDR networks (filter only)
	FieldRelTime           // uint64 nanoseconds (a duration)
	FieldAbsTime           // uint64 nanoseconds since the epoch
	FieldFloat             // float64, its bits in Value.Num (Falco's DOUBLE)
)

func (t FieldType) String() string {
	switch t {
	case FieldString:
		return "string"
	case FieldInt:
		return "int64"
	case FieldUint:
		return "uint64"
	case FieldBool:
		return "bool"
	case FieldIPAddr:
		return "ipaddr"
	case FieldIPNet:
		return "ipnet"
	case FieldRelTime:
		return "reltime"
	case FieldAbsTime:
		return "abstime"
	case FieldFloat:
		return "double"
	}
	return "unknown"
}

// Numeric reports whether values of t are compared as numbers.
func (t FieldType) Numeric() bool {
	return t == FieldInt || t == FieldUint || t == FieldRelTime || t == FieldAbsTime || t == FieldFloat
}

// ArgSpec says whether a field takes an argument in brackets.
type ArgSpec uint8

const (
	ArgNone          ArgSpec = iota // no argument
	ArgIndexOptional                // proc.aname or proc.aname[N]
	ArgKeyRequired                  // k8s.pod.label[app]
	ArgKeyOptional                  // proc.env or proc.env[HOME]
	ArgIndexOrKey                   // container.mount.dest[0] or container.mount.dest[/src]
	ArgEvtArg                       // evt.arg.NAME or evt.arg[N]
)

// Multi says how a field with several values per event compares.
type Multi uint8

const (
	// MultiNone: one value.
	MultiNone Multi = iota
	// MultiAny: without an argument the field yields several values and a
	// comparison holds when it holds for any of them (proc.aname: any
	// ancestor; fd.ip: either endpoint). With NotEqualAll, != holds only
	// when no value is equal (fd.ip, fd.net).
	MultiAny
	// MultiList: the field is a list; `in` holds when every element is in
	// the set, `intersects` when one is.
	MultiList
)

// FieldArg is a parsed field argument.
type FieldArg struct {
	Has   bool   // an argument was given
	Index int    // numeric argument (-1 when the argument is a key)
	Key   string // textual argument
	// argIdx maps an event type to the position of evt.arg.NAME in its
	// definition (-1: the type has no such argument).
	argIdx *[NumTypes]int8
}

// Value is an extracted field value. Which member is meaningful depends on
// the field type: Str for strings, Num for integers (int64 stored as its
// bits), bools (0/1) and times, IP for addresses.
type Value struct {
	Str string
	Num uint64
	IP  netip.Addr
}

// Int returns the value as a signed integer.
func (v Value) Int() int64 { return int64(v.Num) }

// Float returns the value of a FieldFloat field.
func (v Value) Float() float64 { return math.Float64frombits(v.Num) }

// FloatValue is the Value of a FieldFloat field holding f.
func FloatValue(f float64) Value { return Value{Num: math.Float64bits(f)} }

// Extractor extracts a field from an event. ok is false when the field has
// no value for this event (comparisons false, output <NA>).
type Extractor func(c *FieldCtx, ev *Event, a *FieldArg) (v Value, ok bool)

// ElemExtractor returns the i-th value of a multi-valued field, ok false
// past the end.
type ElemExtractor func(c *FieldCtx, ev *Event, a *FieldArg, i int) (v Value, ok bool)

// Field is one row of the field registry.
type Field struct {
	Name        string
	Type        FieldType
	Arg         ArgSpec
	Multi       Multi
	NotEqualAll bool // with MultiAny: != holds only when no value is equal
	FilterOnly  bool // cannot be used in outputs
	// Source is the rule source whose events the field reads (syscall or
	// k8s_audit); the compiler refuses a field of another source.
	Source  string
	Doc     string
	Extract Extractor
	Elem    ElemExtractor // MultiAny (used when no argument is given) and MultiList
	// ArgType, when set, gives the type for an argument (evt.rawarg.NAME
	// has its argument's type); Type is then the type without one.
	ArgType func(FieldArg) FieldType
}

// TypeFor returns the field's type with argument a.
func (f *Field) TypeFor(a FieldArg) FieldType {
	if f.ArgType != nil {
		return f.ArgType(a)
	}
	return f.Type
}

// UserDB resolves user and group names. Implementations cache: they are
// called for every event that uses user.name.
type UserDB interface {
	UserName(ev *Event, uid uint32) (string, bool)
	GroupName(ev *Event, gid uint32) (string, bool)
}

// FieldCtx is what extractors need besides the event: scratch space for
// computed strings and per-run state. It is not safe for concurrent use;
// strings it returns stay valid until Reset.
type FieldCtx struct {
	buf []byte
	Num uint64 // evt.num of the current event
	// First and Prev are the times of the first event evaluated and of
	// the one before the current one (evt.reltime, evt.deltatime); Tick
	// keeps them.
	First, Prev, cur int64
	Hostname         string // evt.hostname
	Users            UserDB
	// HostName maps a server IP to the rule hostname it was resolved from
	// (fd.sip.name), "" when none.
	HostName func(netip.Addr) string
}

// Tick records the time of the event about to be evaluated.
func (c *FieldCtx) Tick(t int64) {
	if c.First == 0 {
		c.First = t
	}
	c.Prev, c.cur = c.cur, t
}

// Reset forgets the strings computed for the previous event.
func (c *FieldCtx) Reset() { c.buf = c.buf[:0] }

// mark and str bracket an append to the scratch buffer.
func (c *FieldCtx) mark() int { return len(c.buf) }

// unsafeString views b as a string; b must not change while it is used.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (c *FieldCtx) str(start int) string {
	if len(c.buf) == start {
		return ""
	}
	return unsafe.String(&c.buf[start], len(c.buf)-start)
}

// Bytes returns scratch space for transformers: append to the returned
// slice and pass it back to Commit.
func (c *FieldCtx) Bytes() []byte { return c.buf }

// Commit stores b (which must extend Bytes()) and returns the appended part
// as a string valid until Reset.
func (c *FieldCtx) Commit(b []byte, start int) string {
	c.buf = b
	return c.str(start)
}

var fieldIndex map[string]*Field

func init() {
	fields = append(append(append(append(append(fields, moreFields...), ioFields...), auditFields...), refFields...), usageFields...)
	for i := range fields {
		switch fields[i].Name {
		case "evt.time", "evt.time.iso8601", "evt.rawtime", "evt.num", "evt.hostname", "evt.type", "evt.category":
			fields[i].Source = SourceAny
		}
		if fields[i].Source == "" {
			fields[i].Source = SourceSyscall
		}
	}
	fieldIndex = make(map[string]*Field, len(fields))
	for i := range fields {
		fieldIndex[fields[i].Name] = &fields[i]
	}
}

// LookupField returns the field called name (without argument).
func LookupField(name string) *Field { return fieldIndex[name] }

// Fields returns the registry sorted by name.
func Fields() []Field {
	out := append([]Field(nil), fields...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ParseFieldArg checks and parses the bracket argument of f (raw is the
// text between the brackets, has whether brackets were present; for
// evt.arg.NAME pass NAME with has true and dotted true).
func ParseFieldArg(f *Field, raw string, has, dotted bool) (FieldArg, string) {
	a := FieldArg{Has: has, Index: -1, Key: raw}
	switch f.Arg {
	case ArgNone:
		if has {
			return a, "field " + f.Name + " takes no argument"
		}
	case ArgIndexOptional:
		if has {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 0 {
				// Falco silently falls back to the no-index form.
				a.Has = false
			} else {
				a.Index = n
			}
		}
	case ArgKeyRequired:
		if !has || raw == "" {
			return a, "field " + f.Name + " requires an argument in brackets"
		}
	case ArgKeyOptional:
		a.Has = has && raw != ""
	case ArgIndexOrKey:
		if !has || raw == "" {
			return a, "field " + f.Name + " requires an argument in brackets"
		}
		if n, err := strconv.Atoi(raw); err == nil && n >= 0 {
			a.Index = n
		}
	case ArgEvtArg:
		if !has || raw == "" {
			return a, "field " + f.Name + " requires an argument: " + f.Name + ".NAME or " + f.Name + "[N]"
		}
		var idx [NumTypes]int8
		if dotted {
			found := false
			for t := Type(0); t < NumTypes; t++ {
				idx[t] = int8(ArgIndex(t, raw))
				if idx[t] >= 0 && t != TypeUnknown {
					found = true
				}
			}
			if !found {
				return a, "unknown event argument " + strconv.Quote(raw) + " in " + f.Name + "." + raw
			}
		} else {
			if f.ArgType != nil {
				return a, f.Name + " takes an argument name: " + f.Name + ".NAME"
			}
			n, err := strconv.Atoi(raw)
			if err != nil || n < 0 || n > 127 {
				return a, f.Name + "[N] needs a non-negative number, got " + strconv.Quote(raw)
			}
			for t := Type(0); t < NumTypes; t++ {
				if n < len(Lookup(t).Args) {
					idx[t] = int8(n)
				} else {
					idx[t] = -1
				}
			}
			a.Index = n
		}
		a.argIdx = &idx
	}
	return a, ""
}

// AppendValue renders v of type t as Falco's outputs do.
func AppendValue(dst []byte, t FieldType, v Value) []byte {
	switch t {
	case FieldString:
		return append(dst, v.Str...)
	case FieldInt:
		return strconv.AppendInt(dst, int64(v.Num), 10)
	case FieldUint, FieldRelTime, FieldAbsTime:
		return strconv.AppendUint(dst, v.Num, 10)
	case FieldFloat:
		// Falco prints a DOUBLE with "%.1lf".
		return strconv.AppendFloat(dst, v.Float(), 'f', 1, 64)
	case FieldBool:
		if v.Num != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case FieldIPAddr, FieldIPNet:
		if v.IP.IsValid() {
			return appendIP(dst, v.IP)
		}
	}
	return dst
}

// Helpers for extractors.

func sv(s string) (Value, bool)  { return Value{Str: s}, true }
func iv(n int64) (Value, bool)   { return Value{Num: uint64(n)}, true }
func uv(n uint64) (Value, bool)  { return Value{Num: n}, true }
func fv(f float64) (Value, bool) { return FloatValue(f), true }
func bv(b bool) (Value, bool) {
	if b {
		return Value{Num: 1}, true
	}
	return Value{}, true
}
func none() (Value, bool) { return Value{}, false }

// proc returns the process of the event, nil when not enriched.
func proc(ev *Event) *Process { return ev.Proc }

// ancestor returns the n-th ancestor (0 = the process itself).
func ancestor(ev *Event, n int) *Process {
	p := ev.Proc
	for ; p != nil && n > 0; n-- {
		p = p.Parent
	}
	return p
}

func (c *FieldCtx) cmdline(p *Process) string {
	s := c.mark()
	c.buf = append(c.buf, p.Comm...)
	for _, a := range p.Args {
		c.buf = append(c.buf, ' ')
		c.buf = append(c.buf, a...)
	}
	return c.str(s)
}

func (c *FieldCtx) args(p *Process) string {
	if len(p.Args) == 1 {
		return p.Args[0]
	}
	s := c.mark()
	for i, a := range p.Args {
		if i > 0 {
			c.buf = append(c.buf, ' ')
		}
		c.buf = append(c.buf, a...)
	}
	return c.str(s)
}

// procField builds the extractors of a per-process string attribute:
// own value, parent's value and the ancestor forms.
type procAttr func(c *FieldCtx, p *Process) Value

func procX(get procAttr) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if p := ev.Proc; p != nil {
			return get(c, p), true
		}
		return none()
	}
}

func parentX(get procAttr) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if p := ancestor(ev, 1); p != nil {
			return get(c, p), true
		}
		return none()
	}
}

// ancestorX is proc.aname[N]-style: [N] the N-th ancestor (0 = self);
// without an index, output gives all ancestors space-joined, parent first.
func ancestorX(get procAttr) Extractor {
	return func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
		if a.Has {
			if p := ancestor(ev, a.Index); p != nil {
				return get(c, p), true
			}
			return none()
		}
		p := ancestor(ev, 1)
		if p == nil {
			return none()
		}
		s := c.mark()
		for ; p != nil; p = p.Parent {
			if len(c.buf) > s {
				c.buf = append(c.buf, ' ')
			}
			v := get(c, p)
			if v.Str != "" {
				c.buf = append(c.buf, v.Str...)
			} else {
				c.buf = strconv.AppendUint(c.buf, v.Num, 10)
			}
		}
		return Value{Str: c.str(s)}, true
	}
}

// ancestorElem yields ancestors from the parent upward (never the process
// itself), for the no-index filter form.
func ancestorElem(get procAttr) ElemExtractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg, i int) (Value, bool) {
		if p := ancestor(ev, i+1); p != nil {
			return get(c, p), true
		}
		return none()
	}
}

var (
	attrName    procAttr = func(_ *FieldCtx, p *Process) Value { return Value{Str: p.Comm} }
	attrExe     procAttr = func(_ *FieldCtx, p *Process) Value { return Value{Str: p.Exe} }
	attrExePath procAttr = func(_ *FieldCtx, p *Process) Value { return Value{Str: p.ExePath} }
	attrCmdline procAttr = func(c *FieldCtx, p *Process) Value { return Value{Str: c.cmdline(p)} }
	attrPID     procAttr = func(_ *FieldCtx, p *Process) Value { return Value{Num: uint64(p.PID)} }
)

// fd helpers.

// fdTypeNames maps fd.typechar to fd.type.
func fdTypeName(t FDType) string {
	switch t {
	case FDFile:
		return "file"
	case FDDirectory:
		return "directory"
	case FDIPv4:
		return "ipv4"
	case FDIPv6:
		return "ipv6"
	case FDUnix:
		return "unix"
	case FDPipe:
		return "pipe"
	case FDEvent:
		return "event"
	case FDSignal:
		return "signalfd"
	case FDEpoll:
		return "eventpoll"
	case FDInotify:
		return "inotify"
	case FDTimer:
		return "timerfd"
	case FDNetlink:
		return "netlink"
	case FDBPF:
		return "bpf"
	case FDIOUring:
		return "io_uring"
	case FDMemfd:
		return "memfd"
	case FDPidfd:
		return "pidfd"
	}
	return "<NA>"
}

func isOpen(t Type) bool {
	return t == TypeOpen || t == TypeOpenat || t == TypeOpenat2 || t == TypeCreat
}

// fdEvent reports whether events of type t carry an fd (fd.* have values).
func fdEvent(t Type) bool {
	switch t {
	case TypeExecve, TypeExecveat, TypePtrace, TypeLink, TypeLinkat, TypeSymlink, TypeSymlinkat,
		TypeInitModule, TypeUnknown:
		return false
	}
	for _, a := range Lookup(t).Args {
		if a.Kind == KindFD || a.Name == "fd" {
			return true
		}
	}
	return false
}

// failedOpen reports an open without fd state: fields are derived from the
// event parameters as libs do.
func failedOpen(ev *Event) bool { return ev.FDInfo == nil && isOpen(ev.Type) && ev.Ret < 0 }

// openName rebuilds fd.name of an open from its parameters.
func (c *FieldCtx) openName(ev *Event) string {
	if ev.Path == "" {
		return ""
	}
	s := c.mark()
	dir := procCwd(ev)
	if ev.Path[0] != '/' && ev.Type != TypeOpen && ev.Type != TypeCreat && ev.DirFD != AtFDCWD {
		c.buf = append(c.buf, "<UNKNOWN>"...)
		c.buf = append(c.buf, ev.Path...)
		return c.str(s)
	}
	c.buf = AppendJoinPath(c.buf, dir, ev.Path)
	return c.str(s)
}

func fdName(c *FieldCtx, ev *Event) (string, bool) {
	if fi := ev.FDInfo; fi != nil {
		return fi.Name, true
	}
	if failedOpen(ev) {
		return c.openName(ev), true
	}
	if !fdEvent(ev.Type) {
		return "", false
	}
	// No fd state: connect/accept rebuild the tuple from the event, other
	// fd events give an empty (present) name, as libs do.
	if (ev.Type == TypeConnect || ev.Type == TypeAccept || ev.Type == TypeAccept4) && ev.Addr.Valid() {
		s := c.mark()
		if ev.Local.Valid() {
			if ev.Type == TypeConnect {
				c.buf = appendSockaddr(c.buf, ev.Local)
				c.buf = append(c.buf, "->"...)
				c.buf = appendSockaddr(c.buf, ev.Addr)
			} else {
				c.buf = appendSockaddr(c.buf, ev.Addr)
				c.buf = append(c.buf, "->"...)
				c.buf = appendSockaddr(c.buf, ev.Local)
			}
		} else {
			c.buf = appendSockaddr(c.buf, ev.Addr)
		}
		return c.str(s), true
	}
	return "", true
}

func fdIsFileLike(ev *Event) bool {
	if fi := ev.FDInfo; fi != nil {
		return fi.Type == FDFile || fi.Type == FDDirectory
	}
	return failedOpen(ev)
}

// localIsClient reports whether the client end of the fd's tuple is the
// local end (outbound): true unless the event accepted the connection or
// the fd listens, or the event's Local address matches the server end.
func localIsClient(ev *Event) bool {
	fi := ev.FDInfo
	if ev.Type == TypeAccept || ev.Type == TypeAccept4 || fi.Listening {
		return false
	}
	if ev.Local.Valid() && ev.Local.IP.IsValid() && ev.Local.IP.Unmap() == fi.Server.IP.Unmap() &&
		ev.Local.Port == fi.Server.Port {
		return false
	}
	return true
}

func ipFD(ev *Event) *FDInfo {
	fi := ev.FDInfo
	if fi == nil || (fi.Type != FDIPv4 && fi.Type != FDIPv6) {
		return nil
	}
	return fi
}

func endpoint(ev *Event, server bool) (SockAddr, bool) {
	fi := ipFD(ev)
	if fi == nil {
		return SockAddr{}, false
	}
	a := fi.Client
	if server {
		a = fi.Server
	}
	if !a.IP.IsValid() {
		return SockAddr{}, false
	}
	return a, true
}

func ipX(server bool) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if a, ok := endpoint(ev, server); ok {
			return Value{IP: a.IP.Unmap()}, true
		}
		return none()
	}
}

// leaderOf returns the eldest process of ev's ancestry (ev's process
// included) whose id of kind (VPGID or VSID) is the same as the process's:
// Falco's process group or session leader. nil when the id is unknown.
func leaderOf(ev *Event, id func(*NSIDs) uint32) *Process {
	p := ev.Proc
	if p == nil || id(&p.IDs) == 0 {
		return nil
	}
	want := id(&p.IDs)
	leader := p
	for a := p.Parent; a != nil; a = a.Parent {
		if id(&a.IDs) != want {
			break
		}
		leader = a
		if a.IDs.VPID == want {
			break
		}
	}
	return leader
}

func vpgidOf(ids *NSIDs) uint32 { return ids.VPGID }
func vsidOf(ids *NSIDs) uint32  { return ids.VSID }

// leaderX extracts an attribute of the process group or session leader.
func leaderX(id func(*NSIDs) uint32, get procAttr) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if l := leaderOf(ev, id); l != nil {
			return get(c, l), true
		}
		return none()
	}
}

// idX extracts one of the process's namespace ids; 0 is no value.
func idX(id func(*NSIDs) uint32) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if p := ev.Proc; p != nil && id(&p.IDs) != 0 {
			return iv(int64(id(&p.IDs)))
		}
		return none()
	}
}

// hostNameDoc documents fd.sip.name and its siblings.
func hostNameDoc(end string) string {
	return "Domain name of the " + end + " IP, as Falco's DNS manager gives it: in filters (=, !=, in) the rule's host names are resolved in the background at run time (refreshed every 5 min, 2 s timeout, never blocking an event) and the " + end + " IP compared with their addresses; a name not resolved yet matches nothing. In outputs, a rule host name that resolved to this IP, else no value."
}

// hostNameX extracts the rule host name an address resolved from.
func hostNameX(addr Extractor) Extractor {
	return func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
		v, ok := addr(c, ev, a)
		if !ok || c.HostName == nil {
			return none()
		}
		if n := c.HostName(v.IP); n != "" {
			return sv(n)
		}
		return none()
	}
}

func portX(server bool) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if a, ok := endpoint(ev, server); ok {
			return uv(uint64(a.Port))
		}
		return none()
	}
}

func localX(local, port bool) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		fi := ipFD(ev)
		if fi == nil {
			return none()
		}
		server := localIsClient(ev) != local // local&&client-is-local → client end
		a, ok := endpoint(ev, server)
		if !ok {
			return none()
		}
		if port {
			return uv(uint64(a.Port))
		}
		return Value{IP: a.IP.Unmap()}, true
	}
}

// bothPorts yields the client then the server port.
func bothPorts(_ *FieldCtx, ev *Event, _ *FieldArg, i int) (Value, bool) {
	if i > 1 {
		return none()
	}
	if a, ok := endpoint(ev, i == 1); ok {
		return uv(uint64(a.Port))
	}
	return none()
}

// bothIPs yields the client then the server address.
func bothIPs(_ *FieldCtx, ev *Event, _ *FieldArg, i int) (Value, bool) {
	if i > 1 {
		return none()
	}
	if a, ok := endpoint(ev, i == 1); ok {
		return Value{IP: a.IP.Unmap()}, true
	}
	if i == 0 {
		// no client end (listening socket): go on to the server end
		if a, ok := endpoint(ev, true); ok {
			return Value{IP: a.IP.Unmap()}, true
		}
	}
	return none()
}

// container helpers.

func ctrMeta(ev *Event) *Container {
	c := ev.Container
	if c == nil {
		return nil
	}
	if c.ID == "host" || c.MetadataKnown {
		return c
	}
	return nil
}

func ctrX(get func(c *Container) Value) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		if c := ctrMeta(ev); c != nil {
			return get(c), true
		}
		return none()
	}
}

func k8sX(get func(c *Container) string) Extractor {
	return func(_ *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		c := ctrMeta(ev)
		if c == nil || c.PodName == "" {
			return none()
		}
		return sv(get(c))
	}
}

func (c *FieldCtx) appendMount(m *Mount) {
	c.buf = append(c.buf, m.Source...)
	c.buf = append(c.buf, ':')
	c.buf = append(c.buf, m.Destination...)
	c.buf = append(c.buf, ':')
	c.buf = append(c.buf, m.Mode...)
	c.buf = append(c.buf, ':')
	c.buf = strconv.AppendBool(c.buf, m.RW)
	c.buf = append(c.buf, ':')
	c.buf = append(c.buf, m.Propagation...)
}

// findMount resolves container.mount*[N or path]: a number is an index, a
// path matches the other end of the mount (byDest: the destination).
func findMount(ev *Event, a *FieldArg, byDest bool) *Mount {
	c := ctrMeta(ev)
	if c == nil {
		return nil
	}
	if a.Index >= 0 {
		if a.Index < len(c.Mounts) {
			return &c.Mounts[a.Index]
		}
		return nil
	}
	for i := range c.Mounts {
		m := &c.Mounts[i]
		if (byDest && m.Destination == a.Key) || (!byDest && m.Source == a.Key) {
			return m
		}
	}
	return nil
}

func mountX(byDest bool, get func(c *FieldCtx, m *Mount) Value) Extractor {
	return func(c *FieldCtx, ev *Event, a *FieldArg) (Value, bool) {
		if m := findMount(ev, a, byDest); m != nil {
			return get(c, m), true
		}
		return none()
	}
}

func capX(get func(p *Process) uint64, exec func(x *Exec) uint64) Extractor {
	return func(c *FieldCtx, ev *Event, _ *FieldArg) (Value, bool) {
		var v uint64
		switch {
		case ev.Proc != nil:
			v = get(ev.Proc)
		case ev.Exec != nil:
			v = exec(ev.Exec)
		default:
			return none()
		}
		s := c.mark()
		c.buf = AppendCaps(c.buf, v)
		return Value{Str: c.str(s)}, true
	}
}

func userName(c *FieldCtx, ev *Event, uid uint32, group bool) string {
	if uid == 0 {
		return "root"
	}
	if c.Users != nil {
		var n string
		var ok bool
		if group {
			n, ok = c.Users.GroupName(ev, uid)
		} else {
			n, ok = c.Users.UserName(ev, uid)
		}
		if ok {
			return n
		}
	}
	return "<NA>"
}
