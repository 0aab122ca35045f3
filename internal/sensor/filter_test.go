package sensor

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// filterOpens are the opens of the "opens" helper action; want says
// whether testFilter reports them.
var filterOpens = []struct {
	path  string
	flags int
	cwd   string
	want  bool
}{
	{path: "/etc/hostname", flags: unix.O_RDONLY},                              // no prefix wants it
	{path: "/etc/shadow", flags: unix.O_RDONLY, want: true},                    // prefix, read wanted
	{path: "/etc/shadow-vigil-none", flags: unix.O_RDONLY, want: true},         // extends the prefix
	{path: "/etc/shadow", flags: unix.O_WRONLY | unix.O_APPEND},                // prefix, but not for writing
	{path: "/etc//hostname", flags: unix.O_RDONLY, want: true},                 // not in resolved form
	{path: "/tmp/../etc/shadow", flags: unix.O_RDONLY, want: true},             // not in resolved form
	{path: "/vigil-none/w/x", flags: unix.O_WRONLY | unix.O_CREAT, want: true}, // write prefix, failed open
	{path: "/vigil-none/w/x", flags: unix.O_RDONLY},                            // write prefix, read
	{path: "/vigil-none/rdwr", flags: unix.O_RDWR, want: true},                 // RDWR: wanted anywhere (AnyPath)
	{path: "shadow", flags: unix.O_RDONLY, cwd: "/etc", want: true},            // relative
	{path: "/etc/hostname", flags: unix.O_PATH, want: true},                    // O_PATH: always
}

var testFilter = &OpenFilter{
	AnyPath:  AccessReadWrite,
	Prefixes: map[string]Access{"/etc/shadow": AccessRead | AccessReadWrite, "/vigil-none/w/": AccessWrite},
}

func opensSeen(res *traced) map[string]int {
	seen := map[string]int{}
	for _, ev := range res.events {
		if ev.Type == event.TypeOpenat {
			seen[ev.Path+"|"+openMode(ev.Flags)]++
		}
	}
	return seen
}

func openMode(f uint64) string {
	if f&unix.O_PATH != 0 {
		return "path"
	}
	return [...]string{"r", "w", "rw", "x"}[f&3]
}

// TestOpenFilter: the in-kernel open filter reports exactly the opens a
// rule on its prefixes and access modes could match, and everything whose
// resolved name only user space knows.
func TestOpenFilter(t *testing.T) {
	in := Interest{Types: event.TypeSetOf(event.TypeOpenat, event.TypeExecve), Open: testFilter}
	res := trace(t, Options{Interest: &in}, helperArgv(t), envAction+"=opens")
	seen := opensSeen(res)
	for _, o := range filterOpens {
		k := o.path + "|" + openMode(uint64(o.flags))
		if got := seen[k] > 0; got != o.want {
			t.Errorf("open %q flags %#x: reported=%v, want %v", o.path, o.flags, got, o.want)
		}
	}
	if res.stats.Lost != 0 {
		t.Errorf("filtered opens counted as lost: %d", res.stats.Lost)
	}
}

