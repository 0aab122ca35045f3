package state

import (
	"net/netip"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigilsec/vigil/internal/event"
)

// unknownDir prefixes a relative path whose base directory is unknown, as
// Falco does ("<UNKNOWN>…").
const unknownDir = "<UNKNOWN>"

// resolvePath returns Falco's fd.name for p: absolute and lexically
// normalised (".", "..", repeated and trailing "/" collapsed, symlinks not
// resolved). base is the directory a relative p is relative to, ending in
// "/"; "" means unknown.
func resolvePath(base, p string) string {
	if p == "" {
		return ""
	}
	if p[0] == '/' {
		return path.Clean(p)
	}
	if base == "" {
		return unknownDir + p
	}
	return path.Clean(base + p)
}

// dirSlash returns dir with exactly one trailing "/" (proc.cwd's format).
func dirSlash(dir string) string {
	if dir == "" || dir[len(dir)-1] == '/' {
		return dir
	}
	return dir + "/"
}

// collapseSlashes returns p with runs of "/" collapsed (fd.nameraw). It does
// not allocate when p has none.
func collapseSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && len(b) > 0 && b[len(b)-1] == '/' {
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}

// appendAddr appends "ip:port" (IPv6 without brackets, as Falco prints it)
// or the unix path.
func appendAddr(b []byte, a event.SockAddr) []byte {
	switch a.Family {
	case syscall.AF_INET, syscall.AF_INET6:
		ip := a.IP
		if !ip.IsValid() {
			if a.Family == syscall.AF_INET {
				ip = netip.IPv4Unspecified()
			} else {
				ip = netip.IPv6Unspecified()
			}
		}
		b = ip.AppendTo(b)
		b = append(b, ':')
		return strconv.AppendUint(b, uint64(a.Port), 10)
	case syscall.AF_UNIX:
		return append(b, a.Path...)
	}
	return b
}

// tupleName builds fd.name for a socket: "cip:cport->sip:sport" for IP
// sockets with both ends, the server (bound) address alone when there is
// no client, and the path for unix sockets (Vigil has no kernel socket
// pointers, so it uses the /proc-scan form of Falco's unix names).
func (t *Table) tupleName(typ event.FDType, client, server event.SockAddr) string {
	b := t.buf[:0]
	switch {
	case typ == event.FDUnix || server.Family == syscall.AF_UNIX || client.Family == syscall.AF_UNIX:
		if server.Path != "" {
			b = append(b, server.Path...)
		} else {
			b = append(b, client.Path...)
		}
	case client.Valid() && server.Valid():
		b = appendAddr(b, client)
		b = append(b, "->"...)
		b = appendAddr(b, server)
	case server.Valid():
		b = appendAddr(b, server)
	}
	t.buf = b
	return string(b)
}

// unmapPair converts a pair of IPv4-mapped IPv6 addresses to IPv4, as
// Falco does when both ends are mapped.
func unmapPair(c, s event.SockAddr) (event.SockAddr, event.SockAddr, bool) {
	if c.Family != syscall.AF_INET6 || s.Family != syscall.AF_INET6 || !c.IP.Is4In6() || !s.IP.Is4In6() {
		return c, s, false
	}
	c.IP, c.Family = c.IP.Unmap(), syscall.AF_INET
	s.IP, s.Family = s.IP.Unmap(), syscall.AF_INET
	return c, s, true
}

// familyType is the fd type of a socket of the given address family.
func familyType(family uint16) event.FDType {
	switch family {
	case syscall.AF_INET:
		return event.FDIPv4
	case syscall.AF_INET6:
		return event.FDIPv6
	case syscall.AF_UNIX:
		return event.FDUnix
	case syscall.AF_NETLINK:
		return event.FDNetlink
	}
	return event.FDUnknown
}

// l4proto is fd.l4proto for a socket created with socket(domain, typ, proto).
func l4proto(domain, typ, proto int64) string {
	if domain != syscall.AF_INET && domain != syscall.AF_INET6 {
		return ""
	}
	switch proto {
	case syscall.IPPROTO_TCP:
		return "tcp"
	case syscall.IPPROTO_UDP:
		return "udp"
	case syscall.IPPROTO_ICMP, syscall.IPPROTO_ICMPV6:
		return "icmp"
	case syscall.IPPROTO_RAW:
		return "raw"
	}
	switch typ & 0xf { // SOCK_TYPE_MASK
	case syscall.SOCK_STREAM:
		return "tcp"
	case syscall.SOCK_DGRAM:
		return "udp"
	case syscall.SOCK_RAW:
		return "raw"
	}
	return ""
}

// commLen is the kernel's comm length without its terminator (TASK_COMM_LEN-1).
const commLen = 15

// selfExecComm is the comm the kernel gives a program exec'd through
// /proc/self/exe (or /proc/PID/exe): the basename of that path.
const selfExecComm = "exe"

// isSelfExec tells whether filename is a /proc/self/exe or /proc/PID/exe
// path: a program re-executing itself, as busybox's shell does to run an
// applet (argv[0] = the applet).
func isSelfExec(filename string) bool {
	rest, ok := strings.CutPrefix(filename, "/proc/")
	if !ok {
		return false
	}
	pid, ok := strings.CutSuffix(rest, "/exe")
	if !ok || pid == "" {
		return false
	}
	if pid == "self" || pid == "thread-self" {
		return true
	}
	for _, c := range pid {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// argv0Comm is the comm the kernel would have given argv0 had it been
// exec'd by that name: its basename cut to the kernel's comm length. It is
// proc.name for a self re-exec, whose kernel comm ("exe") says nothing.
func argv0Comm(argv0 string) string {
	b := path.Base(argv0)
	if argv0 == "" || b == "/" || b == "." {
		return ""
	}
	if len(b) > commLen {
		b = b[:commLen]
	}
	return b
}
