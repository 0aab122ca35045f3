package landlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/policy"
)

// ErrNotExpressible is matched (errors.Is) by Compile's errors for sections
// Landlock cannot express.
var ErrNotExpressible = errors.New("not expressible as a Landlock ruleset")

// Grant is one rule of a ruleset: the hierarchy under Path (or the file)
// keeps Access.
type Grant struct {
	Path   string
	Access policy.Access
}

// Ruleset is a compiled file section.
type Ruleset struct {
	Policy  string
	Handled policy.Access // the accesses the ruleset restricts
	Grants  []Grant       // sorted by path
	Notes   []string      // what differs from the fanotify path (kill, audit rules)
}

// Compile compiles p's file section, resolving paths under root ("/" for
// the calling process's own root). A path on the way to a denied one is
// read as it is now (see the package doc).
func Compile(p *policy.Policy, root string) (*Ruleset, error) {
	if p.Mode == policy.ModeAudit {
		return nil, fmt.Errorf("policy %s: mode audit: %w (Landlock denies, it cannot report)", p.Name, ErrNotExpressible)
	}
	f := &p.File
	rs := &Ruleset{Policy: p.Name}
	grants := map[string]policy.Access{}
	for _, a := range []policy.Access{policy.AccessRead, policy.AccessWrite} {
		type item struct {
			path string // a file, or a directory without its trailing '/'
			dir  bool
			deny bool
		}
		var items []item
		for _, r := range f.Rules {
			if r.Access&a == 0 {
				continue
			}
			deny := r.Action.Denies()
			if r.Action == policy.ActionKill {
				rs.note(fmt.Sprintf("rule %s: kill is enforced as block (EACCES), the process is not killed", r.Name))
			}
			if r.Action == policy.ActionAudit {
				rs.note(fmt.Sprintf("rule %s: audit is not reported (the access is allowed)", r.Name))
			}
			for _, x := range r.Paths {
				items = append(items, item{path: resolve(root, x), deny: deny})
			}
			for _, d := range r.Dirs {
				items = append(items, item{path: resolve(root, strings.TrimSuffix(d, "/")), dir: true, deny: deny})
			}
		}
		// covers: does item i decide for every path under (or at) q?
		covers := func(i item, q string) bool { return i.path == q || (i.dir && under(q, i.path)) }
		var allowRoots, excluded []string
		if f.Default.Denies() && f.DefaultAccess&a != 0 {
			// Allow-list: each allow rule's hierarchy, without what an
			// earlier deny rule inside it takes (first match decides).
			for k, it := range items {
				if it.deny {
					continue
				}
				shadowed := false
				for _, prev := range items[:k] {
					if prev.deny && covers(prev, it.path) {
						shadowed = true
					}
				}
				if shadowed {
					continue
				}
				allowRoots = append(allowRoots, it.path)
				for _, prev := range items[:k] {
					if prev.deny && under(prev.path, it.path) {
						excluded = append(excluded, prev.path)
					}
				}
			}
			if f.Default == policy.ActionKill {
				rs.note("file default: kill is enforced as block (EACCES), the process is not killed")
			}
		} else {
			// Deny-list: everything but the deny rules' paths that no
			// earlier allow rule covers.
			for k, it := range items {
				if !it.deny {
					continue
				}
				shadowed := false
				for _, prev := range items[:k] {
					if !prev.deny && covers(prev, it.path) {
						shadowed = true
					}
				}
				if !shadowed {
					excluded = append(excluded, it.path)
				}
			}
			if len(excluded) == 0 {
				continue // a not handled
			}
			allowRoots = []string{root}
		}
		rs.Handled |= a
		for _, r := range allowRoots {
			if err := grant(r, excluded, func(p string) { grants[p] |= a }); err != nil {
				return nil, fmt.Errorf("policy %s: %w", p.Name, err)
			}
		}
	}
	for p, a := range grants {
		rs.Grants = append(rs.Grants, Grant{Path: p, Access: a})
	}
	sort.Slice(rs.Grants, func(i, j int) bool { return rs.Grants[i].Path < rs.Grants[j].Path })
	return rs, nil
}

func (rs *Ruleset) note(s string) {
	if !slices.Contains(rs.Notes, s) {
		rs.Notes = append(rs.Notes, s)
	}
}

// resolve returns path x inside root, symlinks followed when it exists.
func resolve(root, x string) string {
	full := filepath.Join(root, x)
	if r, err := filepath.EvalSymlinks(full); err == nil {
		return r
	}
	return full
}

// under reports whether p is below dir d (not d itself).
func under(p, d string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")
}

// grant calls add for every hierarchy under r that contains none of
// excluded: r itself when none is at or under it, else (r a directory on
// the way to an excluded path) each of its entries, recursively. Symlinks
// are not granted: what they resolve to is granted where it lives.
func grant(r string, excluded []string, add func(string)) error {
	var inside bool
	for _, x := range excluded {
		if x == r {
			return nil
		}
		if under(x, r) || r == "/" {
			inside = true
		}
	}
	if !inside {
		add(r)
		return nil
	}
	entries, err := os.ReadDir(r)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("list %s: %w", r, err)
	}
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			continue
		}
		if err := grant(filepath.Join(r, e.Name()), excluded, add); err != nil {
			return err
		}
	}
	return nil
}

// ABI returns the kernel's Landlock ABI version (an error when Landlock is
// not available).
func ABI() (int, error) {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, fmt.Errorf("landlock: %w", errno)
	}
	return int(v), nil
}

// rights returns the Landlock file access rights of a.
func rights(a policy.Access, abi int) uint64 {
	var r uint64
	if a&policy.AccessRead != 0 {
		r |= unix.LANDLOCK_ACCESS_FS_READ_FILE
	}
	if a&policy.AccessWrite != 0 {
		r |= unix.LANDLOCK_ACCESS_FS_WRITE_FILE
		if abi >= 3 {
			r |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
		}
	}
	return r
}

// Restrict restricts the calling thread, and every program it executes or
// process it starts from then on, to the ruleset (no_new_privs is set, as
// Landlock requires without CAP_SYS_ADMIN). It cannot be undone. The
// caller locks its goroutine to the thread (runtime.LockOSThread) and
// executes the program from it.
func (rs *Ruleset) Restrict() error {
	abi, err := ABI()
	if err != nil {
		return err
	}
	if rs.Handled == 0 {
		return nil
	}
	attr := unix.LandlockRulesetAttr{Handled_access_fs: rights(rs.Handled, abi)}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return fmt.Errorf("landlock_create_ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	for _, g := range rs.Grants {
		pfd, err := unix.Open(g.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // gone since Compile: nothing to grant
			}
			return fmt.Errorf("landlock: open %s: %w", g.Path, err)
		}
		allowed := rights(g.Access, abi)
		var st unix.Stat_t
		if unix.Fstat(pfd, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			allowed &= unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE
		}
		pb := unix.LandlockPathBeneathAttr{Allowed_access: allowed, Parent_fd: int32(pfd)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
		unix.Close(pfd)
		if errno != 0 {
			return fmt.Errorf("landlock_add_rule %s: %w", g.Path, errno)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return nil
}
