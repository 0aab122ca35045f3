package event

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PasswdDB resolves user and group names from passwd/group files: the
// host's (Root+/etc/passwd) for host processes, the container's
// (/proc/PID/root/etc/passwd) for container processes. It caches only what
// it read successfully, per container id: a container process whose root is
// not ready yet (runc init before pivot_root, whose /proc/PID/root is still
// the host's root, or a root without /etc/passwd) resolves nothing and is
// tried again on its next event; a uid or gid the cached files do not list
// re-reads them at most once per passwdRetry. It is safe for concurrent use.
type PasswdDB struct {
	// Root is the host filesystem root ("" or "/" for the running host;
	// /host when the agent runs in a container with the host mounted).
	Root string
	// ProcRoot is where /proc is mounted (default "/proc").
	ProcRoot string

	mu    sync.RWMutex
	files map[string]*idNames // by container id; "" for the host
	now   func() time.Time    // the clock of the retry interval (tests set it)
}

// passwdRetry bounds how often a miss re-reads a cached container's files.
const passwdRetry = 2 * time.Second

type idNames struct {
	users  map[uint32]string
	groups map[uint32]string
	homes  map[uint32][2]string // uid → home directory, shell
	read   time.Time            // when the files were read
}

// NewPasswdDB returns a PasswdDB reading the host files under root.
func NewPasswdDB(root string) *PasswdDB {
	return &PasswdDB{Root: strings.TrimSuffix(root, "/"), ProcRoot: "/proc", files: map[string]*idNames{}}
}

// UserName implements UserDB.
func (d *PasswdDB) UserName(ev *Event, uid uint32) (string, bool) {
	if n := d.names(ev, false); n != nil {
		if name, ok := n.users[uid]; ok {
			return name, true
		}
	}
	if n := d.names(ev, true); n != nil {
		name, ok := n.users[uid]
		return name, ok
	}
	return "", false
}

// GroupName implements UserDB.
func (d *PasswdDB) GroupName(ev *Event, gid uint32) (string, bool) {
	if n := d.names(ev, false); n != nil {
		if name, ok := n.groups[gid]; ok {
			return name, true
		}
	}
	if n := d.names(ev, true); n != nil {
		name, ok := n.groups[gid]
		return name, ok
	}
	return "", false
}

func (d *PasswdDB) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// names returns the cached files of the event's container (nil when none
// is cached). With miss set (the cached files lack the id asked for) it
// reads them when nothing is cached, or again when the cached copy is
// older than passwdRetry, and caches what it read only when the files
// were there and (for a container) the process's root is not the host's.
func (d *PasswdDB) names(ev *Event, miss bool) *idNames {
	key, root := "", d.Root
	if c := ev.Container; c != nil && c.ID != "host" && c.ID != "" {
		key = c.ID
		root = d.ProcRoot + "/" + strconv.FormatUint(uint64(ev.PID), 10) + "/root"
	}
	d.mu.RLock()
	n := d.files[key]
	d.mu.RUnlock()
	if !miss {
		return n
	}
	now := d.clock()
	if n != nil && now.Sub(n.read) < passwdRetry {
		return n
	}
	if key != "" && sameFile(root+"/", d.Root+"/") {
		return n // runc init has not pivoted into the container's root yet
	}
	users, homes, uok := readIDFile(root + "/etc/passwd")
	groups, _, gok := readIDFile(root + "/etc/group")
	if !uok && !gok {
		return n // not ready (or the process is gone): nothing to cache
	}
	n = &idNames{users: users, groups: groups, homes: homes, read: now}
	d.mu.Lock()
	if d.files == nil {
		d.files = map[string]*idNames{}
	}
	d.files[key] = n
	d.mu.Unlock()
	return n
}

// sameFile tells whether two paths name the same inode.
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}

// UserInfo returns the home directory and shell of uid (user.homedir,
// user.shell), read like UserName.
func (d *PasswdDB) UserInfo(ev *Event, uid uint32) (home, shell string, ok bool) {
	n := d.names(ev, false)
	if n != nil {
		if h, ok := n.homes[uid]; ok {
			return h[0], h[1], true
		}
	}
	if n = d.names(ev, true); n != nil {
		if h, ok := n.homes[uid]; ok {
			return h[0], h[1], true
		}
	}
	return "", "", false
}

// Forget drops the cached names of a container (call when it exits).
func (d *PasswdDB) Forget(containerID string) {
	d.mu.Lock()
	delete(d.files, containerID)
	d.mu.Unlock()
}

// readIDFile parses name:x:id:... lines, and the home directory and shell
// of passwd lines (name:x:uid:gid:gecos:home:shell); ok is false when the
// file cannot be opened.
func readIDFile(path string) (m map[uint32]string, homes map[uint32][2]string, ok bool) {
	m, homes = map[uint32]string{}, map[uint32][2]string{}
	f, err := os.Open(path)
	if err != nil {
		return m, homes, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		parts := strings.SplitN(line, ":", 7)
		if len(parts) < 3 {
			continue
		}
		id, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(id)]; !dup {
			m[uint32(id)] = parts[0]
			if len(parts) == 7 {
				homes[uint32(id)] = [2]string{parts[5], parts[6]}
			}
		}
	}
	return m, homes, true
}
