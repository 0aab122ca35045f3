package sensor

import (
	"errors"
	"net/netip"
	"strings"
	"unsafe"

	"github.com/vigilsec/vigil/internal/event"
)

// Record offsets, from the bpf2go-generated mirrors of bpf/vigil.h.
const (
	hdrSize  = int(unsafe.Sizeof(vigilVigilHdr{}))
	netSize  = int(unsafe.Sizeof(vigilVigilNet{}))
	snapSize = int(unsafe.Sizeof(vigilVigilSnap{}))
	execSize = int(unsafe.Sizeof(vigilVigilExec{}))
	fileSize = int(unsafe.Sizeof(vigilVigilFile{}))
	strMax   = 512 // VIGIL_STR_MAX

	recSys  = uint8(vigilVigilRecKindVIGIL_REC_SYS)
	recNet  = uint8(vigilVigilRecKindVIGIL_REC_NET)
	recExec = uint8(vigilVigilRecKindVIGIL_REC_EXEC)
	recFork = uint8(vigilVigilRecKindVIGIL_REC_FORK)
	recExit = uint8(vigilVigilRecKindVIGIL_REC_EXIT)
)

// Created once: returned per bad record, and per empty read of Drain.
var (
	errShort = errors.New("sensor: short record")
	errEmpty = errors.New("sensor: rings empty")
)

