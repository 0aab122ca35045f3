package sensor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Tier is an event type's drop priority: when the ring buffer fills, the
// kernel sheds the low tier first (once half the ring is pending), then the
// normal tier (past three quarters), so the last quarter is kept for the
// critical tier and a flood of low-value events cannot push process
// lifecycle or security events out. What is shed is counted under
// ReasonShed by type.
type Tier uint8

const (
	// TierCritical: process lifecycle (exec, fork, exit, kill) and the
	// security category (ptrace, setuid, mount, modules, bpf, ...), and
	// memfd_create (fileless execution). Lost only when the whole ring is
	// full.
	TierCritical = Tier(vigilVigilTierVIGIL_TIER_CRITICAL)
	// TierNormal: the other file and network events.
	TierNormal = Tier(vigilVigilTierVIGIL_TIER_NORMAL)
	// TierLow: the high-volume events that describe no new object: close,
	// the send/recv family and the read/write family.
	TierLow = Tier(vigilVigilTierVIGIL_TIER_LOW)
)

func (t Tier) String() string {
	switch t {
	case TierCritical:
		return "critical"
	case TierNormal:
		return "normal"
	case TierLow:
		return "low"
	}
	return "off"
}

// TierOf returns the drop priority of an event type.
func TierOf(t event.Type) Tier {
	switch t {
	case event.TypeClose, event.TypeSendto, event.TypeSendmsg, event.TypeRecvfrom, event.TypeRecvmsg:
		return TierLow
	case event.TypeMemfdCreate:
		return TierCritical
	}
	if event.IOTypes.Has(t) {
		return TierLow
	}
	switch event.Lookup(t).Category {
	case event.CatProcess, event.CatSecurity:
		return TierCritical
	}
	return TierNormal
}

// Interest is what a consumer needs from the sensor: the event types to
// report and, for opens, the in-kernel filter (nil: every open). InterestOf
// compiles it from a ruleset.
type Interest struct {
	Types event.TypeSet
	Open  *OpenFilter
	// Snap are the I/O types whose data buffer's first bytes are captured
	// (Event.Buffer): those of the rules that read evt.buffer.
	Snap event.TypeSet
	// Connects is the in-kernel predicate on connect: only connects on
	// sockets of these families are reported (0: every connect).
	Connects Families
}

// Families is a set of socket address families, for the connect filter:
// a connect is reported when the family of its socket (what fd.typechar
// shows) is in the set; a connect whose socket the kernel cannot name (the
// fd is not a socket) is always reported. 0 means every family.
type Families uint8

const (
	FamilyUnix  = Families(vigilVigilFamilyVIGIL_FAM_UNIX)  // AF_UNIX
	FamilyInet  = Families(vigilVigilFamilyVIGIL_FAM_INET)  // AF_INET
	FamilyInet6 = Families(vigilVigilFamilyVIGIL_FAM_INET6) // AF_INET6
	FamilyOther = Families(vigilVigilFamilyVIGIL_FAM_OTHER) // any other (netlink, packet, vsock...)
	// AllFamilies is every family: no filtering.
	AllFamilies = FamilyUnix | FamilyInet | FamilyInet6 | FamilyOther
)

// String describes the connect filter for logs and `vigil doctor`.
func (f Families) String() string {
	if f == 0 || f&AllFamilies == AllFamilies {
		return "every connect"
	}
	var s []string
	for _, x := range []struct {
		f    Families
		name string
	}{{FamilyUnix, "unix"}, {FamilyInet, "inet"}, {FamilyInet6, "inet6"}, {FamilyOther, "other"}} {
		if f&x.f != 0 {
			s = append(s, x.name)
		}
	}
	if len(s) == 0 {
		return "no connect"
	}
	return "connects on " + strings.Join(s, "|") + " sockets"
}

// kernel returns the type_conf.families bits of f (0: no filtering).
func (f Families) kernel() uint8 {
	if f&AllFamilies == AllFamilies {
		return 0
	}
	if f == 0 {
		return 0
	}
	return uint8(f)
}

