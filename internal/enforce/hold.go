package enforce

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/vigilsec/vigil/internal/policy"
	"golang.org/x/sys/unix"
)

// DefaultGateTimeout is how long a task is held at exec for its cgroup to
// be classified when GateOptions.Timeout is 0.
const DefaultGateTimeout = 200 * time.Millisecond

// GateOptions configure the exec gate: the first exec of a task in a cgroup
// not classified yet, outside the host's mount namespace, is stopped before
// its first instruction (SIGSTOP sent by the sched_process_exec program)
// until Admit returns; then the exec is decided with the policy Admit
// brought in force, and the task is resumed or killed.
type GateOptions struct {
	// Admit classifies the cgroup of a held task and brings its policy in
	// force (the agent resolves the container, adds it to its targets and
	// calls Apply). It runs on its own goroutine; ctx ends at the bound.
	// An error, or a ctx that ends first, gives the held tasks Default.
	Admit func(ctx context.Context, h Hold) error
	// Timeout bounds how long a task is held; 0 means DefaultGateTimeout.
	Timeout time.Duration
	// Default is what a held task gets when its cgroup could not be
	// classified in time: FallbackAllow resumes it (and the cgroup is not
	// held again), FallbackDeny kills it (the next exec is held again).
	Default Fallback
	// DenyCgroups are cgroup v2 path globs (path.Match, "/kubepods/*")
	// whose default is deny whatever Default says.
	DenyCgroups []string
}

// Hold is a task stopped at exec, waiting for its cgroup to be classified.
type Hold struct {
	CgroupID   uint64
	CgroupPath string // cgroup v2 path ("/a/b"); "" when the task is gone
	PID        uint32
	Comm       string
	Path       string // the filename as passed to execve
	Since      time.Duration
}

// GateStats count the exec gate's work (held tasks of content rules too).
type GateStats struct {
	Held       uint64        // holds reported by the kernel and handled
	Admitted   uint64        // cgroups Admit classified in time
	Fallbacks  uint64        // held tasks given the gate default
	Killed     uint64        // held tasks killed (by policy or by the default)
	Hashed     uint64        // executables hashed for content rules
	Errors     uint64        // decisions that failed (the task got the default)
	Latency    time.Duration // mean time from the stop to the release
	MaxLatency time.Duration
}

// holder handles the tasks the exec program holds: it reads the holds ring
// buffer, has cgroups classified, decides each exec with vigil_exec_decide
// and resumes or kills the task. A releaser process resumes every held task
// if the agent dies.
type holder struct {
	e *Enforcer
	// objs are the enforcer's objects, kept here: Close sets e.objs to nil
	// while a classification may still run; on closed maps and programs
	// it gets errors, not a nil dereference.
	objs *enforceObjects
	opts GateOptions
	rb   *ringbuf.Reader
	done chan struct{}
	rel  *releaser

	mu      sync.Mutex
	pending map[uint64][]*enforceExecFacts // cgroup → tasks waiting for Admit
	decided map[uint64]error               // cgroup → Admit's result (nil: admitted)

	// rw orders the release work (RLock) before close (Lock).
	rw      sync.RWMutex
	closing bool

	held, admitted, fallbacks, killed, hashed, errs, latNs, latMax, released atomic.Uint64
}

func newHolder(e *Enforcer) (*holder, error) {
	rel, err := startReleaser(e.objs.Held)
	if err != nil {
		return nil, err
	}
	rb, err := ringbuf.NewReader(e.objs.Holds)
	if err != nil {
		rel.stop()
		return nil, fmt.Errorf("holds ring buffer: %w", err)
	}
	h := &holder{e: e, objs: e.objs, rb: rb, rel: rel, done: make(chan struct{}),
		pending: map[uint64][]*enforceExecFacts{}, decided: map[uint64]error{}}
	if e.opts.Gate != nil {
		h.opts = *e.opts.Gate
	}
	if h.opts.Timeout <= 0 {
		h.opts.Timeout = DefaultGateTimeout
	}
	go h.read()
	return h, nil
}

const sizeofFacts = int(unsafe.Sizeof(enforceExecFacts{}))

func factsBytes(f *enforceExecFacts) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(f)), sizeofFacts)
}

func (h *holder) read() {
	defer close(h.done)
	var rec ringbuf.Record
	for {
		if err := h.rb.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			continue
		}
		if len(rec.RawSample) < sizeofFacts {
			continue
		}
		f := new(enforceExecFacts)
		copy(factsBytes(f), rec.RawSample)
		h.held.Add(1)
		h.onHold(f)
	}
}

