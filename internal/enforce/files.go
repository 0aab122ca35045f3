package enforce

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/policy"
	"golang.org/x/sys/unix"
)

// fileTable is the in-memory decision table the fanotify gate answers from.
// It is immutable once built; Apply builds a new one with a new gate.
type fileTable struct {
	ByCgroup   map[string]*fileBinding // clean cgroup path → binding; nil section = none
	Marks      []fileMark
	HasDefault bool            // some section has a default: every event needs the full lookup
	Paths      map[string]bool // union of rule paths (fast reject)
	Dirs       map[string]bool // union of rule dirs, with trailing '/'
	Roots      []string        // distinct container root prefixes as the agent sees them ("" for /)
}

type fileBinding struct {
	Root string // prefix to strip from fd paths ("" for the host root)
	Sec  *fileSection
	Proc *procSection // process block rules (FAN_OPEN_EXEC_PERM)
}

// procSection holds a process section's rules for fanotify: block rules
// and the block default decide; other rules only stop a default (their
// action is the kernel's: kill and audit are in-kernel decisions).
type procSection struct {
	Rules   []procRule
	Def     policy.Action
	DefRule uint32
	Audit   bool
}

type procRule struct {
	Paths, Names map[string]bool
	Dirs         []string
	Action       policy.Action
	ID           uint32
}

// decide matches the resolved executable p like the kernel side does: an
// exact path, then the shortest directory prefix, then the base name.
func (s *procSection) decide(p string) (policy.Action, uint32) {
	pick := func(r *procRule) (policy.Action, uint32) {
		if r.Action == policy.ActionBlock {
			return r.Action, r.ID
		}
		return policy.ActionNone, 0 // decided in the kernel, or allowed
	}
	for i := range s.Rules {
		if s.Rules[i].Paths[p] {
			return pick(&s.Rules[i])
		}
	}
	best, bestLen := -1, 0
	for i := range s.Rules {
		for _, d := range s.Rules[i].Dirs {
			if strings.HasPrefix(p, d) && (best < 0 || len(d) < bestLen) {
				best, bestLen = i, len(d)
			}
		}
	}
	if best >= 0 {
		return pick(&s.Rules[best])
	}
	base := p[strings.LastIndexByte(p, '/')+1:]
	for i := range s.Rules {
		if s.Rules[i].Names[base] {
			return pick(&s.Rules[i])
		}
	}
	if s.Def == policy.ActionBlock {
		return s.Def, s.DefRule
	}
	return policy.ActionNone, 0
}

func hasProcBlock(p *policy.Policy) bool {
	if p.Process.Default == policy.ActionBlock {
		return true
	}
	for _, r := range p.Process.Rules {
		if r.Action == policy.ActionBlock {
			return true
		}
	}
	return false
}

func compileProc(p *policy.Policy, ruleID func(*policy.Policy, string, policy.Action) uint32) *procSection {
	ps := &procSection{Def: p.Process.Default, DefRule: ruleID(p, "process-default", p.Process.Default), Audit: p.Mode == policy.ModeAudit}
	for _, r := range p.Process.Rules {
		pr := procRule{Paths: map[string]bool{}, Names: map[string]bool{}, Dirs: r.Dirs, Action: r.Action, ID: ruleID(p, r.Name, r.Action)}
		for _, x := range r.Paths {
			pr.Paths[x] = true
		}
		for _, x := range r.Names {
			pr.Names[x] = true
		}
		ps.Rules = append(ps.Rules, pr)
	}
	return ps
}

type fileSection struct {
	Rules     []fileRule
	Def       policy.Action
	DefAccess policy.Access
	DefRule   uint32
	Audit     bool
	Policy    string
}

type fileRule struct {
	Paths  map[string]bool
	Dirs   []string
	Access policy.Access
	Action policy.Action
	ID     uint32
}

type fileMark struct {
	Path  string // as the agent reaches it (/proc/<pid>/root/...)
	Mount bool
	Mask  uint64
	Rel   string // inode marks: the rule path inside the target's root
}

