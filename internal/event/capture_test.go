package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// sampleEvent builds an event of type t with every argument slot of its
// definition set to a distinct value, so a round trip that drops or swaps
// a slot is caught.
func sampleEvent(t Type) Event {
	ev := Event{Type: t, Time: 1764241446123456789 + int64(t), PID: 100 + uint32(t), TID: 200 + uint32(t),
		PPID: 1, UID: 1000, GID: 1001, LoginUID: NoLoginUID, Comm: "comm\"\\\n\x01é", CgroupID: 4026531835,
		FD: -1, FD2: -1, DirFD: -1, DirFD2: -1}
	for i, a := range Lookup(t).Args {
		v := int64(10 + i)
		switch a.Slot {
		case SlotRet:
			ev.Ret = -2
		case SlotFD:
			ev.FD = v
		case SlotFD2:
			ev.FD2 = v
		case SlotDirFD:
			ev.DirFD = AtFDCWD
		case SlotDirFD2:
			ev.DirFD2 = v
		case SlotPath:
			ev.Path = "/tmp/a b/\"q\"/\t"
		case SlotPath2:
			ev.Path2 = "rel/path2"
		case SlotStr:
			ev.Str = "str\u2028x"
		case SlotFlags:
			ev.Flags = 0x80000 | 0o100
		case SlotMode:
			ev.Mode = 0o644
		case SlotAddr:
			ev.Addr = SockAddr{Family: 10, IP: netip.MustParseAddr("::1"), Port: 8080}
		case SlotArg0, SlotArg1, SlotArg2, SlotArg3:
			ev.Arg[a.Slot-SlotArg0] = -v
		}
	}
	return ev
}

func TestCaptureRoundTripAllTypes(t *testing.T) {
	var buf []byte
	var want []Event
	for ty := Type(1); ty < NumTypes; ty++ {
		ev := sampleEvent(ty)
		want = append(want, ev)
		buf = AppendJSON(buf, &ev)
	}
	if n := bytes.Count(buf, []byte("\n")); n != int(NumTypes)-1 {
		t.Fatalf("got %d lines, want %d", n, NumTypes-1)
	}
	r := NewCaptureReader(bytes.NewReader(buf))
	for i := range want {
		var got Event
		if err := r.Next(&got); err != nil {
			t.Fatalf("event %d (%v): %v", i, want[i].Type, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%v: round trip differs:\n got %+v\nwant %+v", want[i].Type, got, want[i])
		}
	}
	var ev Event
	if err := r.Next(&ev); err != io.EOF {
		t.Fatalf("after last event: %v, want io.EOF", err)
	}
}

func TestCaptureRoundTripEnriched(t *testing.T) {
	gp := &Process{PID: 1, Comm: "systemd", Exe: "/sbin/init", ExePath: "/usr/lib/systemd/systemd", Args: []string{"--system"}}
	par := &Process{PID: 50, PPID: 1, Comm: "bash", Exe: "bash", ExePath: "/usr/bin/bash", Parent: gp}
	ev := sampleEvent(TypeConnect)
	ev.Local = SockAddr{Family: 2, IP: netip.MustParseAddr("127.0.0.1"), Port: 40000}
	ev.Addr = SockAddr{Family: 1, Path: "@abstract"}
	ev.Proc = &Process{PID: 60, PPID: 50, Comm: "curl", Exe: "curl", ExePath: "/usr/bin/curl", Args: []string{"-s", "x"},
		Cwd: "/root", Tty: 34816, UID: 0, GID: 0, LoginUID: 1000, CapEff: 0x1ff, CapPrm: 0x1ff, CapInh: 1,
		StartTime: 5, ExecTime: 6, CgroupID: 77, ExeUpperLayer: true, ExeFromMemfd: true, ExeWritable: true, Parent: par}
	ev.FDInfo = &FDInfo{Num: 3, Type: FDIPv4, Name: "127.0.0.1:40000->127.0.0.1:80", NameRaw: "", Flags: 2,
		L4Proto: "tcp", Client: SockAddr{Family: 2, IP: netip.MustParseAddr("127.0.0.1"), Port: 40000},
		Server: SockAddr{Family: 2, IP: netip.MustParseAddr("127.0.0.1"), Port: 80}, Connected: true, NameChanged: true}
	ev.Container = &Container{ID: "0123456789ab", FullID: "0123456789abcdef", Type: "containerd", MetadataKnown: true,
		Name: "web", Image: "nginx:1", Repository: "nginx", Tag: "1", Digest: "sha256:00", Privileged: true,
		Mounts:  []Mount{{Source: "/a", Destination: "/b", Mode: "rw", RW: true, Propagation: "rprivate"}},
		StartTS: 9, Healthcheck: "curl x", Labels: map[string]string{"b": "2", "a": "1"},
		PodName: "p", PodNamespace: "ns", PodUID: "uid", PodLabels: map[string]string{"app": "web"}, CgroupPath: "/k8s/x"}
	ex := sampleEvent(TypeExecve)
	ex.Exec = &Exec{Filename: "./x", ExePath: "/tmp/x", Argv: []string{"x", "-a", ""}, ArgvTruncated: true, Cwd: "/tmp",
		Tty: 1, CapEff: 2, CapPrm: 3, CapInh: 4, UpperLayer: true, FromMemfd: true, Writable: true}
	var buf []byte
	buf = AppendJSON(buf, &ev)
	buf = AppendJSON(buf, &ex)
	if !json.Valid(bytes.TrimSpace(bytes.SplitN(buf, []byte("\n"), 2)[0])) {
		t.Fatalf("invalid JSON: %s", buf)
	}
	r := NewCaptureReader(bytes.NewReader(buf))
	for _, want := range []Event{ev, ex} {
		var got Event
		if err := r.Next(&got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
		}
		if want.Proc != nil {
			if got.Proc.Parent.Parent.Comm != "systemd" || got.Proc.Parent.PPID != 1 {
				t.Errorf("parent chain not rebuilt: %+v", got.Proc.Parent)
			}
		}
	}
}

func TestCaptureAncestorsBounded(t *testing.T) {
	p := &Process{PID: 1000}
	cur := p
	for i := 0; i < 40; i++ {
		cur.Parent = &Process{PID: uint32(999 - i)}
		cur = cur.Parent
	}
	ev := sampleEvent(TypeClose)
	ev.Proc = p
	line := AppendJSON(nil, &ev)
	var got Event
	if err := NewCaptureReader(bytes.NewReader(line)).Next(&got); err != nil {
		t.Fatal(err)
	}
	n := 0
	for a := got.Proc.Parent; a != nil; a = a.Parent {
		n++
	}
	if n != MaxCaptureAncestors {
		t.Fatalf("got %d ancestors, want %d", n, MaxCaptureAncestors)
	}
}

func TestAppendJSONValidAndStdlibCompatible(t *testing.T) {
	ev := sampleEvent(TypeOpenat)
	ev.Path = "bad\xffutf8\x00"
	line := AppendJSON(nil, &ev)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("stdlib cannot parse %s: %v", line, err)
	}
	args := m["args"].(map[string]any)
	if args["name"] != "bad\ufffdutf8\x00" {
		t.Errorf("name = %q", args["name"])
	}
	if m["time"] != "2025-11-27T11:04:06.123456793Z" && !strings.HasPrefix(m["time"].(string), "20") {
		t.Errorf("time = %v", m["time"])
	}
	if args["dirfd"].(float64) != AtFDCWD || args["flags"].(float64) != 0x80040 {
		t.Errorf("args = %v", args)
	}
}

