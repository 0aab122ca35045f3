package enforce

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/policy"
	"golang.org/x/sys/unix"
)

// fileTable is the in-memory decision table the fanotify gate answers from.
// It is immutable once built; Apply builds a new one with a new gate.
type fileTable struct {
	byCgroup   map[string]*fileBinding // clean cgroup path → binding; nil section = none
	marks      []fileMark
	hasDefault bool            // some section has a default: every event needs the full lookup
	paths      map[string]bool // union of rule paths (fast reject)
	dirs       map[string]bool // union of rule dirs, with trailing '/'
	roots      []string        // distinct container root prefixes as the agent sees them ("" for /)
}

type fileBinding struct {
	root string // prefix to strip from fd paths ("" for the host root)
	sec  *fileSection
}

type fileSection struct {
	rules      []fileRule
	def        policy.Action
	defAccess  policy.Access
	defRule    uint32
	audit      bool
	policyName string
}

type fileRule struct {
	paths  map[string]bool
	dirs   []string
	access policy.Access
	action policy.Action
	id     uint32
}

type fileMark struct {
	path  string // as the agent reaches it (/proc/<pid>/root/...)
	mount bool
	rel   string // inode marks: the rule path inside the target's root
}

// devIno identifies a marked inode, so that another name for the file (a
// hard link, a bind mount) is matched as the rule path.
type devIno struct{ dev, ino uint64 }

func compileFiles(pl *Plan, ruleID func(*policy.Policy, string, policy.Action) uint32) *fileTable {
	ft := &fileTable{byCgroup: map[string]*fileBinding{}, paths: map[string]bool{}, dirs: map[string]bool{}}
	secs := map[*policy.Policy]*fileSection{}
	marked := map[fileMark]bool{}
	rootSeen := map[string]bool{}
	for _, b := range pl.Bindings {
		cg := cleanCgroup(b.Target.CgroupPath)
		fsRoot := "/"
		if b.Target.RootPID > 0 {
			fsRoot = fmt.Sprintf("/proc/%d/root/", b.Target.RootPID)
		}
		root := rootPrefix(b.Target.RootPID)
		if !rootSeen[root] {
			rootSeen[root] = true
			ft.roots = append(ft.roots, root)
		}
		if b.Sections == nil || b.Sections.File == nil {
			ft.byCgroup[cg] = &fileBinding{root: root}
			continue
		}
		p := b.Sections.File
		sec, ok := secs[p]
		if !ok {
			sec = &fileSection{def: p.File.Default, defAccess: p.File.DefaultAccess,
				defRule: ruleID(p, "file-default", p.File.Default), audit: p.Mode == policy.ModeAudit, policyName: p.Name}
			for _, r := range p.File.Rules {
				fr := fileRule{paths: map[string]bool{}, dirs: r.Dirs, access: r.Access, action: r.Action, id: ruleID(p, r.Name, r.Action)}
				for _, x := range r.Paths {
					fr.paths[x] = true
					ft.paths[x] = true
				}
				for _, d := range r.Dirs {
					ft.dirs[d] = true
				}
				sec.rules = append(sec.rules, fr)
			}
			secs[p] = sec
		}
		ft.byCgroup[cg] = &fileBinding{root: root, sec: sec}
		// Paths only: inode marks, so no other open reaches the agent.
		// Dirs or a default: a mark on the mount of the target's root.
		mount := sec.def != policy.ActionNone
		for _, r := range sec.rules {
			if len(r.dirs) > 0 {
				mount = true
			}
		}
		if mount {
			ft.hasDefault = ft.hasDefault || sec.def != policy.ActionNone
			m := fileMark{path: fsRoot, mount: true}
			if !marked[m] {
				marked[m] = true
				ft.marks = append(ft.marks, m)
			}
			continue
		}
		for _, r := range sec.rules {
			for x := range r.paths {
				m := fileMark{path: filepath.Join(fsRoot, x), rel: x}
				if !marked[m] {
					marked[m] = true
					ft.marks = append(ft.marks, m)
				}
			}
		}
	}
	return ft
}

// rootPrefix is how the agent sees the root of process pid in fd paths:
// "" for the agent's own root.
func rootPrefix(pid int) string {
	if pid <= 0 {
		return ""
	}
	r, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil || r == "/" {
		return ""
	}
	return strings.TrimRight(r, "/")
}

