package profile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// landlockFileRights are the rights that apply to a file (the others only
// to directories).
var landlockFileRights = []string{"execute", "write_file", "read_file", "truncate"}

// landlockNetPortAttr is struct landlock_net_port_attr (packed).
type landlockNetPortAttr struct {
	AllowedAccess uint64
	Port          uint64
}

const landlockRuleNetPort = 2 // LANDLOCK_RULE_NET_PORT

func landlockBits(names, all []string) uint64 {
	var b uint64
	for _, n := range names {
		if i := slices.Index(all, n); i >= 0 {
			b |= 1 << i
		}
	}
	return b
}

// Restrict enforces the ruleset on the calling thread and what it runs
// from now on (execve keeps it): it sets no_new_privs, drops the rights
// the kernel's Landlock ABI lacks (refer below 2, truncate below 3, TCP
// ports below 4), drops from a path's rule the rights its type does not
// take (a file gets no directory rights), and skips rules whose path
// does not exist. The caller locks its OS thread and execs right after
// (Go's other threads are not restricted).
func (rs *LandlockRuleset) Restrict() error {
	abi, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return fmt.Errorf("landlock: not available: %w", e)
	}
	fs := landlockBits(rs.HandledAccessFS, landlockFSAll)
	net := landlockBits(rs.HandledAccessNet, landlockNetAll)
	if abi < 2 {
		fs &^= landlockBits([]string{"refer"}, landlockFSAll)
	}
	if abi < 3 {
		fs &^= landlockBits([]string{"truncate"}, landlockFSAll)
	}
	size := unsafe.Sizeof(uint64(0)) * 2
	if abi < 4 {
		net, size = 0, unsafe.Sizeof(uint64(0))
	}
	attr := unix.LandlockRulesetAttr{Handled_access_fs: fs, Handled_access_net: net}
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return fmt.Errorf("landlock: create ruleset: %w", e)
	}
	defer unix.Close(int(fd))
	for _, r := range rs.Rules {
		switch r.Type {
		case "path_beneath":
			pfd, err := unix.Open(r.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				return fmt.Errorf("landlock: %s: %w", r.Path, err)
			}
			var st unix.Stat_t
			allowed := landlockBits(r.Allowed, landlockFSAll) & fs
			if unix.Fstat(pfd, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				allowed &= landlockBits(landlockFileRights, landlockFSAll)
			}
			pb := unix.LandlockPathBeneathAttr{Allowed_access: allowed, Parent_fd: int32(pfd)}
			_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
			unix.Close(pfd)
			if e != 0 && allowed != 0 {
				return fmt.Errorf("landlock: rule %s: %w", r.Path, e)
			}
		case "net_port":
			allowed := landlockBits(r.Allowed, landlockNetAll) & net
			if allowed == 0 {
				continue
			}
			np := landlockNetPortAttr{AllowedAccess: allowed, Port: uint64(r.Port)}
			if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, landlockRuleNetPort, uintptr(unsafe.Pointer(&np)), 0, 0, 0); e != 0 {
				return fmt.Errorf("landlock: rule port %d: %w", r.Port, e)
			}
		default:
			return fmt.Errorf("landlock: unknown rule type %q", r.Type)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("landlock: no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
		return fmt.Errorf("landlock: restrict self: %w", e)
	}
	return nil
}

// ExecRestricted restricts the process by the ruleset and replaces it
// with argv (vigil profile landlock --exec).
func (rs *LandlockRuleset) ExecRestricted(argv []string) error {
	runtime.LockOSThread() // the restriction is the thread's; exec keeps it
	if err := rs.Restrict(); err != nil {
		return err
	}
	return unix.Exec(argv[0], argv, os.Environ())
}
