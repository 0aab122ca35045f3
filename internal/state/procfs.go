package state

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// clkTck is USER_HZ, the unit of /proc/PID/stat times (100 on every Linux
// architecture Vigil supports).
const clkTck = 100

// findCgroup2 returns the mount point of the cgroup v2 hierarchy from
// procRoot/self/mountinfo, or "" when there is none.
func findCgroup2(procRoot string) (string, error) {
	f, err := os.Open(procRoot + "/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("open mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// 40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
		line := sc.Text()
		sep := strings.Index(line, " - ")
		if sep < 0 {
			continue
		}
		if fs := strings.Fields(line[sep+3:]); len(fs) == 0 || fs[0] != "cgroup2" {
			continue
		}
		fs := strings.Fields(line[:sep])
		if len(fs) >= 5 {
			return host.UnescapeMountinfo(fs[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", nil
}

// Seed loads every process in /proc that the table does not know yet, with
// its threads and its parent chain. Fds are not read: they are resolved
// lazily on first use.
func (t *Table) Seed() error {
	d, err := os.Open(t.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("state: seed: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("state: seed: read %s: %w", t.cfg.ProcRoot, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range names {
		pid, err := strconv.ParseUint(n, 10, 32)
		if err != nil || pid == 0 {
			continue
		}
		if t.procs[uint32(pid)] == nil {
			t.loadProc(uint32(pid), 0)
		}
	}
	return nil
}

func (t *Table) loadProc(pid uint32, depth int) *procEntry {
	return t.loadProcKeep(pid, depth, nil)
}

// loadProcKeep reads process pid from /proc and inserts it with its parent
// chain; nil when /proc does not have it. keep is not evicted.
func (t *Table) loadProcKeep(pid uint32, depth int, keep *procEntry) *procEntry {
	if pid == 0 {
		return nil
	}
	t.stats.ProcLookups++
	p, tids, err := t.readProc(pid)
	if err != nil {
		t.stats.ProcMisses++
		return nil
	}
	e := &procEntry{p: p}
	t.insert(e, keep)
	for _, tid := range tids {
		if tid != pid {
			t.addThread(e, tid)
		}
	}
	if p.PPID != 0 && p.PPID != pid {
		t.link(e, t.procOrPlaceholder(p.PPID, depth+1, e))
	}
	return e
}

// readProc builds a Process from /proc/PID (Falco's /proc scan: comm from
// comm, exe = argv[0], exepath = readlink exe, cwd with a trailing "/").
func (t *Table) readProc(pid uint32) (event.Process, []uint32, error) {
	dir := t.cfg.ProcRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	p := event.Process{PID: pid, LoginUID: event.NoLoginUID}

	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return p, nil, fmt.Errorf("read %s/stat: %w", dir, err)
	}
	if err := parseStat(stat, &p, t.bootNS); err != nil {
		return p, nil, fmt.Errorf("parse %s/stat: %w", dir, err)
	}
	if b, err := os.ReadFile(dir + "/comm"); err == nil {
		p.Comm = strings.TrimSuffix(string(b), "\n")
	}
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		parseStatus(b, &p)
	}
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil && len(b) > 0 {
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		p.Exe = args[0]
		if len(args) > 1 {
			p.Args = args[1:]
		}
	} else {
		p.Exe = p.Comm // kernel thread
	}
	if s, err := os.Readlink(dir + "/exe"); err == nil {
		p.ExePath = trimDeleted(s)
	}
	if p.Comm == selfExecComm && path.Base(p.ExePath) != selfExecComm {
		// Exec'd through /proc/self/exe (a busybox applet): name it by
		// argv[0], as the exec event would have.
		if c := argv0Comm(p.Exe); c != "" {
			p.Comm = c
		}
	}
	var st syscall.Stat_t
	if syscall.Stat(dir+"/exe", &st) == nil {
		p.ExeIno = st.Ino
		p.ExeCtime = st.Ctim.Nano()
		p.ExeMtime = st.Mtim.Nano()
	}
	if b, err := os.ReadFile(dir + "/environ"); err == nil && len(b) > 0 {
		p.Env = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	}
	if s, err := os.Readlink(dir + "/cwd"); err == nil {
		p.Cwd = dirSlash(s)
	}
	if b, err := os.ReadFile(dir + "/loginuid"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			p.LoginUID = uint32(v)
		}
	}
	if b, err := os.ReadFile(dir + "/cgroup"); err == nil {
		if t.cgroupRoot != "" {
			p.CgroupID = t.cgroupID(b)
		}
		p.Cgroups = t.cgroups(b)
	}
	p.ExecTime = p.StartTime
	var tids []uint32
	if d, err := os.Open(dir + "/task"); err == nil {
		names, _ := d.Readdirnames(-1)
		d.Close()
		for _, n := range names {
			if v, err := strconv.ParseUint(n, 10, 32); err == nil {
				tids = append(tids, uint32(v))
			}
		}
	}
	return p, tids, nil
}

// readPPID reads the parent pid of pid from /proc/PID/stat.
func readPPID(procRoot string, pid uint32) (uint32, error) {
	b, err := os.ReadFile(procRoot + "/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	var p event.Process
	if err := parseStat(b, &p, 0); err != nil {
		return 0, fmt.Errorf("parse stat of %d: %w", pid, err)
	}
	return p.PPID, nil
}

// parseStat reads ppid, tty and the start time from /proc/PID/stat.
func parseStat(b []byte, p *event.Process, bootNS int64) error {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return fmt.Errorf("no comm terminator")
	}
	fs := strings.Fields(string(b[i+1:]))
	// fs[0] is field 3 (state): field N is fs[N-3].
	if len(fs) < 20 {
		return fmt.Errorf("%d fields after comm, want at least 20", len(fs))
	}
	ppid, err := strconv.ParseUint(fs[1], 10, 32)
	if err != nil {
		return fmt.Errorf("ppid: %w", err)
	}
	tty, err := strconv.ParseInt(fs[4], 10, 64)
	if err != nil {
		return fmt.Errorf("tty_nr: %w", err)
	}
	start, err := strconv.ParseUint(fs[19], 10, 64)
	if err != nil {
		return fmt.Errorf("starttime: %w", err)
	}
	p.PPID = uint32(ppid)
	p.Tty = uint32(tty)
	p.StartTime = bootNS + int64(start)*int64(time.Second/clkTck)
	return nil
}

// parseStatus reads the effective uid/gid, the capability sets and the
// ids in the task's own pid namespace.
func parseStatus(b []byte, p *event.Process) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		fs := strings.Fields(string(v))
		if len(fs) == 0 {
			continue
		}
		switch string(k) {
		case "Uid":
			if len(fs) > 1 {
				p.UID = parseU32(fs[1])
			}
		case "Gid":
			if len(fs) > 1 {
				p.GID = parseU32(fs[1])
			}
		case "CapInh":
			p.CapInh, _ = strconv.ParseUint(fs[0], 16, 64)
		case "CapPrm":
			p.CapPrm, _ = strconv.ParseUint(fs[0], 16, 64)
		case "CapEff":
			p.CapEff, _ = strconv.ParseUint(fs[0], 16, 64)
		// NS* list the id in each pid namespace, the task's own last.
		case "NSpid":
			p.IDs.VPID = parseU32(fs[len(fs)-1])
		case "NSpgid":
			p.IDs.VPGID = parseU32(fs[len(fs)-1])
		case "NSsid":
			p.IDs.VSID = parseU32(fs[len(fs)-1])
		}
	}
}

