package container

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// CgroupMap maps cgroup v2 ids to cgroup paths (relative to the v2 root,
// "/" for the root itself). It is safe for concurrent use.
type CgroupMap struct {
	root string

	mu       sync.RWMutex
	paths    map[uint64]string
	maxID    uint64
	lastWalk time.Time
	walks    uint64
}

// minRewalk bounds how often a miss for an id older than the newest known
// one triggers a walk: cgroup ids grow, so a new cgroup always has an id
// above maxID and is found at once; an older unknown id (a cgroup removed
// since, or created concurrently with the last walk) waits this long.
const minRewalk = 200 * time.Millisecond

// NewCgroupMap returns a map over the v2 hierarchy mounted at root.
func NewCgroupMap(root string) *CgroupMap {
	return &CgroupMap{root: root, paths: make(map[uint64]string)}
}

// Root returns the v2 mount point the map walks.
func (m *CgroupMap) Root() string { return m.root }

// Path returns the path of cgroup id, walking the tree again on a miss.
// Entries of cgroups removed since are dropped by each walk.
func (m *CgroupMap) Path(id uint64) (string, bool) {
	m.mu.RLock()
	p, ok := m.paths[id]
	stale := !ok && (id > m.maxID || time.Since(m.lastWalk) > minRewalk)
	m.mu.RUnlock()
	if ok || !stale {
		return p, ok
	}
	if err := m.Refresh(); err != nil {
		return "", false
	}
	m.mu.RLock()
	p, ok = m.paths[id]
	m.mu.RUnlock()
	return p, ok
}

// Lookup returns the cached path of id without walking.
func (m *CgroupMap) Lookup(id uint64) (string, bool) {
	m.mu.RLock()
	p, ok := m.paths[id]
	m.mu.RUnlock()
	return p, ok
}

// Walks returns how many times the tree was walked.
func (m *CgroupMap) Walks() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.walks
}

// Refresh walks the v2 tree and replaces the map.
func (m *CgroupMap) Refresh() error {
	m.mu.RLock()
	n := len(m.paths)
	m.mu.RUnlock()
	paths := make(map[uint64]string, n+16)
	var maxID uint64
	err := filepath.WalkDir(m.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == m.root {
				return err
			}
			return nil // removed while walking
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel := "/"
		if p != m.root {
			rel = p[len(m.root):]
		}
		paths[st.Ino] = rel
		maxID = max(maxID, st.Ino)
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk cgroup tree %s: %w", m.root, err)
	}
	m.mu.Lock()
	m.paths = paths
	m.maxID = max(m.maxID, maxID)
	m.lastWalk = time.Now()
	m.walks++
	m.mu.Unlock()
	return nil
}

// CgroupID returns the cgroup v2 id of the cgroup at path (relative to the
// v2 root), as bpf_get_current_cgroup_id reports it: its inode number.
func CgroupID(root, path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, path), &st); err != nil {
		return 0, fmt.Errorf("stat cgroup %s: %w", path, err)
	}
	return st.Ino, nil
}

// ProcCgroup reads /proc/PID/cgroup. v2 is the cgroup v2 path ("" when the
// process has no v2 line); info is the container the process belongs to,
// from the v2 path or, when that names no container (a runtime that placed
// the process in v1 hierarchies only), from the v1 lines.
func ProcCgroup(pid uint32) (v2 string, info PathInfo, ok bool, err error) {
	var buf [64]byte
	data, err := os.ReadFile(string(strconv.AppendUint(append(buf[:0], "/proc/"...), uint64(pid), 10)) + "/cgroup")
	if err != nil {
		return "", PathInfo{}, false, fmt.Errorf("read cgroup of pid %d: %w", pid, err)
	}
	v2, info, ok = parseProcCgroup(data)
	return v2, info, ok, nil
}

// parseProcCgroup parses the content of /proc/PID/cgroup.
func parseProcCgroup(data []byte) (v2 string, info PathInfo, ok bool) {
	var v1 PathInfo
	var v1ok bool
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		// hierarchy-id:controllers:path
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := bytes.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		hier, ctrls, path := line[:i], line[i+1:i+1+j], string(line[i+2+j:])
		if string(hier) == "0" && len(ctrls) == 0 {
			v2 = path
			if inf, ok := ParseCgroupPath(path); ok {
				info, ok = inf, true
				return v2, info, true
			}
			continue
		}
		if !v1ok {
			v1, v1ok = ParseCgroupPath(path)
		}
	}
	return v2, v1, v1ok
}
