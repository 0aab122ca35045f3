package profile

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
)

// TestCapabilitiesUsed: the capabilities successful calls needed are
// learned (a bind of port 80 where the namespace's unprivileged ports
// start at 1024, a raw socket, a mount), not those the calls did not need
// (port 80 where they start at 0, a packet socket that failed, an unshare
// with a new user namespace); once monitoring, a new one (a module load)
// raises a deviation naming it.
func TestCapabilitiesUsed(t *testing.T) {
	var got []*alert.Alert
	portStart := map[uint32]int{10: 1024, 11: 0}
	l := NewLearner(Options{Window: time.Minute, OnDeviation: func(a *alert.Alert) { got = append(got, a) },
		PortStart: func(pid uint32) (int, error) { return portStart[pid], nil }})
	t0 := time.Unix(1_700_000_000, 0)
	ev := func(at time.Time, pid uint32, e event.Event) *event.Event {
		e.Time, e.PID, e.TID, e.Container = at.UnixNano(), pid, pid, web
		return &e
	}
	bind80 := event.Event{Type: event.TypeBind, Addr: event.SockAddr{Family: syscall.AF_INET, IP: netip.IPv4Unspecified(), Port: 80}, FDInfo: &event.FDInfo{L4Proto: "tcp"}}
	for _, e := range []*event.Event{
		ev(t0, 11, bind80), // unprivileged ports from 0: no capability
		ev(t0, 10, event.Event{Type: event.TypeSocket, Ret: -1, Arg: [4]int64{unix.AF_PACKET, unix.SOCK_RAW}}),
		ev(t0, 10, event.Event{Type: event.TypeUnshare, Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}),
	} {
		l.Observe(e)
	}
	if c := l.Profiles()[0].Items(KindCapUsed); len(c) != 0 {
		t.Fatalf("capabilities the calls did not need: %q", c)
	}
	for _, e := range []*event.Event{
		ev(t0, 10, bind80),
		ev(t0, 10, event.Event{Type: event.TypeSocket, Ret: 3, Arg: [4]int64{unix.AF_INET, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP}}),
		ev(t0, 10, event.Event{Type: event.TypeMount}),
	} {
		l.Observe(e)
	}
	p := l.Profiles()[0]
	if c := strings.Join(p.Items(KindCapUsed), ","); c != "CAP_NET_BIND_SERVICE,CAP_NET_RAW,CAP_SYS_ADMIN" {
		t.Fatalf("capabilities used %q", c)
	}
	doc, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(doc, "doc", Limits{})
	if err != nil || strings.Join(back.Items(KindCapUsed), ",") != "CAP_NET_BIND_SERVICE,CAP_NET_RAW,CAP_SYS_ADMIN" {
		t.Fatalf("round trip: %v\n%s", err, doc)
	}
	after := t0.Add(2 * time.Minute)
	l.Observe(ev(after, 10, event.Event{Type: event.TypeMount}))
	l.Observe(ev(after, 10, event.Event{Type: event.TypeFinitModule}))
	var outs []string
	for _, a := range got {
		outs = append(outs, a.Output)
	}
	if len(got) != 2 || !strings.Contains(outs[0], "new syscall finit_module") || !strings.Contains(outs[1], "new cap_used CAP_SYS_MODULE") {
		t.Fatalf("deviations %q, want the new syscall finit_module and the new capability CAP_SYS_MODULE", outs)
	}
	if k, _ := got[1].Field(FieldKind); k != string(KindCapUsed) {
		t.Errorf("deviation kind %v", k)
	}
}