// devIno identifies a marked inode, so that another name for the file (a
// hard link, a bind mount) is matched as the rule path.
type devIno struct{ dev, ino uint64 }

func compileFiles(pl *Plan, ruleID func(*policy.Policy, string, policy.Action) uint32) *fileTable {
	ft := &fileTable{ByCgroup: map[string]*fileBinding{}, Paths: map[string]bool{}, Dirs: map[string]bool{}}
	secs := map[*policy.Policy]*fileSection{}
	procs := map[*policy.Policy]*procSection{}
	marked := map[[2]string]int{} // (path, kind) → index in ft.Marks
	mark := func(m fileMark) {
		kind := "inode"
		if m.Mount {
			kind = "mount"
		}
		k := [2]string{m.Path, kind}
		if i, ok := marked[k]; ok {
			ft.Marks[i].Mask |= m.Mask
			return
		}
		marked[k] = len(ft.Marks)
		ft.Marks = append(ft.Marks, m)
	}
	rootSeen := map[string]bool{}
	hostRoot := "/"
	if r := hostFSRoot(); r != "/" {
		hostRoot = r + "/"
	}
	for _, b := range pl.Bindings {
		cg := cleanCgroup(b.Target.CgroupPath)
		fsRoot := hostRoot
		switch {
		case b.Target.RootPID > 0:
			fsRoot = fmt.Sprintf("/proc/%d/root/", b.Target.RootPID)
		case b.Target.RootPID < 0:
			fsRoot = "<container root>/" // a plan for display only
		}
		root := rootPrefix(b.Target.RootPID)
		if !rootSeen[root] {
			rootSeen[root] = true
			ft.Roots = append(ft.Roots, root)
		}
		fb := &fileBinding{Root: root}
		ft.ByCgroup[cg] = fb
		if b.Sections == nil {
			continue
		}
		if c := b.Target.Container; c != nil && c.ID != "host" && b.Target.RootPID == 0 &&
			(b.Sections.File != nil || (b.Sections.Process != nil && hasProcBlock(b.Sections.Process))) {
			// Without a process of the container its root filesystem
			// cannot be reached: marking host paths would be wrong.
			pl.Warnings = append(pl.Warnings, fmt.Sprintf("container %s: no process known, file and exec-block rules not applied", c.ID))
			continue
		}
		if p := b.Sections.Process; p != nil && hasProcBlock(p) {
			ps, ok := procs[p]
			if !ok {
				ps = compileProc(p, ruleID)
				procs[p] = ps
			}
			fb.Proc = ps
			mark(fileMark{Path: fsRoot, Mount: true, Mask: unix.FAN_OPEN_EXEC_PERM})
		}
		p := b.Sections.File
		if p == nil {
			continue
		}
		sec, ok := secs[p]
		if !ok {
			sec = &fileSection{Def: p.File.Default, DefAccess: p.File.DefaultAccess,
				DefRule: ruleID(p, "file-default", p.File.Default), Audit: p.Mode == policy.ModeAudit, Policy: p.Name}
			for _, r := range p.File.Rules {
				fr := fileRule{Paths: map[string]bool{}, Dirs: r.Dirs, Access: r.Access, Action: r.Action, ID: ruleID(p, r.Name, r.Action)}
				for _, x := range r.Paths {
					fr.Paths[x] = true
					ft.Paths[x] = true
				}
				for _, d := range r.Dirs {
					ft.Dirs[d] = true
				}
				sec.Rules = append(sec.Rules, fr)
			}
			secs[p] = sec
		}
		fb.Sec = sec
		// Paths only: inode marks, so no other open reaches the agent.
		// Dirs or a default: a mark on the mount of the target's root.
		mount := sec.Def != policy.ActionNone
		for _, r := range sec.Rules {
			if len(r.Dirs) > 0 {
				mount = true
			}
		}
		if mount {
			ft.HasDefault = ft.HasDefault || sec.Def != policy.ActionNone
			mark(fileMark{Path: fsRoot, Mount: true, Mask: unix.FAN_OPEN_PERM})
			// A container's other mounts that its rules reach into (a file
			// bind-mounted under a rule's directory, as /etc/hosts is) are
			// other mounts than its root's: marked too.
			if b.Target.RootPID > 0 {
				for _, m := range mountPoints(b.Target.RootPID) {
					if sec.reaches(m) {
						mark(fileMark{Path: fsRoot + strings.TrimPrefix(m, "/"), Mount: true, Mask: unix.FAN_OPEN_PERM})
					}
				}
			}
			continue
		}
		for _, r := range sec.Rules {
			for x := range r.Paths {
				mark(fileMark{Path: filepath.Join(fsRoot, x), Rel: x, Mask: unix.FAN_OPEN_PERM})
			}
		}
	}
	return ft
}

