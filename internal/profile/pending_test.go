package profile

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// undescribed is web before its runtime described it: id only.
var undescribed = &event.Container{ID: web.ID, FullID: web.FullID, Type: "docker"}

func as(ev *event.Event, c *event.Container) *event.Event {
	ev.Container = c
	return ev
}

// TestHeldUntilDescribed: a container's events before its metadata is
// known are held and recorded, in order and from the first one's time,
// once an event comes with the metadata; what does not fit is counted.
func TestHeldUntilDescribed(t *testing.T) {
	k, _ := ParseKeyBy("label:app")
	l := NewLearner(Options{KeyBy: k, Window: time.Minute, PendingEvents: 3})
	t0 := time.Unix(1_700_000_000, 0)
	l.Observe(as(listenEv(t0, 8080), undescribed))
	ex := execEv(t0, "/bin/busybox", "/bin/httpd")
	l.Observe(as(ex, undescribed))
	ex.Exec.ExePath = "/overwritten" // the sensor reuses its exec record
	l.Observe(as(openEv(t0, "/etc/httpd.conf", syscall.O_RDONLY), undescribed))
	l.Observe(as(openEv(t0, "/etc/dropped", syscall.O_RDONLY), undescribed)) // the fourth: full
	if n := len(l.Profiles()); n != 0 {
		t.Fatalf("%d profiles before the container is described", n)
	}
	l.Observe(openEv(t0.Add(time.Second), "/etc/passwd", syscall.O_RDONLY))
	ps := l.Profiles()
	if len(ps) != 1 || ps[0].Name != "label:app=shop" {
		t.Fatalf("profiles %v", ps)
	}
	p := ps[0]
	if !p.LearnStart.Equal(t0) {
		t.Errorf("learning starts %v, want the first held event's %v", p.LearnStart, t0)
	}
	for k, want := range map[Kind][]string{KindListen: {"8080/tcp"}, KindProgram: {"/bin/busybox (httpd)"},
		KindRead: {"/etc/httpd.conf", "/etc/passwd"}} {
		if got := p.Items(k); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if l.pendHeld.Value() != 3 || l.pendFull.Value() != 1 || len(l.pending) != 0 || l.pendingCount != 0 {
		t.Errorf("held %d full %d pending %d/%d", l.pendHeld.Value(), l.pendFull.Value(), len(l.pending), l.pendingCount)
	}
}

// TestHeldFlushedByTick: with no later event, Tick finds the container
// described through the resolver; a container never described is dropped
// after the timeout, counted.
func TestHeldFlushedByTick(t *testing.T) {
	l := NewLearner(Options{Window: time.Minute, PendingTimeout: time.Minute})
	t0 := time.Unix(1_700_000_000, 0)
	ghost := &event.Container{ID: "0123456789ab", FullID: "0123456789abff", Type: "docker"}
	ev := listenEv(t0, 8080)
	ev.CgroupID = 77
	l.Observe(as(ev, undescribed))
	gev := openEv(t0, "/etc/x", syscall.O_RDONLY)
	gev.CgroupID = 78
	l.Observe(as(gev, ghost))
	described := false
	l.SetResolver(func(cg uint64, pid uint32) *event.Container {
		if cg == 77 && described {
			return web
		}
		return nil
	})
	now := time.Now()
	l.Tick(now)
	if len(l.Profiles()) != 0 || len(l.pending) != 2 {
		t.Fatalf("flushed before described: %d profiles, %d pending", len(l.Profiles()), len(l.pending))
	}
	described = true
	l.Tick(now)
	if ps := l.Profiles(); len(ps) != 1 || !slices.Equal(ps[0].Items(KindListen), []string{"8080/tcp"}) {
		t.Fatalf("profiles after the resolver described it: %v", ps)
	}
	l.Tick(now.Add(2 * time.Minute))
	if len(l.pending) != 0 || l.pendTimeout.Value() != 1 {
		t.Errorf("pending %d, dropped on timeout %d", len(l.pending), l.pendTimeout.Value())
	}
}

// TestRuntimeNotLearned: runc's init stages and re-exec, a shim and a pod
// sandbox with the pod's labels are the runtime's: not in the profile.
func TestRuntimeNotLearned(t *testing.T) {
	k, _ := ParseKeyBy("label:app")
	l := NewLearner(Options{KeyBy: k, Window: time.Minute})
	t0 := time.Unix(1_700_000_000, 0)
	reexec := execEv(t0, "/usr/sbin/runc", "/proc/self/exe")
	reexec.Comm, reexec.Exec.Argv = "exe", []string{"runc", "init"}
	initRead := openEv(t0, "/etc/group", syscall.O_RDONLY)
	initRead.Comm = "runc:[2:INIT]"
	child := openEv(t0, "/etc/shadow", syscall.O_RDONLY)
	child.Comm = "runc:[1:CHILD]"
	shim := execEv(t0, "/usr/bin/containerd-shim-runc-v2", "/usr/bin/containerd-shim-runc-v2")
	shim.Comm = "containerd-shim"
	pause := &event.Container{ID: "5a5a5a5a5a5a", FullID: "5a5a5a5a5a5a00", Type: "containerd", MetadataKnown: true,
		Image: "registry.k8s.io/pause:3.9", Labels: map[string]string{"io.cri-containerd.kind": "sandbox"},
		PodLabels: map[string]string{"app": "shop"}}
	for _, ev := range []*event.Event{reexec, initRead, child, shim,
		as(execEv(t0, "/pause", "/pause"), pause), execEv(t0, "/bin/busybox", "/bin/httpd")} {
		l.Observe(ev)
	}
	ps := l.Profiles()
	if len(ps) != 1 {
		t.Fatalf("profiles %v", ps)
	}
	if got := ps[0].Items(KindProgram); !slices.Equal(got, []string{"/bin/busybox (httpd)"}) {
		t.Errorf("programs %q", got)
	}
	if got := ps[0].Items(KindRead); len(got) != 0 {
		t.Errorf("reads %q", got)
	}
	if n := l.runtimeEvs.Value(); n != 5 {
		t.Errorf("runtime events counted %d, want 5", n)
	}
}