// relevant is the fast check: could any rule match path p (as the agent
// sees it)? Only a default makes every path relevant.
func (ft *fileTable) relevant(p string) bool {
	if ft.hasDefault {
		return true
	}
	for _, root := range ft.roots {
		q, ok := strings.CutPrefix(p, root)
		if !ok {
			continue
		}
		if ft.paths[q] {
			return true
		}
		for i := 1; i < len(q); i++ {
			if q[i] == '/' && ft.dirs[q[:i+1]] {
				return true
			}
		}
		if len(ft.dirs) > 0 && ft.dirs["/"] {
			return true
		}
	}
	return false
}

// binding returns the binding of cgroup path cg (deepest ancestor).
func (ft *fileTable) binding(cg string) *fileBinding {
	for {
		if b, ok := ft.byCgroup[cg]; ok {
			return b
		}
		if cg == "/" || cg == "" {
			return nil
		}
		i := strings.LastIndexByte(cg, '/')
		if i <= 0 {
			cg = "/"
		} else {
			cg = cg[:i]
		}
	}
}

// decide returns the action and rule for an open of p with access acc.
func (s *fileSection) decide(p string, acc policy.Access) (policy.Action, uint32) {
	for i := range s.rules {
		r := &s.rules[i]
		if r.access&acc == 0 {
			continue
		}
		if r.paths[p] {
			return r.action, r.id
		}
		for _, d := range r.dirs {
			if strings.HasPrefix(p, d) || d == "/" {
				return r.action, r.id
			}
		}
	}
	if s.def != policy.ActionNone && s.defAccess&acc != 0 {
		return s.def, s.defRule
	}
	return policy.ActionNone, 0
}

// FileStats counts the fanotify gate's work.
type FileStats struct {
	Events   uint64 // permission events answered
	Fast     uint64 // answered by the fast path check alone
	Denied   uint64 // answered deny
	Audited  uint64 // would have been denied (audit, dry-run) or audit rule
	Defaults uint64 // answered with the fallback (timeout or lookup failure)
}

// fileGate is one fanotify group answering from one fileTable.
type fileGate struct {
	f       *os.File
	ft      *fileTable
	rules   []RuleRef
	e       *Enforcer
	self    int32
	wg      sync.WaitGroup
	stats   *fileCounters
	readBuf []byte
	inodes  map[devIno]string // inode marks → rule path
}

type fileCounters struct {
	events, fast, denied, audited, defaults atomic.Uint64
}

const fanMask = unix.FAN_OPEN_PERM

func newFileGate(e *Enforcer, ft *fileTable, rules []RuleRef) (*fileGate, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK|unix.FAN_UNLIMITED_QUEUE,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify_init: %w", err)
	}
	g := &fileGate{f: os.NewFile(uintptr(fd), "fanotify"), ft: ft, rules: rules, e: e,
		self: int32(os.Getpid()), stats: e.fileStats, readBuf: make([]byte, 64*1024)}
	for _, m := range ft.marks {
		flags := uint(unix.FAN_MARK_ADD)
		if m.mount {
			flags |= unix.FAN_MARK_MOUNT
		}
		if err := unix.FanotifyMark(fd, flags, fanMask, unix.AT_FDCWD, m.path); err != nil {
			g.f.Close()
			return nil, fmt.Errorf("fanotify_mark %s: %w", m.path, err)
		}
		if !m.mount {
			var st unix.Stat_t
			if err := unix.Stat(m.path, &st); err == nil {
				if g.inodes == nil {
					g.inodes = map[devIno]string{}
				}
				g.inodes[devIno{st.Dev, st.Ino}] = m.rel
			}
		}
	}
	g.wg.Add(1)
	go g.run()
	return g, nil
}

// close stops the gate; the kernel allows any event still pending.
func (g *fileGate) close() {
	g.f.Close()
	g.wg.Wait()
}

// metaLen is sizeof(struct fanotify_event_metadata).
const metaLen = 24

func (g *fileGate) run() {
	defer g.wg.Done()
	for {
		n, err := g.f.Read(g.readBuf)
		if err != nil {
			return // closed
		}
		start := time.Now()
		buf := g.readBuf[:n]
		for len(buf) >= metaLen {
			evLen := binary.NativeEndian.Uint32(buf[0:4])
			if evLen < uint32(metaLen) || int(evLen) > len(buf) {
				break
			}
			mask := binary.NativeEndian.Uint64(buf[8:16])
			fd := int32(binary.NativeEndian.Uint32(buf[16:20]))
			pid := int32(binary.NativeEndian.Uint32(buf[20:24]))
			buf = buf[evLen:]
			if fd < 0 {
				continue // queue overflow: no fd, nothing to answer
			}
			if mask&fanMask != 0 {
				g.answer(fd, pid, start)
			}
			unix.Close(int(fd))
		}
	}
}