func parseU32(s string) uint32 {
	v, _ := strconv.ParseUint(s, 10, 32)
	return uint32(v)
}

// cgroupID is the inode of the cgroup v2 directory named by the "0::" line
// of /proc/PID/cgroup.
func (t *Table) cgroupID(b []byte) uint64 {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			var st syscall.Stat_t
			if syscall.Stat(t.cgroupRoot+rest, &st) == nil {
				return st.Ino
			}
			return 0
		}
	}
	return 0
}

func trimDeleted(s string) string { return strings.TrimSuffix(s, " (deleted)") }

// readFD resolves fd of pid from /proc: readlink of /proc/PID/fd/N, flags
// from fdinfo, sockets from /proc/PID/net. nil when the fd is not open.
func readFD(procRoot string, pid uint32, fd int64) *fdEntry {
	dir := procRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	fdPath := dir + "/fd/" + strconv.FormatInt(fd, 10)
	target, err := os.Readlink(fdPath)
	if err != nil {
		return nil
	}
	x := &fdEntry{info: event.FDInfo{Num: fd, Type: event.FDUnknown}}
	if b, err := os.ReadFile(dir + "/fdinfo/" + strconv.FormatInt(fd, 10)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				x.info.Flags, _ = strconv.ParseUint(strings.TrimSpace(v), 8, 64)
				break
			}
		}
	}
	x.cloexec = x.info.Flags&syscall.O_CLOEXEC != 0
	switch {
	case strings.HasPrefix(target, "/memfd:"):
		x.info.Type = event.FDMemfd
		x.info.Name = trimDeleted(strings.TrimPrefix(target, "/memfd:"))
	case strings.HasPrefix(target, "/"):
		x.info.Name = trimDeleted(target)
		x.info.NameRaw = x.info.Name
		x.info.Type = event.FDFile
		var st syscall.Stat_t
		statOK := syscall.Stat(fdPath, &st) == nil
		if statOK {
			// st_dev is new_encode_dev'd, as the sensor's fd.dev.
			x.info.Dev, x.info.Ino = uint32(st.Dev), st.Ino
		}
		switch {
		case x.info.Flags&syscall.O_DIRECTORY != 0:
			x.info.Type = event.FDDirectory
		case statOK && st.Mode&syscall.S_IFMT == syscall.S_IFDIR:
			x.info.Type = event.FDDirectory
		case st.Mode&syscall.S_IFMT == syscall.S_IFIFO:
			x.info.Type = event.FDPipe
		}
	case strings.HasPrefix(target, "socket:["):
		ino, _ := strconv.ParseUint(strings.TrimSuffix(target[len("socket:["):], "]"), 10, 64)
		if !readSocket(dir, ino, &x.info) {
			x.info.Name = target
		}
	case strings.HasPrefix(target, "pipe:["):
		x.info.Type = event.FDPipe
		x.info.Name = target
	case strings.HasPrefix(target, "anon_inode:"):
		x.info.Type = anonType(strings.Trim(target[len("anon_inode:"):], "[]"))
	default:
		x.info.Name = target
	}
	return x
}