// decode fills ev from one ring buffer record. It returns the record's
// type even on error so that the failure can be counted.
func (s *Sensor) decode(b []byte, ev *event.Event) (event.Type, error) {
	if len(b) < hdrSize {
		return 0, errShort
	}
	h := (*vigilVigilHdr)(unsafe.Pointer(&b[0]))
	t := event.Type(h.Type)
	if t == 0 || t >= event.NumTypes {
		return event.NumTypes, errShort
	}
	*ev = event.Event{
		Type: t, Time: int64(h.Ts) + s.bootOff, PID: h.Pid, TID: h.Tid, PPID: h.Ppid,
		UID: h.Uid, GID: h.Gid, LoginUID: h.Loginuid, Comm: s.comm(&h.Comm), CgroupID: h.CgroupId,
		Ret: h.Ret, FD: -1, FD2: -1, DirFD: -1, DirFD2: -1, CPU: h.Cpu,
	}
	body := b[hdrSize:]
	l := &layouts[t]
	switch h.Kind {
	case recSys:
		applyArgs(ev, l, h)
		off := 0
		for i := 0; i < int(l.desc.Nstr); i++ {
			n := int(h.Len[i])
			if off+n > len(body) || n >= strMax {
				return t, errShort
			}
			str := string(body[off : off+n])
			off += n + 1
			switch l.strSlot[i] {
			case event.SlotPath:
				ev.Path = str
			case event.SlotPath2:
				ev.Path2 = str
			case event.SlotStr:
				ev.Str = str
			}
		}
		if l.desc.Flags&vigilDescFile != 0 {
			// Bit 32 of openat2's 64-bit flags is the created mark, never
			// the caller's (the kernel refuses it).
			ev.Flags &^= event.OpenCreated
			if h.Flags&hdrFFile != 0 {
				if off+fileSize > len(body) {
					return t, errShort
				}
				f := (*vigilVigilFile)(unsafe.Pointer(&body[off]))
				ev.Arg[1], ev.Arg[2] = int64(f.Dev), int64(f.Ino)
				if f.Created != 0 && t != event.TypeCreat {
					ev.Flags |= event.OpenCreated
				}
			}
		}
	case recNet:
		if len(body) < netSize {
			return t, errShort
		}
		applyArgs(ev, l, h)
		n := (*vigilVigilNet)(unsafe.Pointer(&body[0]))
		alen := min(int(n.AddrLen), len(n.Addr))
		ev.Addr = parseSockaddr(n.Addr[:alen])
		switch n.LocalFamily {
		case unixAFInet:
			ev.Local = event.SockAddr{Family: unixAFInet, IP: netip.AddrFrom4([4]byte(n.LocalIp[:4])), Port: n.LocalPort}
		case unixAFInet6:
			ev.Local = event.SockAddr{Family: unixAFInet6, IP: netip.AddrFrom16(n.LocalIp), Port: n.LocalPort}
		}
		if len(body) >= netSize+snapSize {
			sn := (*vigilVigilSnap)(unsafe.Pointer(&body[netSize]))
			s.snap = append(s.snap[:0], sn.Data[:min(int(sn.Len), len(sn.Data))]...)
			ev.Buffer = s.snap
		}
	case recExec:
		if len(body) < execSize {
			return t, errShort
		}
		x := (*vigilVigilExec)(unsafe.Pointer(&body[0]))
		s.exec = event.Exec{
			Filename:      cstr(x.Filename[:], int(x.FilenameLen)),
			ExePath:       joinRev(x.Exe[:], int(x.ExeLen)),
			Argv:          s.lists.split(x.Argv[:], int(x.ArgvLen)),
			ArgvTruncated: h.Flags&hdrFArgvTrunc != 0,
			Cwd:           joinRev(x.Cwd[:], int(x.CwdLen)),
			Tty:           x.Tty,
			CapEff:        x.CapEff,
			CapPrm:        x.CapPrm,
			CapInh:        x.CapInh,
			UpperLayer:    h.Flags&hdrFUpper != 0,
			FromMemfd:     h.Flags&hdrFMemfd != 0,
			Writable:      h.Flags&hdrFWritable != 0,
			Env:           s.lists.split(x.Env[:], int(x.EnvLen)),
			EnvTruncated:  h.Flags&hdrFEnvTrunc != 0,
			IDs:           event.NSIDs{VPID: x.Vpid, VTID: x.Vtid, VPGID: x.Vpgid, VSID: x.Vsid},
			ExeIno:        x.ExeIno,
			ExeCtime:      x.ExeCtime,
			ExeMtime:      x.ExeMtime,
			Usage: event.Usage{Known: true, VMSize: x.VmSize, VMRSS: x.VmRss, VMSwap: x.VmSwap,
				PFMajor: x.PfMajor, PFMinor: x.PfMinor, FDLimit: x.FdLimit},
		}
		if x.PidnsStart != 0 {
			s.exec.PidnsStart = int64(x.PidnsStart) + s.bootOff
		}
		ev.Exec = &s.exec
		ev.Path = s.exec.Filename
	case recFork:
		ev.Ret = int64(h.Args[0])
		ev.Arg[0] = int64(h.Args[1])
	case recExit:
		ev.Arg[0] = int64(int32(h.Args[0]))
	default:
		return t, errShort
	}
	return t, nil
}

const (
	unixAFUnix  = 1
	unixAFInet  = 2
	unixAFInet6 = 10
)

func applyArgs(ev *event.Event, l *layout, h *vigilVigilHdr) {
	sv := func(i int8) int64 {
		if l.wide&(1<<i) != 0 {
			return int64(h.Args[i])
		}
		return int64(int32(h.Args[i]))
	}
	uv := func(i int8) uint64 {
		if l.wide&(1<<i) != 0 {
			return h.Args[i]
		}
		return uint64(uint32(h.Args[i]))
	}
	if l.fd >= 0 {
		ev.FD = sv(l.fd)
	}
	if l.fd2 >= 0 {
		ev.FD2 = sv(l.fd2)
	}
	if l.dirfd >= 0 {
		ev.DirFD = sv(l.dirfd)
	}
	if l.dirfd2 >= 0 {
		ev.DirFD2 = sv(l.dirfd2)
	}
	if l.flags >= 0 {
		ev.Flags = uv(l.flags)
	}
	if l.mode >= 0 {
		ev.Mode = uint32(h.Args[l.mode])
	}
	for i, a := range l.arg {
		if a >= 0 {
			ev.Arg[i] = sv(a)
		}
	}
	if l.sizeFromRet && h.Ret > 0 {
		ev.Arg[0] = h.Ret
	}
}