// TestCloseOfUnsentOpen: with OpenFilter.Closes the close of an fd that a
// dropped open created is dropped in the kernel, and the close of the
// same fd number once a reported event (dup2) made it a sent object is
// reported.
func TestCloseOfUnsentOpen(t *testing.T) {
	f := *testFilter
	f.Closes = true
	in := Interest{Types: event.TypeSetOf(event.TypeOpenat, event.TypeClose, event.TypeDup2, event.TypeExecve), Open: &f}
	res := trace(t, Options{Interest: &in}, helperArgv(t), envAction+"=closes")
	shadow, dupped := int64(-1), int64(-1)
	closes := map[int64]int{}
	for _, ev := range res.events {
		switch {
		case ev.Type == event.TypeOpenat && ev.Path == "/etc/hostname":
			t.Errorf("dropped open reported: %+v", ev)
		case ev.Type == event.TypeOpenat && ev.Path == "/etc/shadow":
			shadow = ev.Ret
		case ev.Type == event.TypeDup2:
			dupped = ev.Ret
		case ev.Type == event.TypeClose && ev.Ret == 0:
			closes[ev.FD]++
		}
	}
	if shadow < 0 || dupped < 0 || shadow == dupped {
		t.Fatalf("reported open of /etc/shadow fd %d, dup2 onto fd %d: want both", shadow, dupped)
	}
	if closes[shadow] != 1 || closes[dupped] != 1 {
		t.Errorf("closes by fd %v: want one of fd %d (shadow) and one of fd %d (dup2 onto a dropped open's fd; the dropped open's own close not sent)", closes, shadow, dupped)
	}
	if res.stats.Lost != 0 {
		t.Errorf("dropped closes counted as lost: %d", res.stats.Lost)
	}
}

// TestOpenFilterRefused: when the kernel refuses the filter, the sensor
// starts without it, says why, and reports every open.
func TestOpenFilterRefused(t *testing.T) {
	refuseFilter = true
	defer func() { refuseFilter = false }()
	testkernel.RequireRoot(t)
	in := Interest{Types: event.TypeSetOf(event.TypeOpenat), Open: testFilter}
	s, err := New(&Options{Interest: &in, ExcludeSelf: true, FilterPIDTree: 1})
	if err != nil {
		testkernel.SkipIfErr(t, err)
	}
	ferr, got := s.FilterError(), s.Interest()
	s.Close()
	if ferr == nil || got.Open != nil || !got.Types.Has(event.TypeOpenat) {
		t.Fatalf("filter error %v, interest in force %+v: want the refusal and no filter", ferr, got)
	}
	probed := false
	for _, f := range Probe() {
		if f.Name == "in-kernel open and connect filters" {
			probed = true
			if f.OK || f.Consequence == "" {
				t.Errorf("doctor's probe of the refused filter: %+v", f)
			}
		}
	}
	if !probed {
		t.Error("no open filter probe for vigil doctor")
	}
	res := trace(t, Options{Interest: &in}, helperArgv(t), envAction+"=opens")
	seen := opensSeen(res)
	for _, o := range filterOpens {
		if seen[o.path+"|"+openMode(uint64(o.flags))] == 0 {
			t.Errorf("open %q flags %#x not reported without the filter", o.path, o.flags)
		}
	}
	// The connect filter alone asks for the filters too: refused, every
	// connect is reported.
	cin := Interest{Types: event.TypeSetOf(event.TypeConnect), Connects: FamilyInet}
	res = trace(t, Options{Interest: &cin}, helperArgv(t), envAction+"=connects")
	if res.filterErr == nil || res.interest.Connects != 0 {
		t.Errorf("connect filter: error %v, in force %v: want the refusal and no filter", res.filterErr, res.interest.Connects)
	}
	conns := connectsSeen(res)
	for _, c := range connectFDs {
		if !conns[int64(c.fd)] {
			t.Errorf("connect on %s (fd %d) not reported without the filter", c.name, c.fd)
		}
	}
}

// connectFDs are the connects of the "connects" helper action, each on
// its own fd; fam is the family the connect filter sees (0: the fd is a
// file, always reported).
var connectFDs = []struct {
	name   string
	domain int
	fd     int
	fam    Families
}{
	{"inet", unix.AF_INET, 100, FamilyInet},
	{"inet6", unix.AF_INET6, 101, FamilyInet6},
	{"unix", unix.AF_UNIX, 102, FamilyUnix},
	{"netlink", unix.AF_NETLINK, 103, FamilyOther},
	{"file", 0, 104, 0},
}

// connectsSeen returns the fds of the connects reported.
func connectsSeen(res *traced) map[int64]bool {
	seen := map[int64]bool{}
	for _, ev := range res.events {
		if ev.Type == event.TypeConnect {
			seen[ev.FD] = true
		}
	}
	return seen
}