// reaches reports whether a rule of the section can match a file on the
// mount at mount point m (other than the root): m is under one of its
// directories, or one of its directories or paths is on or under m.
func (s *fileSection) reaches(m string) bool {
	under := func(p, dir string) bool { // p is dir or below it; dir has no trailing '/'
		return p == dir || strings.HasPrefix(p, dir+"/")
	}
	for _, r := range s.Rules {
		for _, d := range r.Dirs {
			d = strings.TrimSuffix(d, "/")
			if d != "" && (under(m, d) || under(d, m)) {
				return true
			}
		}
		for p := range r.Paths {
			if under(p, m) {
				return true
			}
		}
	}
	return false
}

// mountPoints returns the mount points of process pid's mount namespace
// as its root sees them (/proc/<pid>/mountinfo), its root excluded; nil
// when they cannot be read.
func mountPoints(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mount-point options ...
		f := strings.Fields(line)
		if len(f) < 5 || f[4] == "/" {
			continue
		}
		out = append(out, host.UnescapeMountinfo(f[4]))
	}
	return out
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
	if ft.HasDefault {
		return true
	}
	for _, root := range ft.Roots {
		q, ok := strings.CutPrefix(p, root)
		if !ok {
			continue
		}
		if ft.Paths[q] {
			return true
		}
		for i := 1; i < len(q); i++ {
			if q[i] == '/' && ft.Dirs[q[:i+1]] {
				return true
			}
		}
		if len(ft.Dirs) > 0 && ft.Dirs["/"] {
			return true
		}
	}
	return false
}

