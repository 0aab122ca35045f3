package sensor

import (
	"bytes"
	"slices"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
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

// TestSnapIO: with Snap, the real kernel's read/write family carries the
// first bytes each call moved (of the first iovec for the vector calls,
// at most the snaplen); their hooks are attached only while asked for.
func TestSnapIO(t *testing.T) {
	io := event.IOTypes.Types()
	res := trace(t, Options{Types: io, Snap: event.IOTypes}, helperArgv(t), envAction+"=io")
	want := map[event.Type][]byte{
		event.TypeWrite: ioPayload("write")[:80], event.TypePwrite: ioPayload("pwrite")[:80],
		event.TypeWritev: ioPayload("writev")[:80], event.TypePwritev: ioPayload("pwritev")[:80],
		event.TypePread: []byte("pwritev"), event.TypeRead: []byte("pwritev"),
		event.TypeReadv: []byte("pwritev"), event.TypePreadv: []byte("pwritev"),
	}
	seen := map[event.Type]bool{}
	for _, ev := range res.events {
		w, ok := want[ev.Type]
		if !ok || ev.Ret <= 0 || !bytes.Equal(ev.Buffer, w) {
			continue
		}
		seen[ev.Type] = true
		if ev.FD < 3 || (ev.Type == event.TypePwrite && ev.Arg[1] != 0) {
			t.Errorf("%v: fd %d pos %d", ev.Type, ev.FD, ev.Arg[1])
		}
	}
	for _, ty := range io {
		if !seen[ty] {
			t.Errorf("no %v event with buffer %q", ty, want[ty])
		}
	}
	if !slices.Contains(res.hooks, "syscalls:sys_exit_write") {
		t.Errorf("hooks %v lack sys_exit_write", res.hooks)
	}
}

// TestIOHooksOnlyWhenAsked: with an Interest, the hooks of the read/write
// and send/recv families (onDemand) are attached only while it names them
// (a server's and a client's per-request calls run no program otherwise);
// SetInterest attaches and detaches them.
func TestIOHooksOnlyWhenAsked(t *testing.T) {
	testkernel.RequireRoot(t)
	s, err := New(&Options{Interest: &Interest{Types: event.TypeSetOf(event.TypeOpenat)}})
	testkernel.SkipIfErr(t, err)
	defer s.Close()
	has := func(name string) bool { return slices.Contains(s.Hooks(), "syscalls:sys_exit_"+name) }
	for _, name := range []string{"write", "read", "sendto", "recvfrom", "sendmsg", "recvmsg"} {
		if has(name) {
			t.Errorf("%s hook attached without being asked for: %v", name, s.Hooks())
		}
	}
	if !has("openat") {
		t.Fatalf("openat hook not attached: %v", s.Hooks())
	}
	if err := s.SetInterest(Interest{Types: event.TypeSetOf(event.TypeOpenat, event.TypeWrite, event.TypeSendto)}); err != nil {
		t.Fatal(err)
	}
	if !has("write") || !has("sendto") || has("recvfrom") {
		t.Fatalf("write and sendto hooks not attached (or recvfrom attached): %v", s.Hooks())
	}
	if err := s.SetInterest(Interest{Types: event.TypeSetOf(event.TypeOpenat)}); err != nil {
		t.Fatal(err)
	}
	if has("sendto") {
		t.Fatalf("sendto hook not detached: %v", s.Hooks())
	}
	if has("write") {
		t.Fatalf("write hook not detached: %v", s.Hooks())
	}
}
