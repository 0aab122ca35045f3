package event

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// PasswdDB resolves user and group names from passwd/group files, caching
// each file's contents: the host's (Root+/etc/passwd) for host processes,
// the container's (/proc/PID/root/etc/passwd, read once per container id)
// for container processes. It is safe for concurrent use.
type PasswdDB struct {
	// Root is the host filesystem root ("" or "/" for the running host;
	// /host when the agent runs in a container with the host mounted).
	Root string
	// ProcRoot is where /proc is mounted (default "/proc").
	ProcRoot string

	mu    sync.RWMutex
	files map[string]*idNames // by container id; "" for the host
}

type idNames struct {
	users  map[uint32]string
	groups map[uint32]string
}

// NewPasswdDB returns a PasswdDB reading the host files under root.
func NewPasswdDB(root string) *PasswdDB {
	return &PasswdDB{Root: strings.TrimSuffix(root, "/"), ProcRoot: "/proc", files: map[string]*idNames{}}
}

// UserName implements UserDB.
func (d *PasswdDB) UserName(ev *Event, uid uint32) (string, bool) {
	n, ok := d.names(ev).users[uid]
	return n, ok
}

// GroupName implements UserDB.
func (d *PasswdDB) GroupName(ev *Event, gid uint32) (string, bool) {
	n, ok := d.names(ev).groups[gid]
	return n, ok
}

func (d *PasswdDB) names(ev *Event) *idNames {
	key, dir := "", d.Root+"/etc/"
	if c := ev.Container; c != nil && c.ID != "host" && c.ID != "" {
		key = c.ID
		dir = d.ProcRoot + "/" + strconv.FormatUint(uint64(ev.PID), 10) + "/root/etc/"
	}
	d.mu.RLock()
	n := d.files[key]
	d.mu.RUnlock()
	if n != nil {
		return n
	}
	n = &idNames{users: readIDFile(dir + "passwd"), groups: readIDFile(dir + "group")}
	d.mu.Lock()
	if d.files == nil {
		d.files = map[string]*idNames{}
	}
	d.files[key] = n
	d.mu.Unlock()
	return n
}

// Forget drops the cached names of a container (call when it exits).
func (d *PasswdDB) Forget(containerID string) {
	d.mu.Lock()
	delete(d.files, containerID)
	d.mu.Unlock()
}

// readIDFile parses name:x:id:... lines; a missing file gives an empty map.
func readIDFile(path string) map[uint32]string {
	m := map[uint32]string{}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		parts := strings.SplitN(line, ":", 4)
		if len(parts) < 3 {
			continue
		}
		id, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(id)]; !dup {
			m[uint32(id)] = parts[0]
		}
	}
	return m
}