// parseSockaddr decodes a struct sockaddr as the process passed it.
func parseSockaddr(b []byte) event.SockAddr {
	if len(b) < 2 {
		return event.SockAddr{}
	}
	fam := uint16(b[0]) | uint16(b[1])<<8
	switch fam {
	case unixAFInet:
		if len(b) < 8 {
			return event.SockAddr{Family: fam}
		}
		return event.SockAddr{Family: fam, Port: uint16(b[2])<<8 | uint16(b[3]), IP: netip.AddrFrom4([4]byte(b[4:8]))}
	case unixAFInet6:
		if len(b) < 24 {
			return event.SockAddr{Family: fam}
		}
		return event.SockAddr{Family: fam, Port: uint16(b[2])<<8 | uint16(b[3]), IP: netip.AddrFrom16([16]byte(b[8:24]))}
	case unixAFUnix:
		p := b[2:]
		if len(p) > 0 && p[0] == 0 {
			return event.SockAddr{Family: fam, Path: "@" + string(trimNUL(p[1:]))}
		}
		return event.SockAddr{Family: fam, Path: string(trimNUL(p))}
	}
	return event.SockAddr{Family: fam}
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func bytesOf(c []int8) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), len(c)) }

func cstr(c []int8, n int) string {
	b := bytesOf(c)
	n = min(n, len(b))
	return string(b[:n])
}

// joinRev turns the path components written leaf first (each ending in
// NUL) into an absolute path.
func joinRev(c []int8, n int) string {
	b := bytesOf(c)
	n = min(n, len(b))
	if n == 0 {
		return "/"
	}
	parts := strings.Split(strings.TrimSuffix(string(b[:n]), "\x00"), "\x00")
	var sb strings.Builder
	sb.Grow(n + 1)
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == "" || parts[i] == "/" {
			continue
		}
		sb.WriteByte('/')
		sb.WriteString(parts[i])
	}
	if sb.Len() == 0 {
		return "/"
	}
	return sb.String()
}

// splitArgv splits the NUL-separated argument area of the new program.
func splitArgv(c []int8, n int) []string {
	b := bytesOf(c)
	n = min(n, len(b))
	if n == 0 {
		return nil
	}
	s := string(b[:n])
	s = strings.TrimSuffix(s, "\x00")
	return strings.Split(s, "\x00")
}

// lists interns the argv and environment lists of execs: the processes of
// a host or a container mostly run the same few command lines with the
// same environment, and the process table keeps both for every live
// process (10k identical workers would otherwise hold 10k copies of a
// 1 KiB environment). The interned slices are shared: nobody may modify
// them. Bounded: past listsMaxBytes of keys the set starts again.
type lists struct {
	m     map[string][]string
	bytes int
}

const listsMaxBytes = 1 << 20

// split returns splitArgv(c, n), interned.
func (l *lists) split(c []int8, n int) []string {
	b := bytesOf(c)
	n = min(n, len(b))
	if n == 0 {
		return nil
	}
	if v, ok := l.m[string(b[:n])]; ok {
		return v
	}
	v := splitArgv(c, n)
	if l.m == nil || l.bytes+n > listsMaxBytes {
		l.m, l.bytes = map[string][]string{}, 0
	}
	l.m[string(b[:n])] = v
	l.bytes += n
	return v
}

// comm interns task names: a handful of distinct values cover most events.
func (s *Sensor) comm(c *[16]int8) string {
	var k [16]byte
	for i, v := range c {
		if v == 0 {
			break
		}
		k[i] = byte(v)
	}
	if v, ok := s.comms[k]; ok {
		return v
	}
	v := string(trimNUL(k[:]))
	if len(s.comms) < 4096 {
		s.comms[k] = v
	}
	return v
}