func TestAppendJSONNoAllocs(t *testing.T) {
	ev := sampleEvent(TypeConnect)
	ev.Exec = &Exec{Argv: []string{"a", "b"}}
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &ev) })
	if n != 0 {
		t.Fatalf("AppendJSON allocates %.1f times per event", n)
	}
}

func TestCaptureErrors(t *testing.T) {
	good := AppendJSON(nil, func() *Event { e := sampleEvent(TypeClose); return &e }())
	for name, in := range map[string]string{
		"syntax":   string(good) + "{\"type\":\"close\",\n",
		"type":     string(good) + `{"type":"nosuch"}` + "\n",
		"argtype":  string(good) + `{"type":"close","args":{"fd":"x"}}` + "\n",
		"badip":    string(good) + `{"type":"connect","args":{"addr":{"family":2,"ip":"nope"}}}` + "\n",
		"fieldtyp": string(good) + `{"type":"close","pid":-1}` + "\n",
	} {
		r := NewCaptureReader(strings.NewReader(in))
		r.Name = "in.jsonl"
		var ev Event
		if err := r.Next(&ev); err != nil {
			t.Fatalf("%s: first line: %v", name, err)
		}
		err := r.Next(&ev)
		var ce *CaptureError
		if !errors.As(err, &ce) || !errors.Is(err, ErrBadCapture) {
			t.Fatalf("%s: err = %v, want *CaptureError", name, err)
		}
		if ce.Line != 2 || !strings.HasPrefix(err.Error(), "in.jsonl:2:") {
			t.Errorf("%s: error %q does not name line 2", name, err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	ev := sampleEvent(TypeOpenat)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], &ev)
	}
}

func TestAppendText(t *testing.T) {
	ev := sampleEvent(TypeConnect)
	ev.Comm = "curl"
	ev.Addr = SockAddr{Family: 2, IP: netip.MustParseAddr("10.0.0.1"), Port: 443}
	got := string(AppendText(nil, &ev))
	for _, want := range []string{"curl(", ") connect res=-2 fd=11 addr=10.0.0.1:443\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("AppendText = %q, missing %q", got, want)
		}
	}
	ex := sampleEvent(TypeOpenat)
	got = string(AppendText(nil, &ex))
	if !strings.Contains(got, ` name="/tmp/a b/\"q\"/\t" flags=0x80040 mode=0644`) {
		t.Errorf("AppendText = %q", got)
	}
}

// TestCaptureBuffer: a captured I/O buffer (binary) survives the capture
// format; an event without one reads back without one.
func TestCaptureBuffer(t *testing.T) {
	ev := &Event{Type: TypeRecvfrom, Time: 1, PID: 1, TID: 1, Ret: 5, FD: 3, FD2: -1, DirFD: -1, DirFD2: -1,
		Buffer: []byte{0xca, 0xfe, 0, '"', '\n'}}
	var enc JSONEncoder
	b := enc.Append(nil, ev)
	b = append(b, '\n')
	ev2 := &Event{Type: TypeSendto, Time: 2, PID: 1, TID: 1, Ret: 1, FD: 3, FD2: -1, DirFD: -1, DirFD2: -1}
	b = append(enc.Append(b, ev2), '\n')
	rd := NewCaptureReader(bytes.NewReader(b))
	var got Event
	if err := rd.Next(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Buffer, ev.Buffer) {
		t.Fatalf("buffer %q, want %q (line %s)", got.Buffer, ev.Buffer, b)
	}
	if err := rd.Next(&got); err != nil {
		t.Fatal(err)
	}
	if got.Buffer != nil {
		t.Fatalf("event without a buffer read back with %q", got.Buffer)
	}
}