func (g *fileGate) respond(fd int32, allow bool) {
	r := uint32(unix.FAN_ALLOW)
	if !allow {
		r = unix.FAN_DENY
	}
	var b [8]byte
	binary.NativeEndian.PutUint32(b[0:4], uint32(fd))
	binary.NativeEndian.PutUint32(b[4:8], r)
	g.f.Write(b[:]) // an error means the group is closing: the kernel allows
}

func (g *fileGate) answer(fd, pid int32, batchStart time.Time) {
	g.stats.events.Add(1)
	if pid == g.self {
		g.respond(fd, true)
		return
	}
	opts := &g.e.opts
	if opts.FileTimeout > 0 && time.Since(batchStart) > opts.FileTimeout {
		g.fallback(fd)
		return
	}
	var lb [4096]byte
	n, err := unix.Readlink(fdPath(fd), lb[:])
	if err != nil {
		g.fallback(fd)
		return
	}
	p := string(lb[:n])
	byInode := ""
	if !g.ft.relevant(p) {
		var st unix.Stat_t
		if g.inodes != nil && unix.Fstat(int(fd), &st) == nil {
			byInode = g.inodes[devIno{st.Dev, st.Ino}]
		}
		if byInode == "" {
			g.stats.fast.Add(1)
			g.respond(fd, true)
			return
		}
	}
	cg, err := cgroupOf(pid)
	if err != nil {
		g.fallback(fd)
		return
	}
	b := g.ft.binding(cg)
	if b == nil || b.sec == nil {
		g.respond(fd, true)
		return
	}
	rel, ok := strings.CutPrefix(p, b.root)
	if byInode != "" {
		rel, ok = byInode, true // another name of a marked file
	}
	if !ok {
		g.respond(fd, true) // outside the container's root
		return
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		g.fallback(fd)
		return
	}
	acc := policy.AccessRead
	switch fl & unix.O_ACCMODE {
	case unix.O_WRONLY:
		acc = policy.AccessWrite
	case unix.O_RDWR:
		acc = policy.AccessAny
	}
	action, rule := b.sec.decide(rel, acc)
	if action == policy.ActionNone {
		g.respond(fd, true)
		return
	}
	enforced := action.Denies() && !b.sec.audit && !opts.DryRun
	g.respond(fd, !enforced)
	switch {
	case enforced:
		g.stats.denied.Add(1)
	case action != policy.ActionAllow:
		g.stats.audited.Add(1)
	}
	if action == policy.ActionAllow && !opts.ReportAllowed {
		return
	}
	ref := g.rules[rule]
	d := Decision{
		Time: time.Now(), Mechanism: MechFanotify, Kind: KindOpen, Action: action, Enforced: enforced,
		Mode: ref.Mode, DryRun: opts.DryRun, Policy: ref.Policy, Rule: ref.Rule,
		PID: uint32(pid), CgroupPath: cg, Path: rel, Access: acc,
	}
	if enforced && action == policy.ActionKill {
		d.KillErr = KillPID(int(pid))
	}
	g.e.emit(d)
}

// fallback answers with the configured default when no decision could be
// computed (in time).
func (g *fileGate) fallback(fd int32) {
	g.stats.defaults.Add(1)
	g.respond(fd, g.e.opts.FileFallback != FallbackDeny)
}

func fdPath(fd int32) string {
	var b [32]byte
	return string(strconv.AppendInt(append(b[:0], "/proc/self/fd/"...), int64(fd), 10))
}

// cgroupOf returns the cgroup v2 path of pid ("/a/b"), from /proc/pid/cgroup.
func cgroupOf(pid int32) (string, error) {
	var pb [32]byte
	name := string(strconv.AppendInt(append(pb[:0], "/proc/"...), int64(pid), 10)) + "/cgroup"
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	var buf [4096]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil {
		return "", err
	}
	data := buf[:n]
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if rest, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			return string(rest), nil
		}
	}
	return "", errors.New("no cgroup v2 entry")
}
