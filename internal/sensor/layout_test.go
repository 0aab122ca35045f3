package sensor

import (
	"net/netip"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// TestLayoutCoversDefs checks that every argument the def table names is
// filled by the layout of its type, so no def argument is silently zero.
func TestLayoutCoversDefs(t *testing.T) {
	for _, d := range event.Defs()[1:] {
		l := &layouts[d.Type]
		if d.Syscall != "" && l.nr <= 0 && d.Syscall != "read" {
			t.Errorf("%s: no syscall number", d.Name)
		}
		if int(l.desc.Type) != int(d.Type) {
			t.Errorf("%s: desc type %d", d.Name, l.desc.Type)
		}
		if d.Syscall == "" {
			continue
		}
		strs := map[event.Slot]bool{}
		for i := 0; i < int(l.desc.Nstr); i++ {
			strs[l.strSlot[i]] = true
		}
		for _, a := range d.Args {
			ok := true
			switch a.Slot {
			case event.SlotFD:
				ok = l.fd >= 0
			case event.SlotFD2:
				ok = l.fd2 >= 0
			case event.SlotDirFD:
				ok = l.dirfd >= 0
			case event.SlotDirFD2:
				ok = l.dirfd2 >= 0
			case event.SlotFlags:
				// execve's flags are Falco's exe flags, not a syscall argument.
				ok = l.flags >= 0 || d.Type == event.TypeExecve
			case event.SlotMode:
				ok = l.mode >= 0 || d.Type == event.TypeOpenat2
			case event.SlotPath, event.SlotPath2, event.SlotStr:
				ok = strs[a.Slot]
			case event.SlotAddr:
				ok = l.desc.AddrMode != 0
			case event.SlotArg0, event.SlotArg1, event.SlotArg2, event.SlotArg3:
				ok = l.arg[a.Slot-event.SlotArg0] >= 0 || (a.Slot == event.SlotArg0 && l.sizeFromRet) ||
					// an open's dev and ino come from struct vigil_file.
					((a.Slot == event.SlotArg1 || a.Slot == event.SlotArg2) && l.desc.Flags&vigilDescFile != 0)
			}
			if !ok {
				t.Errorf("%s: argument %s (slot %d) is not captured", d.Name, a.Name, a.Slot)
			}
		}
	}
}

// TestSharedEnums checks the C constants against event.Type.
func TestSharedEnums(t *testing.T) {
	for c, want := range map[vigilVigilType]event.Type{
		vigilVigilTypeVIGIL_T_EXECVE: event.TypeExecve, vigilVigilTypeVIGIL_T_CLONE: event.TypeClone,
		vigilVigilTypeVIGIL_T_FORK: event.TypeFork, vigilVigilTypeVIGIL_T_VFORK: event.TypeVfork,
		vigilVigilTypeVIGIL_T_CLONE3: event.TypeClone3, vigilVigilTypeVIGIL_T_PROCEXIT: event.TypeProcExit,
	} {
		if event.Type(c) != want {
			t.Errorf("C type %d, Go %v=%d", c, want, want)
		}
	}
	if event.NumTypes > 128 {
		t.Errorf("event.NumTypes %d exceeds VIGIL_MAX_TYPES", event.NumTypes)
	}
	for r := Reason(0); r < NumReasons; r++ {
		if r.String() == "" || r.String() == "unknown" {
			t.Errorf("reason %d has no name", r)
		}
	}
}

func TestParseSockaddr(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want event.SockAddr
	}{
		{[]byte{2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, event.SockAddr{Family: 2, IP: netip.MustParseAddr("127.0.0.1"), Port: 8080}},
		{append([]byte{10, 0, 0, 80, 0, 0, 0, 0}, netip.MustParseAddr("::1").AsSlice()...), event.SockAddr{Family: 10, IP: netip.MustParseAddr("::1"), Port: 80}},
		{append([]byte{1, 0}, "/run/x.sock\x00junk"...), event.SockAddr{Family: 1, Path: "/run/x.sock"}},
		{append([]byte{1, 0, 0}, "abs"...), event.SockAddr{Family: 1, Path: "@abs"}},
		{[]byte{2, 0, 1}, event.SockAddr{Family: 2}},
		{[]byte{2}, event.SockAddr{}},
	} {
		if got := parseSockaddr(c.in); got != c.want {
			t.Errorf("parseSockaddr(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestJoinRev(t *testing.T) {
	mk := func(s string) []int8 {
		b := make([]int8, 768)
		for i := range s {
			b[i] = int8(s[i])
		}
		return b
	}
	for in, want := range map[string]string{"": "/", "cat\x00bin\x00usr\x00": "/usr/bin/cat", "tmp\x00": "/tmp"} {
		if got := joinRev(mk(in), len(in)); got != want {
			t.Errorf("joinRev(%q) = %q, want %q", in, got, want)
		}
	}
	if got := splitArgv(mk("sh\x00-c\x00x y\x00"), 10); len(got) != 3 || got[2] != "x y" {
		t.Errorf("splitArgv = %q", got)
	}
}

// TestListsInterned: the same argv or environment bytes give the same
// (shared) slice; other bytes a list of their own.
func TestListsInterned(t *testing.T) {
	mk := func(s string) []int8 {
		b := make([]int8, 1024)
		for i := range s {
			b[i] = int8(s[i])
		}
		return b
	}
	var l lists
	env := "PATH=/bin\x00HOME=/root\x00"
	a, b := l.split(mk(env), len(env)), l.split(mk(env), len(env))
	if len(a) != 2 || a[1] != "HOME=/root" || &a[0] != &b[0] {
		t.Errorf("split %q twice: %q %q, shared %v", env, a, b, len(a) > 0 && len(b) > 0 && &a[0] == &b[0])
	}
	if c := l.split(mk("sleep\x003600\x00"), 11); len(c) != 2 || c[0] != "sleep" || &c[0] == &a[0] {
		t.Errorf("other bytes: %q", c)
	}
	if l.split(mk(""), 0) != nil {
		t.Error("empty list not nil")
	}
}
