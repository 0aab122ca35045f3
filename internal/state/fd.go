package state

import (
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// fdTable is a process's fd table. Tables are shared copy-on-write between
// a parent and the children it forks (refs counts the sharers), so a fork
// costs nothing; the first change by either side copies the map. Entries
// are immutable, so a copy shares them.
type fdTable struct {
	refs int
	m    map[int64]*fdEntry
}

// fdEntry is one fd. info is published as ev.FDInfo and never changes
// afterwards: a change replaces the entry.
type fdEntry struct {
	info    event.FDInfo
	cloexec bool
}

const (
	eInProgress = -int64(syscall.EINPROGRESS)
	mfdCloexec  = 1 // MFD_CLOEXEC
)

// fdSlot is true for event types whose Def has an fd argument in SlotFD:
// fd.* describe that fd.
var fdSlot = func() (s [event.NumTypes]bool) {
	for _, d := range event.Defs() {
		for _, a := range d.Args {
			if a.Slot == event.SlotFD && a.Kind == event.KindFD {
				s[d.Type] = true
			}
		}
	}
	return s
}()

// bpfCreatesFD lists the bpf(2) commands whose return value is a new fd.
var bpfCreatesFD = [64]bool{
	0:  true, // BPF_MAP_CREATE
	5:  true, // BPF_PROG_LOAD
	7:  true, // BPF_OBJ_GET
	13: true, // BPF_PROG_GET_FD_BY_ID
	14: true, // BPF_MAP_GET_FD_BY_ID
	17: true, // BPF_RAW_TRACEPOINT_OPEN
	18: true, // BPF_BTF_LOAD
	19: true, // BPF_BTF_GET_FD_BY_ID
	28: true, // BPF_LINK_CREATE
	30: true, // BPF_LINK_GET_FD_BY_ID
	32: true, // BPF_ENABLE_STATS
	33: true, // BPF_ITER_CREATE
	36: true, // BPF_TOKEN_CREATE
}

// applyFD handles the events that create, change, use or destroy fds.
func (t *Table) applyFD(e *procEntry, ev *event.Event) {
	switch ev.Type {
	case event.TypeOpen, event.TypeOpenat, event.TypeOpenat2, event.TypeCreat:
		t.applyOpen(e, ev)
	case event.TypeSocket:
		if ev.Ret >= 0 {
			n := fdEntry{
				info: event.FDInfo{
					Num:     ev.Ret,
					Type:    familyType(uint16(ev.Arg[0])),
					L4Proto: l4proto(ev.Arg[0], ev.Arg[1], ev.Arg[2]),
				},
				cloexec: ev.Arg[1]&syscall.SOCK_CLOEXEC != 0,
			}
			ev.FDInfo = t.put(e, ev.Ret, nil, n)
		}
	case event.TypeConnect:
		t.applyConnect(e, ev)
	case event.TypeAccept, event.TypeAccept4:
		if ev.Ret >= 0 {
			client, server, _ := unmapPair(ev.Addr, ev.Local)
			typ := familyType(client.Family)
			if typ == event.FDUnknown {
				typ = familyType(server.Family)
			}
			n := fdEntry{
				info:    event.FDInfo{Num: ev.Ret, Type: typ, Client: client, Server: server, Connected: true},
				cloexec: ev.Type == event.TypeAccept4 && ev.Flags&syscall.SOCK_CLOEXEC != 0,
			}
			if typ == event.FDIPv4 || typ == event.FDIPv6 {
				n.info.L4Proto = "tcp"
			}
			n.info.Name = t.tupleName(typ, client, server)
			// The listening socket (the sensor reports it in FD) fills what
			// the event lacks: the type and, for unix sockets, the path.
			if l := t.getFD(e, ev.FD); l != nil {
				if n.info.Type == event.FDUnknown {
					n.info.Type = l.info.Type
				}
				if l.info.L4Proto != "" {
					n.info.L4Proto = l.info.L4Proto
				}
				if n.info.Name == "" && n.info.Type == event.FDUnix {
					n.info.Name = l.info.Name
				}
			}
			ev.FDInfo = t.put(e, ev.Ret, nil, n)
		}
	case event.TypeBind:
		old := t.getFD(e, ev.FD)
		if ev.Ret != 0 || !ev.Addr.Valid() {
			ev.FDInfo = t.touchFD(e, ev.FD, old)
			return
		}
		n := socketBase(old, ev.FD, ev.Addr.Family)
		n.info.Server = ev.Addr
		n.info.Name = t.tupleName(n.info.Type, event.SockAddr{}, ev.Addr)
		ev.FDInfo = t.put(e, ev.FD, old, n)
	case event.TypeListen:
		old := t.getFD(e, ev.FD)
		if ev.Ret != 0 || old == nil || old.info.Listening {
			ev.FDInfo = t.touchFD(e, ev.FD, old)
			return
		}
		n := *old
		n.info.Listening = true
		ev.FDInfo = t.put(e, ev.FD, old, n)
	case event.TypeSendto, event.TypeSendmsg, event.TypeRecvfrom, event.TypeRecvmsg:
		t.applyDatagram(e, ev)
	case event.TypeDup, event.TypeDup2, event.TypeDup3:
		old := t.getFD(e, ev.FD)
		if ev.Ret < 0 || ev.Ret == ev.FD || old == nil {
			ev.FDInfo = t.touchFD(e, ev.FD, old)
			return
		}
		n := *old
		n.info.Num = ev.Ret
		n.info.NameChanged = false
		n.cloexec = ev.Type == event.TypeDup3 && ev.Flags&syscall.O_CLOEXEC != 0
		ev.FDInfo = t.put(e, ev.Ret, nil, n) // a new fd: its name did not change
	case event.TypeClose:
		// No /proc lookup: at syscall exit the fd is already gone.
		old := t.peekFD(e, ev.FD)
		if old != nil {
			ev.FDInfo = &old.info
			if ev.Ret == 0 {
				t.delFD(e, ev.FD)
			}
		}
	case event.TypeFchdir:
		old := t.getFD(e, ev.FD)
		ev.FDInfo = t.touchFD(e, ev.FD, old)
		if ev.Ret == 0 && old != nil && strings.HasPrefix(old.info.Name, "/") {
			e.p.Cwd = dirSlash(old.info.Name)
		}
	case event.TypeMemfdCreate:
		if ev.Ret >= 0 {
			n := fdEntry{
				info:    event.FDInfo{Num: ev.Ret, Type: event.FDMemfd, Name: ev.Str, NameRaw: ev.Str, Flags: ev.Flags},
				cloexec: ev.Flags&mfdCloexec != 0,
			}
			ev.FDInfo = t.put(e, ev.Ret, nil, n)
		}
	case event.TypeUserfaultfd:
		if ev.Ret >= 0 {
			n := fdEntry{
				info:    event.FDInfo{Num: ev.Ret, Type: event.FDUnix, Flags: ev.Flags}, // Falco: 'u' for userfaultfd too
				cloexec: ev.Flags&syscall.O_CLOEXEC != 0,
			}
			ev.FDInfo = t.put(e, ev.Ret, nil, n)
		}
	case event.TypeBpf:
		if ev.Ret > 0 && ev.Arg[0] >= 0 && ev.Arg[0] < int64(len(bpfCreatesFD)) && bpfCreatesFD[ev.Arg[0]] {
			n := fdEntry{info: event.FDInfo{Num: ev.Ret, Type: event.FDBPF}, cloexec: true}
			ev.FDInfo = t.put(e, ev.Ret, nil, n)
		}
	default:
		if fdSlot[ev.Type] {
			ev.FDInfo = t.fdInfo(e, ev.FD)
		}
	}
}

// applyOpen handles open/openat/openat2/creat, successful or not.
func (t *Table) applyOpen(e *procEntry, ev *event.Event) {
	base := e.p.Cwd
	if (ev.Type == event.TypeOpenat || ev.Type == event.TypeOpenat2) &&
		ev.DirFD != event.AtFDCWD && ev.Path != "" && ev.Path[0] != '/' {
		base = t.dirPath(e, ev.DirFD)
	}
	flags := ev.Flags
	if ev.Type == event.TypeCreat && flags == 0 {
		flags = syscall.O_CREAT | syscall.O_WRONLY | syscall.O_TRUNC
	}
	info := event.FDInfo{
		Num:     ev.Ret,
		Type:    event.FDFile,
		Name:    resolvePath(base, ev.Path),
		NameRaw: collapseSlashes(ev.Path),
		Flags:   flags,
	}
	if ev.Ret < 0 {
		// No fd: rebuilt from the event, typechar guessed from the type.
		info.Num = -1
		if ev.Type == event.TypeOpen {
			info.Type = event.FDUnknown
		}
		ev.FDInfo = &info
		return
	}
	if flags&syscall.O_DIRECTORY != 0 {
		info.Type = event.FDDirectory
	}
	info.Dev, info.Ino = uint32(ev.Arg[1]), uint64(ev.Arg[2])
	ev.FDInfo = t.put(e, ev.Ret, nil, fdEntry{info: info, cloexec: flags&syscall.O_CLOEXEC != 0})
}

// dirPath is the directory (ending in "/") that dirfd names, "" if unknown.
func (t *Table) dirPath(e *procEntry, dirfd int64) string {
	d := t.getFD(e, dirfd)
	if d == nil || !strings.HasPrefix(d.info.Name, "/") {
		return ""
	}
	return dirSlash(d.info.Name)
}

// applyConnect: a successful (or in-progress) connect sets the tuple; a
// failed one leaves the fd as it was (Falco does not track failures).
//
// A successful connect on an fd the table does not know (its socket event
// was lost, or the close of a previous fd of the same number on another
// thread was reported after it) is described from the event alone, which
// carries both ends: no /proc read on this path, the hottest of a
// connect-heavy workload.
func (t *Table) applyConnect(e *procEntry, ev *event.Event) {
	if (ev.Ret != 0 && ev.Ret != eInProgress) || !ev.Addr.Valid() {
		ev.FDInfo = t.fdInfo(e, ev.FD)
		return
	}
	old := t.peekFD(e, ev.FD)
	client, server, mapped := unmapPair(ev.Local, ev.Addr)
	n := socketBase(old, ev.FD, server.Family)
	if mapped {
		n.info.Type = event.FDIPv4
	}
	if old == nil && ev.Ret == eInProgress && (n.info.Type == event.FDIPv4 || n.info.Type == event.FDIPv6) {
		n.info.L4Proto = "tcp" // only a stream connect is in progress
	}
	n.info.Client, n.info.Server, n.info.Connected = client, server, true
	if old != nil && old.info.Client == client && old.info.Server == server && old.info.Connected {
		ev.FDInfo = t.touchFD(e, ev.FD, old)
		return
	}
	n.info.Name = t.tupleName(n.info.Type, client, server)
	ev.FDInfo = t.put(e, ev.FD, old, n)
}

// applyDatagram handles send*/recv*: on a socket that is not connected an
// address changes the tuple (fd.name_changed). A socket first seen here is
// assumed to be UDP, as Falco does.
func (t *Table) applyDatagram(e *procEntry, ev *event.Event) {
	old := t.getFD(e, ev.FD)
	if ev.Ret < 0 || !ev.Addr.Valid() || (old != nil && old.info.Connected) {
		ev.FDInfo = t.touchFD(e, ev.FD, old)
		return
	}
	recv := ev.Type == event.TypeRecvfrom || ev.Type == event.TypeRecvmsg
	var client, server event.SockAddr
	if recv {
		client, server = ev.Addr, ev.Local
		if !server.Valid() && old != nil {
			server = old.info.Server
		}
		if !server.Valid() {
			server = unspecified(client.Family)
		}
	} else {
		client, server = ev.Local, ev.Addr
		if !client.Valid() && old != nil {
			client = old.info.Client
		}
		if !client.Valid() {
			client = unspecified(server.Family)
		}
	}
	if old != nil && old.info.Client == client && old.info.Server == server {
		ev.FDInfo = t.touchFD(e, ev.FD, old)
		return
	}
	n := socketBase(old, ev.FD, ev.Addr.Family)
	if old == nil && (n.info.Type == event.FDIPv4 || n.info.Type == event.FDIPv6) {
		n.info.L4Proto = "udp"
	}
	n.info.Client, n.info.Server = client, server
	n.info.Name = t.tupleName(n.info.Type, client, server)
	ev.FDInfo = t.put(e, ev.FD, old, n)
}

// unspecified is the "any" address of family (0.0.0.0:0, :::0), the end of
// a datagram tuple the event does not know.
func unspecified(family uint16) event.SockAddr {
	switch family {
	case syscall.AF_INET:
		return event.SockAddr{Family: family, IP: netip.IPv4Unspecified()}
	case syscall.AF_INET6:
		return event.SockAddr{Family: family, IP: netip.IPv6Unspecified()}
	}
	return event.SockAddr{}
}

// socketBase is the entry a socket event starts from: the existing one, or
// a socket of the address family when the fd is unknown.
func socketBase(old *fdEntry, fd int64, family uint16) fdEntry {
	if old != nil {
		n := *old
		if n.info.Type == event.FDUnknown {
			n.info.Type = familyType(family)
		}
		return n
	}
	return fdEntry{info: event.FDInfo{Num: fd, Type: familyType(family)}}
}

// put stores n as fd, replacing old (the current entry of fd, or nil), and
// returns the published FDInfo. When n equals old nothing is allocated.
// NameChanged is computed here: the name of an existing fd changed.
func (t *Table) put(e *procEntry, fd int64, old *fdEntry, n fdEntry) *event.FDInfo {
	n.info.Num = fd
	n.info.NameChanged = old != nil && old.info.Name != n.info.Name && old.info.Num == fd
	if old != nil && old.info == n.info && old.cloexec == n.cloexec {
		return &old.info
	}
	x := new(fdEntry)
	*x = n
	t.setFD(e, fd, x)
	return &x.info
}

// touchFD returns the FDInfo of an event that uses fd without changing it:
// old itself, or a copy with NameChanged cleared when it was set by the
// previous event.
func (t *Table) touchFD(e *procEntry, fd int64, old *fdEntry) *event.FDInfo {
	if old == nil {
		return nil
	}
	if !old.info.NameChanged {
		return &old.info
	}
	return t.put(e, fd, old, *old)
}

// fdInfo is the FDInfo of an event that uses fd.
func (t *Table) fdInfo(e *procEntry, fd int64) *event.FDInfo {
	return t.touchFD(e, fd, t.getFD(e, fd))
}

// peekFD returns the entry of fd without a /proc lookup.
func (t *Table) peekFD(e *procEntry, fd int64) *fdEntry {
	if e.fds == nil {
		return nil
	}
	return e.fds.m[fd]
}

// getFD returns the entry of fd, resolving it from /proc/PID/fd when the
// table does not know it.
func (t *Table) getFD(e *procEntry, fd int64) *fdEntry {
	if fd < 0 {
		return nil
	}
	if e.fds != nil {
		if x := e.fds.m[fd]; x != nil {
			return x
		}
	}
	if e.placeholder {
		return nil // /proc did not know the process: it has no fds to read
	}
	start := time.Now()
	if start.Sub(t.lookupWindow) >= time.Second {
		t.lookupWindow, t.lookupSpent = start, 0
	}
	if t.lookupSpent >= t.cfg.FDLookupBudget {
		t.stats.FDLookupsSkipped++
		return nil
	}
	t.stats.FDLookups++
	x := readFD(t.cfg.ProcRoot, e.p.PID, fd)
	t.lookupSpent += time.Since(start)
	if x == nil {
		t.stats.FDMisses++
		return nil
	}
	t.setFD(e, fd, x)
	return x
}

// writable returns e's own fd table, copying a shared one.
func (t *Table) writable(e *procEntry) *fdTable {
	switch {
	case e.fds == nil:
		e.fds = &fdTable{refs: 1, m: make(map[int64]*fdEntry)}
	case e.fds.refs > 1:
		c := &fdTable{refs: 1, m: make(map[int64]*fdEntry, len(e.fds.m))}
		for k, v := range e.fds.m {
			c.m[k] = v
		}
		e.fds.refs--
		e.fds = c
		t.nfds += len(c.m)
	}
	return e.fds
}

// setFD stores x as fd in e's table, enforcing the bounds.
func (t *Table) setFD(e *procEntry, fd int64, x *fdEntry) {
	tb := t.writable(e)
	if _, ok := tb.m[fd]; !ok {
		if len(tb.m) >= t.cfg.MaxFDsPerProc {
			for k := range tb.m {
				delete(tb.m, k)
				t.nfds--
				t.stats.FDEvictions++
				break
			}
		}
		t.nfds++
	}
	tb.m[fd] = x
	if t.nfds > t.cfg.MaxFDs {
		t.shrinkFDs(e)
	}
}

// delFD removes fd from e's table.
func (t *Table) delFD(e *procEntry, fd int64) {
	if e.fds == nil {
		return
	}
	if _, ok := e.fds.m[fd]; !ok {
		return
	}
	tb := t.writable(e)
	delete(tb.m, fd)
	t.nfds--
}

// releaseFDs drops e's reference to its fd table.
func (t *Table) releaseFDs(e *procEntry) {
	if e.fds == nil {
		return
	}
	e.fds.refs--
	if e.fds.refs == 0 {
		t.nfds -= len(e.fds.m)
	}
	e.fds = nil
}

// shrinkFDs brings the fd total under MaxFDs by dropping the fd tables of
// the least recently used processes, then fds of cur itself.
func (t *Table) shrinkFDs(cur *procEntry) {
	for v := t.lru.prev; v != &t.lru && t.nfds > t.cfg.MaxFDs; v = v.prev {
		if v == cur || v.fds == nil {
			continue
		}
		if v.fds.refs == 1 {
			t.stats.FDEvictions += uint64(len(v.fds.m))
		}
		t.releaseFDs(v)
	}
	if t.nfds > t.cfg.MaxFDs && cur.fds != nil {
		tb := t.writable(cur)
		for k := range tb.m {
			if t.nfds <= t.cfg.MaxFDs {
				break
			}
			delete(tb.m, k)
			t.nfds--
			t.stats.FDEvictions++
		}
	}
}

// dropCloexec removes the close-on-exec fds at exec.
func (t *Table) dropCloexec(e *procEntry) {
	if e.fds == nil {
		return
	}
	has := false
	for _, x := range e.fds.m {
		if x.cloexec {
			has = true
			break
		}
	}
	if !has {
		return
	}
	tb := t.writable(e)
	for k, x := range tb.m {
		if x.cloexec {
			delete(tb.m, k)
			t.nfds--
		}
	}
}

// LookupFD returns a copy of fd of process pid, resolving the process and
// the fd from /proc when the table does not know them. Safe from any
// goroutine.
func (t *Table) LookupFD(pid uint32, fd int64) (event.FDInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(pid)
	if e == nil {
		if e = t.loadProc(pid, 0); e == nil {
			return event.FDInfo{}, false
		}
	}
	x := t.getFD(e, fd)
	if x == nil {
		return event.FDInfo{}, false
	}
	return x.info, true
}

// FD implements event.ProcState: the fd the table knows as num.
func (e *procEntry) FD(num int64) (*event.FDInfo, bool) {
	if e.fds == nil {
		return nil, false
	}
	x := e.fds.m[num]
	if x == nil {
		return nil, false
	}
	return &x.info, true
}

// EachFD implements event.ProcState.
func (e *procEntry) EachFD(fn func(*event.FDInfo) bool) {
	if e.fds == nil {
		return
	}
	for _, x := range e.fds.m {
		if !fn(&x.info) {
			return
		}
	}
}

// Threads implements event.ProcState.
func (e *procEntry) Threads() (leader bool, others int) { return !e.exited, len(e.tids) }
