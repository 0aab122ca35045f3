package sensor

import (
	"bytes"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// snapPayload is what the snap action sends: a class file's magic, then
// more than the snaplen.
var snapPayload = append([]byte{0xca, 0xfe, 0xba, 0xbe}, bytes.Repeat([]byte("A"), 120)...)

// TestSnap: with Snap, the real kernel's sendto, recvfrom, sendmsg and
// recvmsg events carry the first bytes they moved (at most the snaplen,
// 80); without it they carry none.
func TestSnap(t *testing.T) {
	io := []event.Type{event.TypeSendto, event.TypeRecvfrom, event.TypeSendmsg, event.TypeRecvmsg}
	want := map[event.Type][]byte{
		event.TypeSendto: snapPayload[:80], event.TypeRecvfrom: snapPayload[:80],
		event.TypeSendmsg: []byte("hello over sendmsg"), event.TypeRecvmsg: []byte("hello over sendmsg"),
	}
	res := trace(t, Options{Types: io, Snap: event.TypeSetOf(io...)}, helperArgv(t), envAction+"=snap")
	seen := map[event.Type]bool{}
	for _, ev := range res.events {
		w, ok := want[ev.Type]
		if !ok || ev.Ret <= 0 {
			continue
		}
		seen[ev.Type] = true
		if !bytes.Equal(ev.Buffer, w) {
			t.Errorf("%v (ret %d): buffer %q, want %q", ev.Type, ev.Ret, ev.Buffer, w)
		}
	}
	for _, ty := range io {
		if !seen[ty] {
			t.Errorf("no %v event", ty)
		}
	}
	res = trace(t, Options{Types: io}, helperArgv(t), envAction+"=snap")
	n := 0
	for _, ev := range res.events {
		if _, ok := want[ev.Type]; ok {
			n++
			if ev.Buffer != nil {
				t.Errorf("%v without Snap: buffer %q", ev.Type, ev.Buffer)
			}
		}
	}
	if n == 0 {
		t.Error("no I/O event without Snap")
	}
}