func (h *holder) onHold(f *enforceExecFacts) {
	if enforceHoldReason(f.Reason) != enforceHoldReasonHOLD_UNKNOWN_CGROUP {
		go h.decide(f) // a content rule: hash, then decide
		return
	}
	cg := f.CgroupId
	h.mu.Lock()
	if err, ok := h.decided[cg]; ok {
		// Held before the cgroup was marked classified, read after.
		h.mu.Unlock()
		if err == nil {
			go h.decide(f)
		} else {
			go h.fallback(f, err)
		}
		return
	}
	if waiting, ok := h.pending[cg]; ok {
		h.pending[cg] = append(waiting, f)
		h.mu.Unlock()
		return
	}
	h.pending[cg] = []*enforceExecFacts{f}
	h.mu.Unlock()
	go h.classify(f)
}

// monotonic is bpf_ktime_get_ns's clock.
func monotonic() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// classify runs Admit for the cgroup of f, bounded by the gate timeout
// counted from the moment the task was stopped, then releases every task
// held in that cgroup.
func (h *holder) classify(f *enforceExecFacts) {
	since := time.Duration(f.Ktime)
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.Timeout-(monotonic()-since))
	defer cancel()
	hd := Hold{CgroupID: f.CgroupId, PID: f.Tgid, Comm: cstr(f.Comm[:]), Path: cstr(f.Path[:]), Since: since}
	hd.CgroupPath, _ = cgroupOf(int32(f.Tgid))
	err := errors.New("no Admit function")
	if h.opts.Admit != nil {
		errc := make(chan error, 1)
		go func() { errc <- h.opts.Admit(ctx, hd) }()
		select {
		case err = <-errc:
		case <-ctx.Done():
			err = fmt.Errorf("not classified within %v", h.opts.Timeout)
		}
	}
	deny := err != nil && h.denies(hd.CgroupPath)
	if err == nil {
		h.admitted.Add(1)
	}
	if err == nil || !deny {
		// Admitted, or let go by the default: not held again.
		if perr := h.objs.CgSeen.Put(f.CgroupId, uint8(1)); perr != nil && err == nil {
			err = fmt.Errorf("mark cgroup classified: %w", perr)
		}
	}
	h.mu.Lock()
	waiting := h.pending[f.CgroupId]
	delete(h.pending, f.CgroupId)
	if len(h.decided) > 1<<16 {
		clear(h.decided)
	}
	h.decided[f.CgroupId] = err
	h.mu.Unlock()
	for _, w := range waiting {
		if err == nil {
			h.decide(w)
		} else {
			h.fallback(w, err)
		}
	}
}

func (h *holder) denies(cgroupPath string) bool {
	if h.opts.Default == FallbackDeny {
		return true
	}
	for _, g := range h.opts.DenyCgroups {
		if ok, _ := path.Match(g, cgroupPath); ok {
			return true
		}
	}
	return false
}

// decide takes a held task's exec decision in the kernel (vigil_exec_decide
// reports it like vigil_exec), hashing the executable first when a content
// rule needs it, and releases the task.
func (h *holder) decide(f *enforceExecFacts) {
	h.rw.RLock()
	defer h.rw.RUnlock()
	if h.closing {
		return
	}
	var ret uint32
	var err error
	for try := 0; try < 2; try++ {
		ret, err = h.objs.VigilExecDecide.Run(&ebpf.RunOptions{Context: factsBytes(f)})
		if err != nil || enforceExecVerdict(ret)&enforceExecVerdictVERDICT_NEED_HASH == 0 {
			break
		}
		if err = h.hash(f); err != nil {
			break
		}
		ret = uint32(enforceExecVerdictVERDICT_NEED_HASH)
	}
	if err == nil && enforceExecVerdict(ret)&enforceExecVerdictVERDICT_NEED_HASH != 0 {
		err = errors.New("content hash not taken")
	}
	if err != nil {
		h.errs.Add(1)
		h.fallbackLocked(f, fmt.Errorf("decide exec: %w", err))
		return
	}
	h.release(f, enforceExecVerdict(ret)&enforceExecVerdictVERDICT_DENY != 0)
}

