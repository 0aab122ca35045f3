package enforce

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The fanotify gate is supervised: a gate process that exits without being
// asked to (killed, crashed) is noticed at once (its reaper), reported as a
// GateEvent and replaced by a new gate with the same table, which re-adds
// the marks. Until then file and exec blocking are off (the kernel allows
// what a closed group held), and GateStatus says so.
//
// A gate that stops answering (SIGSTOP, frozen cgroup, stuck read) would
// hang every guarded open forever: the watchdog pings it and, when it does
// not answer within twice FileTimeout (at least 1 s), or has been answering
// one batch for that long, takes a copy of its group (pidfd_getfd), answers
// every pending permission event with FileFallback (counted in
// GateStatus.Answered), kills it, and lets the supervisor replace it. Events
// that arrive between those answers and the kill are allowed by the kernel
// when the group closes, whatever the fallback.

// GateEvent reports the fanotify gate going down or coming back up.
type GateEvent struct {
	Time     time.Time
	Up       bool
	Reason   string // why it went down, or "restarted"
	Restarts uint64
}

// GateStatus is the state of the fanotify gate (file and exec blocking).
type GateStatus struct {
	Needed    bool   // the policies in force need a gate
	Up        bool   // a gate is answering
	PID       int    // the gate process (0 when down)
	Restarts  uint64 // gates started again after one died or froze
	Watchdog  uint64 // gates the watchdog found frozen and killed
	Answered  uint64 // permission events the watchdog answered with the fallback
	LastError string // why the gate last went down
}

// GateStatus returns the gate's state.
func (e *Enforcer) GateStatus() GateStatus {
	e.gmu.Lock()
	defer e.gmu.Unlock()
	return e.gst
}

func (e *Enforcer) gateEvent(ev GateEvent) {
	if e.opts.OnGate != nil {
		e.opts.OnGate(ev)
	}
}

// setGate records g as the gate in force (nil: none needed).
func (e *Enforcer) setGateStatus(g *fileGate) {
	e.gmu.Lock()
	e.gst.Needed, e.gst.Up, e.gst.PID = g != nil, g != nil, 0
	if g != nil {
		e.gst.PID = g.pid
	}
	e.gmu.Unlock()
}

// gateDied handles the unexpected exit of gate g: report, then start a new
// gate with g's table until one runs, the enforcer closes, or Apply puts
// another in force.
func (e *Enforcer) gateDied(g *fileGate, reason string) {
	e.mu.Lock()
	if e.closed || e.gate != g {
		e.mu.Unlock()
		return // replaced or closed meanwhile
	}
	e.gmu.Lock()
	e.gst.Up, e.gst.PID, e.gst.LastError = false, 0, reason
	restarts := e.gst.Restarts
	e.gmu.Unlock()
	e.mu.Unlock()
	e.gateEvent(GateEvent{Time: time.Now(), Up: false, Reason: reason, Restarts: restarts})
	<-g.done
	backoff := 50 * time.Millisecond
	for {
		e.mu.Lock()
		if e.closed || e.gate != g {
			e.mu.Unlock()
			return
		}
		ng, err := newFileGate(e, g.ft, g.rules)
		if err == nil {
			e.gate = ng
			e.gmu.Lock()
			e.gst.Restarts++
			restarts = e.gst.Restarts
			e.gmu.Unlock()
			e.setGateStatus(ng)
			e.mu.Unlock()
			e.gateEvent(GateEvent{Time: time.Now(), Up: true, Reason: "restarted", Restarts: restarts})
			return
		}
		e.mu.Unlock()
		e.gmu.Lock()
		e.gst.LastError = reason + "; restart failed: " + err.Error()
		e.gmu.Unlock()
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watchGate pings g until it exits; a gate that does not answer in time
// is answered for and killed (see above).
func (e *Enforcer) watchGate(g *fileGate) {
	limit := 2 * e.opts.FileTimeout
	if limit < time.Second {
		limit = time.Second
	}
	t := time.NewTicker(limit / 4)
	defer t.Stop()
	for {
		select {
		case <-g.exited:
			return
		case <-t.C:
		}
		m, err := g.ping(limit)
		reason := ""
		switch {
		case g.closing.Load():
			return
		case err != nil:
			select {
			case <-g.exited:
				return // the reaper reports it
			default:
			}
			reason = fmt.Sprintf("gate frozen: %v", err)
		case m.Busy != 0 && time.Since(time.Unix(0, m.Busy)) > limit:
			reason = fmt.Sprintf("gate frozen: answering one batch for %s", time.Since(time.Unix(0, m.Busy)).Round(time.Millisecond))
		}
		if reason == "" {
			continue
		}
		n := e.answerFor(g)
		e.gmu.Lock()
		e.gst.Watchdog++
		e.gst.Answered += uint64(n)
		e.gmu.Unlock()
		g.killReason.Store(&reason)
		unix.Kill(g.pid, unix.SIGKILL)
		return
	}
}

// answerFor answers every permission event pending on frozen gate g's
// group with the fallback: those it read but did not answer (open fds in
// its table) and those still queued. It returns how many it answered.
func (e *Enforcer) answerFor(g *fileGate) int {
	pidfd, err := unix.PidfdOpen(g.pid, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(pidfd)
	gfd, err := unix.PidfdGetfd(pidfd, g.groupFD, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(gfd) // with the gate gone, the last reference: the kernel allows the rest
	allow := e.opts.FileFallback != FallbackDeny
	respond := func(fd int32) bool {
		r := uint32(unix.FAN_ALLOW)
		if !allow {
			r = unix.FAN_DENY
		}
		var b [8]byte
		binary.NativeEndian.PutUint32(b[0:4], uint32(fd))
		binary.NativeEndian.PutUint32(b[4:8], r)
		n, err := unix.Write(gfd, b[:])
		return err == nil && n == len(b)
	}
	answered := 0
	// Read by the gate, not answered: the response names the fd number
	// in the gate's table; a number that is no pending event is refused.
	if ents, err := os.ReadDir("/proc/" + strconv.Itoa(g.pid) + "/fd"); err == nil {
		for _, ent := range ents {
			fd, err := strconv.Atoi(ent.Name())
			if err != nil || fd == g.groupFD || fd <= 2 {
				continue
			}
			if respond(int32(fd)) {
				answered++
			}
		}
	}
	// Still queued: read them here and answer.
	unix.SetNonblock(gfd, true)
	buf := make([]byte, 16*1024)
	for {
		n, err := unix.Read(gfd, buf)
		if err != nil || n < metaLen {
			break
		}
		for b := buf[:n]; len(b) >= metaLen; {
			evLen := binary.NativeEndian.Uint32(b[0:4])
			if evLen < metaLen || int(evLen) > len(b) {
				break
			}
			mask := binary.NativeEndian.Uint64(b[8:16])
			fd := int32(binary.NativeEndian.Uint32(b[16:20]))
			b = b[evLen:]
			if fd < 0 {
				continue
			}
			if mask&fanMask != 0 && respond(fd) {
				answered++
			}
			unix.Close(int(fd))
		}
	}
	return answered
}