// binding returns the binding of cgroup path cg (deepest ancestor).
func (ft *fileTable) binding(cg string) *fileBinding {
	for {
		if b, ok := ft.ByCgroup[cg]; ok {
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
	for i := range s.Rules {
		r := &s.Rules[i]
		if r.Access&acc == 0 {
			continue
		}
		if r.Paths[p] {
			return r.Action, r.ID
		}
		for _, d := range r.Dirs {
			if strings.HasPrefix(p, d) || d == "/" {
				return r.Action, r.ID
			}
		}
	}
	if s.Def != policy.ActionNone && s.DefAccess&acc != 0 {
		return s.Def, s.DefRule
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

// gateServer is one fanotify group answering from one fileTable. It runs
// in its own process (see gate.go): a process holding a fanotify
// permission group must never fork, because Go forks with CLONE_VFORK and
// a stop-the-world while the child's exec waits for the group's answer
// would deadlock every exec on the marked mounts.
type gateServer struct {
	f       *os.File
	fd      int // f's descriptor (f.Fd() would make it blocking)
	ft      *fileTable
	rules   []RuleRef
	opts    gateOptions
	exempt  [2]int32 // the gate and the agent (process ids): never gated
	stats   fileCounters
	readBuf []byte
	inodes  map[devIno]string // inode marks → rule path
	// unmarked are the marks' paths that do not exist (a rule path one
	// target lacks, a target gone): reported to the agent, not an error.
	unmarked []string
	out      func(Decision)
	busy     atomic.Int64 // unix ns the batch being answered started; 0 when waiting for events
}

type fileCounters struct {
	events, fast, denied, audited, defaults atomic.Uint64
}

func (c *fileCounters) snapshot() FileStats {
	return FileStats{Events: c.events.Load(), Fast: c.fast.Load(), Denied: c.denied.Load(),
		Audited: c.audited.Load(), Defaults: c.defaults.Load()}
}

const fanMask = unix.FAN_OPEN_PERM | unix.FAN_OPEN_EXEC_PERM

// newGateServer creates the fanotify group and its marks.
func newGateServer(cfg *gateConfig, out func(Decision)) (*gateServer, error) {
	// FAN_REPORT_TID: the event names the thread that opens, whose open
	// system call tells the access (openAccess).
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK|unix.FAN_UNLIMITED_QUEUE|unix.FAN_REPORT_TID,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify_init: %w", err)
	}
	g := &gateServer{f: os.NewFile(uintptr(fd), "fanotify"), fd: fd, ft: cfg.Table, rules: cfg.Rules, opts: cfg.Options,
		exempt: [2]int32{int32(os.Getpid()), cfg.AgentPID}, readBuf: make([]byte, 64*1024), out: out}
	for _, m := range g.ft.Marks {
		flags := uint(unix.FAN_MARK_ADD)
		if m.Mount {
			flags |= unix.FAN_MARK_MOUNT
		}
		if err := unix.FanotifyMark(fd, flags, m.Mask, unix.AT_FDCWD, m.Path); err != nil {
			if missing(err) {
				// A rule path this target lacks (or a target gone):
				// nothing to protect there yet; the others are marked.
				g.unmarked = append(g.unmarked, m.Path)
				continue
			}
			g.f.Close()
			return nil, fmt.Errorf("fanotify_mark %s: %w", m.Path, err)
		}
		if !m.Mount && m.Mask&unix.FAN_OPEN_PERM != 0 {
			var st unix.Stat_t
			if err := unix.Stat(m.Path, &st); err == nil {
				if g.inodes == nil {
					g.inodes = map[devIno]string{}
				}
				g.inodes[devIno{st.Dev, st.Ino}] = m.Rel
			}
		}
	}
	return g, nil
}

// missing reports whether a mark failed because its path (or the target
// process whose root it is under) does not exist.
func missing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ESRCH)
}

// metaLen is sizeof(struct fanotify_event_metadata).
const metaLen = 24

// run answers permission events until the group is closed.
func (g *gateServer) run() {
	for {
		n, err := g.f.Read(g.readBuf)
		if err != nil {
			return // closed
		}
		start := time.Now()
		g.busy.Store(start.UnixNano())
		buf := g.readBuf[:n]
		for len(buf) >= metaLen {
			evLen := binary.NativeEndian.Uint32(buf[0:4])
			if evLen < uint32(metaLen) || int(evLen) > len(buf) {
				break
			}
			mask := binary.NativeEndian.Uint64(buf[8:16])
			fd := int32(binary.NativeEndian.Uint32(buf[16:20]))
			tid := int32(binary.NativeEndian.Uint32(buf[20:24])) // FAN_REPORT_TID
			buf = buf[evLen:]
			if fd < 0 {
				continue // queue overflow: no fd, nothing to answer
			}
			if mask&fanMask != 0 {
				g.answer(fd, tid, mask&unix.FAN_OPEN_EXEC_PERM != 0, start)
			}
			unix.Close(int(fd))
		}
		g.busy.Store(0)
	}
}

func (g *gateServer) respond(fd int32, allow bool) {
	r := uint32(unix.FAN_ALLOW)
	if !allow {
		r = unix.FAN_DENY
	}
	var b [8]byte
	binary.NativeEndian.PutUint32(b[0:4], uint32(fd))
	binary.NativeEndian.PutUint32(b[4:8], r)
	g.f.Write(b[:]) // an error means the group is closing: the kernel allows
}

// answer decides one permission event of thread tid.
func (g *gateServer) answer(fd, tid int32, isExec bool, batchStart time.Time) {
	g.stats.events.Add(1)
	if tid == g.exempt[0] || tid == g.exempt[1] {
		g.respond(fd, true) // a main thread of the gate or the agent (others: below)
		return
	}
	opts := &g.opts
	if opts.Timeout > 0 && time.Since(batchStart) > opts.Timeout {
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
	if !isExec && !g.ft.relevant(p) {
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
	cg, err := cgroupOf(tid)
	if err != nil {
		g.fallback(fd)
		return
	}
	b := g.ft.binding(cg)
	if b == nil || (isExec && b.Proc == nil) || (!isExec && b.Sec == nil) {
		g.respond(fd, true)
		return
	}
	rel, ok := strings.CutPrefix(p, b.Root)
	if byInode != "" {
		rel, ok = byInode, true // another name of a marked file
	}
	if !ok {
		g.respond(fd, true) // outside the container's root
		return
	}
	var action policy.Action
	var rule uint32
	var acc policy.Access
	var audit bool
	kind := KindOpen
	if isExec {
		kind = KindExec
		action, rule = b.Proc.decide(rel)
		audit = b.Proc.Audit
	} else {
		// The access is read from the thread's open system call only when
		// it matters: when reading and writing are decided differently,
		// or for the decision's report.
		ra, rr := b.Sec.decide(rel, policy.AccessRead)
		wa, wr := b.Sec.decide(rel, policy.AccessWrite)
		if ra == wa && rr == wr && (ra == policy.ActionNone || (ra == policy.ActionAllow && !opts.ReportAllowed)) {
			g.respond(fd, true)
			return
		}
		var known bool
		if acc, known = openAccess(tid); !known {
			acc = policy.AccessAny // unknown: a rule on either access applies
		}
		action, rule = b.Sec.decide(rel, acc)
		audit = b.Sec.Audit
	}
	if action == policy.ActionNone {
		g.respond(fd, true)
		return
	}
	pid := tgidOf(tid)
	if pid == g.exempt[0] || pid == g.exempt[1] {
		g.respond(fd, true)
		return
	}
	var comm string
	if action != policy.ActionAllow || opts.ReportAllowed {
		comm = commOf(tid) // while the thread waits for the answer: it may exit right after
	}
	enforced := action.Denies() && !audit && !opts.DryRun
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
	var ref RuleRef
	if int(rule) < len(g.rules) {
		ref = g.rules[rule]
	}
	d := Decision{
		Time: time.Now(), Mechanism: MechFanotify, Kind: kind, Action: action, Enforced: enforced,
		Mode: ref.Mode, DryRun: opts.DryRun, Policy: ref.Policy, Rule: ref.Rule,
		PID: uint32(pid), CgroupPath: cg, Path: rel, Access: acc, Comm: comm,
	}
	d.CgroupID, _ = CgroupID(cg)
	if enforced && action == policy.ActionKill {
		d.KillErr = KillPID(int(pid))
	}
	g.out(d)
}

// tgidOf returns the process (thread group) of thread tid, from
// /proc/<tid>/status; tid itself when that cannot be read.
func tgidOf(tid int32) int32 {
	var pb [48]byte
	fd, err := unix.Open(string(strconv.AppendInt(append(pb[:0], "/proc/"...), int64(tid), 10))+"/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return tid
	}
	var buf [1024]byte // Tgid is the fourth line
	n, _ := unix.Read(fd, buf[:])
	unix.Close(fd)
	if n <= 0 {
		return tid
	}
	_, rest, ok := bytes.Cut(buf[:n], []byte("\nTgid:"))
	if !ok {
		return tid
	}
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 32)
	if err != nil {
		return tid
	}
	return int32(v)
}

// fallback answers with the configured default when no decision could be
// computed (in time).
func (g *gateServer) fallback(fd int32) {
	g.stats.defaults.Add(1)
	g.respond(fd, g.opts.Fallback != FallbackDeny)
}

// commOf returns the comm of pid ("" when gone); only for reported decisions.
func commOf(pid int32) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
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