// Access is a set of open access modes: bit 1 << (flags & O_ACCMODE).
type Access uint8

const (
	AccessRead      Access = 1 << 0 // O_RDONLY
	AccessWrite     Access = 1 << 1 // O_WRONLY
	AccessReadWrite Access = 1 << 2 // O_RDWR
	accessInvalid   Access = 1 << 3 // O_ACCMODE: kept whenever anything is
	// AccessAll is every access mode.
	AccessAll = AccessRead | AccessWrite | AccessReadWrite | accessInvalid
)

// OpenFilter is the in-kernel predicate on open, openat, openat2 and creat:
// an open is reported when its access mode is in AnyPath, or its path is
// relative, not in resolved form ("//", "/./", "/../": only user space
// knows the resolved name) or holds "..", or the path extends a prefix
// whose access modes include it. O_PATH opens are always reported. A nil *OpenFilter
// reports every open.
//
// With Closes, the close of an fd that a dropped open created is dropped
// too (set it only when no rule matches close): the kernel keeps, in the
// process's task storage, a bitmap of such fds below 1024, set by a
// dropped open, cleared when a reported event (open, socket, accept, dup2
// ...) creates the fd again, forgotten at exec; a higher fd's close is
// sent.
type OpenFilter struct {
	AnyPath  Access
	Prefixes map[string]Access // path prefix → access modes wanted below it
	Closes   bool
}

// MaxPrefix is the longest prefix the kernel compares; a longer one is cut
// (the filter then reports a little more, never less).
const MaxPrefix = vigilPrefixMax

// String describes the filter for logs and `vigil doctor`.
func (f *OpenFilter) String() string {
	if f == nil {
		return "every open"
	}
	var ps []string
	for p, a := range f.Prefixes {
		ps = append(ps, p+":"+a.String())
	}
	sort.Strings(ps)
	closes := ""
	if f.Closes {
		closes = "; their closes only"
	}
	return fmt.Sprintf("opens with access %s anywhere, or below %d prefixes [%s]%s", f.AnyPath, len(ps), strings.Join(ps, " "), closes)
}

func (a Access) String() string {
	if a&AccessAll == AccessAll {
		return "any"
	}
	var s []string
	if a&AccessRead != 0 {
		s = append(s, "r")
	}
	if a&AccessWrite != 0 {
		s = append(s, "w")
	}
	if a&AccessReadWrite != 0 {
		s = append(s, "rw")
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// prefixEntries returns the trie's entries: each prefix, cut to MaxPrefix,
// with the access modes of every shorter prefix it extends folded in (a
// trie lookup returns only the longest match).
func (f *OpenFilter) prefixEntries() map[string]Access {
	cut := map[string]Access{}
	for p, a := range f.Prefixes {
		if len(p) > MaxPrefix {
			p = p[:MaxPrefix]
		}
		cut[p] |= a | accessInvalid
	}
	out := make(map[string]Access, len(cut))
	for p, a := range cut {
		for q, b := range cut {
			if len(q) < len(p) && strings.HasPrefix(p, q) {
				a |= b
			}
		}
		out[p] = a
	}
	return out
}

// fdTrack returns the unsent-fd bits (enum vigil_fd_track) of type t under filter f.
func (f *OpenFilter) fdTrack(t event.Type) uint8 {
	if f == nil || !f.Closes {
		return 0
	}
	var b uint8
	if isOpen(t) {
		b |= uint8(vigilVigilFdTrackVIGIL_FD_RECORD)
	}
	if t == event.TypeClose {
		b |= uint8(vigilVigilFdTrackVIGIL_FD_CLOSE)
	}
	if event.Lookup(t).CreatesFD() {
		b |= uint8(vigilVigilFdTrackVIGIL_FD_CLEAR)
	}
	return b
}

// isOpen reports whether t is one of the open events the filter applies to.
func isOpen(t event.Type) bool {
	return t == event.TypeOpen || t == event.TypeOpenat || t == event.TypeOpenat2 || t == event.TypeCreat
}
