package state

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// TestConnectUnknownFDNoProcRead: a connect on an fd the table does not
// know (its socket event was lost, or a close of the same number on
// another thread was reported after it) is described from the event alone:
// the sensor reports both ends, so no /proc read is needed. Reading
// /proc/PID/net/tcp per such connect was the enricher's slow path under a
// connect flood.
func TestConnectUnknownFDNoProcRead(t *testing.T) {
	tb := newSynthetic(t, Config{})
	apply(t, tb, execEv(10, 1, "client", "/client", "/", "client"))
	c := fdEv(event.TypeConnect, 10, 1, 7, -int64(syscall.EINPROGRESS))
	c.Addr, c.Local = ip4("127.0.0.1", 8080), ip4("127.0.0.1", 40000)
	wantFD(t, "connect on unknown fd", apply(t, tb, c).FDInfo, event.FDInfo{Num: 7, Type: event.FDIPv4, L4Proto: "tcp",
		Name: "127.0.0.1:40000->127.0.0.1:8080", Client: ip4("127.0.0.1", 40000), Server: ip4("127.0.0.1", 8080), Connected: true})
	if st := tb.Stats(); st.FDLookups != 0 {
		t.Fatalf("connect on an unknown fd read /proc %d times, want 0", st.FDLookups)
	}
}

// TestFDLookupBudget: lazy /proc fd lookups are bounded per second, so a
// flood of events on unknown fds cannot make the enricher fall behind the
// sensor; the lookups it skipped are counted and the events still get
// their process.
func TestFDLookupBudget(t *testing.T) {
	root := t.TempDir()
	const pid, n = 10, 200
	fdDir := filepath.Join(root, strconv.Itoa(pid), "fd")
	if err := os.MkdirAll(fdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for fd := 3; fd < 3+n; fd++ {
		if err := os.Symlink("/etc/hostname", filepath.Join(fdDir, strconv.Itoa(fd))); err != nil {
			t.Fatal(err)
		}
	}
	tb, err := New(Config{ProcRoot: root, CgroupRoot: "/nonexistent", FDLookupBudget: 1})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tb, execEv(pid, 1, "p", "/p", "/", "p"))
	first := apply(t, tb, fdEv(event.TypeFchmod, pid, 1, 3, 0))
	if first.FDInfo == nil || first.FDInfo.Name != "/etc/hostname" {
		t.Fatalf("first lookup: %+v, want /etc/hostname read from /proc", first.FDInfo)
	}
	for fd := int64(4); fd < 3+n; fd++ {
		apply(t, tb, fdEv(event.TypeFchmod, pid, 1, fd, 0))
	}
	st := tb.Stats()
	if st.FDLookups != 1 || st.FDLookupsSkipped != n-1 {
		t.Fatalf("lookups=%d skipped=%d, want 1 and %d (budget spent by the first)", st.FDLookups, st.FDLookupsSkipped, n-1)
	}
}