// TestConnectFilter: the in-kernel connect filter reports the connects
// on sockets of the families asked for, and a connect on an fd that is
// not a socket, and nothing else (TestOpenFilterRefused: every connect
// without it).
func TestConnectFilter(t *testing.T) {
	for _, fams := range []Families{FamilyInet, FamilyInet6 | FamilyUnix | FamilyOther} {
		t.Run(fams.String(), func(t *testing.T) {
			in := Interest{Types: event.TypeSetOf(event.TypeConnect, event.TypeExecve), Connects: fams}
			res := trace(t, Options{Interest: &in}, helperArgv(t), envAction+"=connects")
			seen := connectsSeen(res)
			for _, c := range connectFDs {
				want := fams == 0 || c.fam == 0 || fams&c.fam != 0
				if seen[int64(c.fd)] != want {
					t.Errorf("connect on %s (fd %d): reported=%v, want %v", c.name, c.fd, seen[int64(c.fd)], want)
				}
			}
			if res.stats.Lost != 0 {
				t.Errorf("filtered connects counted as lost: %d", res.stats.Lost)
			}
		})
	}
}

// TestCriticalSurvivesFlood: a flood of opens and closes nobody reads
// fills the ring; the low tier (close) is shed first, then the normal
// tier (openat), and the exec that follows still gets through, counted
// nowhere as lost.
func TestCriticalSurvivesFlood(t *testing.T) {
	testkernel.RequireRoot(t)
	var stderr bytes.Buffer
	h, err := StartHeld(helperArgv(t), &exec.Cmd{Stderr: &stderr, Env: append(os.Environ(), envAction+"=openflood")})
	if err != nil {
		t.Fatal(err)
	}
	in := Interest{Types: event.TypeSetOf(event.TypeOpenat, event.TypeClose, event.TypeExecve, event.TypeProcExit)}
	s, err := New(&Options{RingBytes: 64 << 10, FilterPIDTree: h.Pid(), Interest: &in})
	if err != nil {
		h.Abort()
		testkernel.SkipIfErr(t, err)
	}
	defer s.Close()
	h.Release()
	if err := h.Cmd.Wait(); err != nil {
		t.Fatalf("helper: %v %s", err, stderr.String())
	}
	execs, exits := 0, 0
	if err := s.Drain(func(ev *event.Event) {
		switch ev.Type {
		case event.TypeExecve:
			if len(ev.Exec.Argv) == 2 && ev.Exec.Argv[1] == "after-flood" {
				execs++
			}
		case event.TypeProcExit:
			exits++
		}
	}); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if execs != 1 || exits == 0 {
		t.Errorf("after the flood: %d execs, %d exits delivered, want 1 and at least 1", execs, exits)
	}
	if st.Drops[ReasonShed][event.TypeClose] == 0 || st.Drops[ReasonShed][event.TypeOpenat] == 0 {
		t.Errorf("shed close %d openat %d: want both shed", st.Drops[ReasonShed][event.TypeClose], st.Drops[ReasonShed][event.TypeOpenat])
	}
	for r := Reason(0); r < NumReasons; r++ {
		if r.Lost() && (st.Drops[r][event.TypeExecve] != 0 || st.Drops[r][event.TypeProcExit] != 0) {
			t.Errorf("critical events lost (%v): exec %d exit %d", r, st.Drops[r][event.TypeExecve], st.Drops[r][event.TypeProcExit])
		}
	}
	if st.Drops[ReasonShed][event.TypeClose] < st.Drops[ReasonShed][event.TypeOpenat] {
		t.Errorf("close (low tier) shed %d < openat (normal tier) shed %d", st.Drops[ReasonShed][event.TypeClose], st.Drops[ReasonShed][event.TypeOpenat])
	}
}