// anonType maps an anon_inode name to its fd type.
func anonType(name string) event.FDType {
	switch {
	case name == "eventfd":
		return event.FDEvent
	case name == "signalfd":
		return event.FDSignal
	case name == "eventpoll":
		return event.FDEpoll
	case name == "inotify":
		return event.FDInotify
	case name == "timerfd":
		return event.FDTimer
	case name == "userfaultfd":
		return event.FDUnix
	case name == "io_uring":
		return event.FDIOUring
	case name == "pidfd":
		return event.FDPidfd
	case strings.HasPrefix(name, "bpf") || name == "btf":
		return event.FDBPF
	}
	return event.FDUnknown
}

// readSocket finds socket inode ino in the process's /proc/PID/net tables
// and fills the fd type, protocol, tuple and name.
func readSocket(dir string, ino uint64, fi *event.FDInfo) bool {
	if ino == 0 {
		return false
	}
	want := strconv.FormatUint(ino, 10)
	for _, tb := range [...]struct {
		file  string
		proto string
		typ   event.FDType
	}{
		{"tcp", "tcp", event.FDIPv4}, {"tcp6", "tcp", event.FDIPv6},
		{"udp", "udp", event.FDIPv4}, {"udp6", "udp", event.FDIPv6},
		{"raw", "raw", event.FDIPv4}, {"raw6", "raw", event.FDIPv6},
	} {
		b, err := os.ReadFile(dir + "/net/" + tb.file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[9] != want {
				continue
			}
			local, ok1 := parseHexAddr(fs[1])
			remote, ok2 := parseHexAddr(fs[2])
			if !ok1 || !ok2 {
				return false
			}
			fi.Type, fi.L4Proto = tb.typ, tb.proto
			if local.IP.Is4In6() && (remote.IP.Is4In6() || remote.IP.IsUnspecified()) {
				local.IP, local.Family = local.IP.Unmap(), syscall.AF_INET
				remote.IP, remote.Family = netip.IPv4Unspecified(), syscall.AF_INET
				fi.Type = event.FDIPv4
			}
			switch {
			case tb.proto == "tcp" && fs[3] == "0A": // TCP_LISTEN
				fi.Listening = true
				fi.Server = local
				fi.Name = string(appendAddr(nil, local))
			case remote.Port != 0:
				// The /proc scan cannot tell the roles: local is the client.
				fi.Client, fi.Server = local, remote
				fi.Connected = tb.proto == "tcp"
				fi.Name = string(appendAddr(append(appendAddr(nil, local), "->"...), remote))
			default:
				fi.Server = local
				fi.Name = string(appendAddr(nil, local))
			}
			return true
		}
	}
	if b, err := os.ReadFile(dir + "/net/unix"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 7 || fs[6] != want {
				continue
			}
			fi.Type = event.FDUnix
			if len(fs) > 7 {
				fi.Name = fs[7]
				fi.Server = event.SockAddr{Family: syscall.AF_UNIX, Path: fs[7]}
			}
			return true
		}
	}
	if b, err := os.ReadFile(dir + "/net/netlink"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) >= 10 && fs[9] == want {
				fi.Type = event.FDNetlink
				return true
			}
		}
	}
	return false
}

// parseHexAddr decodes a /proc/net address "0100007F:1F90" (IPv4) or its
// 32-digit IPv6 form.
func parseHexAddr(s string) (event.SockAddr, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return event.SockAddr{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return event.SockAddr{}, false
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return event.SockAddr{}, false
	}
	// The kernel prints each 32-bit word of the network-order address as a
	// host-order integer.
	for i := 0; i < len(raw); i += 4 {
		w := binary.BigEndian.Uint32(raw[i:])
		binary.NativeEndian.PutUint32(raw[i:], w)
	}
	a := event.SockAddr{Port: uint16(port)}
	if len(raw) == 4 {
		a.Family, a.IP = syscall.AF_INET, netip.AddrFrom4([4]byte(raw))
	} else {
		a.Family, a.IP = syscall.AF_INET6, netip.AddrFrom16([16]byte(raw))
	}
	return a, true
}