// hash computes the sha256 of the held task's executable (the file the
// kernel loaded: /proc/PID/exe, checked against the device and inode the
// program saw) and caches it by inode for the kernel.
func (h *holder) hash(f *enforceExecFacts) error {
	file, err := os.Open("/proc/" + strconv.FormatUint(uint64(f.Tgid), 10) + "/exe")
	if err != nil {
		return err
	}
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(file.Fd()), &st); err != nil {
		return err
	}
	if kernelDev(st.Dev) != f.File.Dev || st.Ino != f.File.Ino {
		return fmt.Errorf("pid %d: executable changed", f.Tgid)
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, file); err != nil {
		return err
	}
	d := sum.Sum(nil)
	v := enforceFileHash{CtimeSec: f.CtimeSec, CtimeNsec: f.CtimeNsec,
		A: binary.LittleEndian.Uint64(d[0:8]), B: binary.LittleEndian.Uint64(d[8:16])}
	if err := h.objs.FileHashes.Put(f.File, v); err != nil {
		return fmt.Errorf("cache hash: %w", err)
	}
	h.hashed.Add(1)
	return nil
}

func (h *holder) fallback(f *enforceExecFacts, why error) {
	h.rw.RLock()
	defer h.rw.RUnlock()
	if h.closing {
		return
	}
	h.fallbackLocked(f, why)
}

// fallbackLocked gives a held task the gate default, and reports it.
func (h *holder) fallbackLocked(f *enforceExecFacts, why error) {
	h.fallbacks.Add(1)
	cg, _ := cgroupOf(int32(f.Tgid))
	deny := h.denies(cg)
	enforced := deny && !h.e.opts.DryRun
	act := policy.ActionAudit
	if deny {
		act = policy.ActionKill
	}
	h.e.emit(Decision{Time: time.Now(), Mechanism: MechExecGate, Kind: KindHold, Action: act, Enforced: enforced,
		DryRun: h.e.opts.DryRun, Rule: "gate-default", PID: f.Tgid, Comm: cstr(f.Comm[:]), CgroupID: f.CgroupId,
		CgroupPath: cg, Path: cstr(f.Path[:]), Reason: why.Error()})
	h.release(f, enforced)
}

// release resumes (SIGCONT) or kills (SIGKILL) a held task. A task that
// has not reached its stop yet loses the pending SIGSTOP to SIGCONT.
func (h *holder) release(f *enforceExecFacts, kill bool) {
	sig := unix.SIGCONT
	if kill {
		sig = unix.SIGKILL
		h.killed.Add(1)
	}
	unix.Kill(int(f.Tgid), sig)
	h.objs.Held.Delete(f.Tgid)
	lat := uint64(monotonic() - time.Duration(f.Ktime))
	h.released.Add(1)
	h.latNs.Add(lat)
	for {
		cur := h.latMax.Load()
		if lat <= cur || h.latMax.CompareAndSwap(cur, lat) {
			break
		}
	}
}

func (h *holder) stats() GateStats {
	s := GateStats{Held: h.held.Load(), Admitted: h.admitted.Load(), Fallbacks: h.fallbacks.Load(),
		Killed: h.killed.Load(), Hashed: h.hashed.Load(), Errors: h.errs.Load(), MaxLatency: time.Duration(h.latMax.Load())}
	if n := h.released.Load(); n > 0 {
		s.Latency = time.Duration(h.latNs.Load() / n)
	}
	return s
}

// close stops reading holds and resumes every task still held (the exec
// program is detached first by the caller, so no new task is held).
func (h *holder) close() {
	h.rb.Close()
	<-h.done
	h.rw.Lock()
	h.closing = true
	h.rw.Unlock()
	resumeHeld(h.objs.Held)
	h.rel.stop()
}

// resumeHeld sends SIGCONT to every task in the held map.
func resumeHeld(m *ebpf.Map) int {
	var tgid uint32
	var v enforceHeldTask
	n := 0
	it := m.Iterate()
	var tgids []uint32
	for it.Next(&tgid, &v) {
		tgids = append(tgids, tgid)
	}
	for _, t := range tgids {
		if unix.Kill(int(t), unix.SIGCONT) == nil {
			n++
		}
		m.Delete(t)
	}
	return n
}

// hostMntns is the inode of the host's mount namespace (the one
// hostProcess is in), whose execs are never held: the agent's own when it
// runs on the host (it reaches containers' files through /proc/PID/root);
// its runtime shim's when it runs in a container of its own (the
// DaemonSet). Not the agent container's: a runtime's execs in a new
// container's cgroup before the container's namespaces exist (runc 1.1
// re-executes itself from a sealed copy, /dev/fd/N, there) would be held
// in place of the container's first program, and the cgroup classified
// while that task's root is still the host's, so file rules would be
// marked on the host's files. Host services in mount namespaces of their
// own are held once per cgroup, at their first exec, and classified as
// the host.
func hostMntns() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+hostProcess()+"/ns/mnt", &st); err != nil {
		return 0, fmt.Errorf("host mount namespace: %w", err)
	}
	return uint32(st.Ino), nil
}
