package sensor

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// lifecycleTypes are the process lifecycle types, which go through the
// critical ring.
var lifecycleTypes = []event.Type{event.TypeExecve, event.TypeClone, event.TypeFork, event.TypeVfork, event.TypeClone3, event.TypeProcExit}

// TestLifecycleRingUnderFlood: an open flood saturates a one-page main ring
// that a slow consumer reads (opens and closes lost, counted by reason and
// type), while a shell runs a marker program 100 times: every exec of it
// arrives, and no lifecycle event is lost (they go through their own ring).
func TestLifecycleRingUnderFlood(t *testing.T) {
	testkernel.RequireRoot(t)
	dir := t.TempDir()
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	bin, err := os.ReadFile(truePath)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "vigil-marker")
	if err := os.WriteFile(marker, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	stop := filepath.Join(dir, "stop")
	const runs = 100
	self := helperArgv(t)
	script := `"$1" -test.run='^$' & sleep 0.3; i=0; while [ $i -lt ` + strconv.Itoa(runs) + ` ]; do "$2"; i=$((i+1)); done; : > "$3"; wait`
	var stderr bytes.Buffer
	h, err := StartHeld([]string{"/bin/sh", "-c", script, "sh", self[0], marker, stop},
		&exec.Cmd{Stderr: &stderr, Env: append(os.Environ(), envAction+"=openuntil", envStop+"="+stop)})
	if err != nil {
		t.Fatal(err)
	}
	types := append([]event.Type{event.TypeOpenat, event.TypeClose}, lifecycleTypes...)
	s, err := New(&Options{RingBytes: 4096, FilterPIDTree: h.Pid(), Types: types})
	if err != nil {
		h.Abort()
		testkernel.SkipIfErr(t, err)
	}
	defer s.Close()
	var markers, opens atomic.Int64
	done := make(chan error, 1)
	go func() {
		var ev event.Event
		for {
			err := s.Read(&ev)
			if err != nil {
				done <- nil
				return
			}
			switch ev.Type {
			case event.TypeExecve:
				if ev.Ret == 0 && filepath.Base(ev.Path) == "vigil-marker" {
					markers.Add(1)
				}
			case event.TypeOpenat:
				// A slow consumer: the main ring, one page, overflows.
				if opens.Add(1)%16 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
	}()
	h.Release()
	if err := h.Cmd.Wait(); err != nil {
		t.Fatalf("helper: %v %s", err, stderr.String())
	}
	// The rings are read until both are empty.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && markers.Load() < runs; {
		time.Sleep(20 * time.Millisecond)
	}
	st := s.Stats()
	lost := func(typ event.Type) uint64 { return st.Drops[ReasonRingbufFull][typ] + st.Drops[ReasonShed][typ] }
	if lost(event.TypeOpenat) == 0 || lost(event.TypeClose) == 0 {
		t.Errorf("the main ring did not overflow: openat lost %d, close lost %d (%d opens read)", lost(event.TypeOpenat), lost(event.TypeClose), opens.Load())
	}
	if got := markers.Load(); got != runs {
		t.Errorf("%d execs of the marker arrived, want %d", got, runs)
	}
	for _, typ := range lifecycleTypes {
		for r := Reason(0); r < NumReasons; r++ {
			if r.Lost() && st.Drops[r][typ] != 0 {
				t.Errorf("%d %v events lost (%v)", st.Drops[r][typ], typ, r)
			}
		}
	}
	t.Logf("openat lost %d (ringbuf_full %d, shed %d), close lost %d, opens read %d, execs %d, forks %d, exits %d",
		lost(event.TypeOpenat), st.Drops[ReasonRingbufFull][event.TypeOpenat], st.Drops[ReasonShed][event.TypeOpenat],
		lost(event.TypeClose), opens.Load(), st.ReceivedByType[event.TypeExecve],
		st.ReceivedByType[event.TypeClone]+st.ReceivedByType[event.TypeFork]+st.ReceivedByType[event.TypeVfork]+st.ReceivedByType[event.TypeClone3],
		st.ReceivedByType[event.TypeProcExit])
	s.Close()
	<-done
}

// TestRingMappedOnce: the sensor maps each ring's data pages once (the
// kernel offers them twice and inserts every page mapped at mmap time, so
// mapping both copies doubled the ring's share of the RSS).
func TestRingMappedOnce(t *testing.T) {
	testkernel.RequireRoot(t)
	before := bpfMapRSS(t)
	const mainBytes, critBytes = 4 << 20, 1 << 20
	s, err := New(&Options{RingBytes: mainBytes, CriticalRingBytes: critBytes, Types: []event.Type{event.TypeKill}, ExcludeSelf: true})
	testkernel.SkipIfErr(t, err)
	defer s.Close()
	got := bpfMapRSS(t) - before
	page := int64(os.Getpagesize())
	want := int64(mainBytes+critBytes) + 4*page // each ring's two position pages
	if got < mainBytes+critBytes || got > want+64<<10 {
		t.Errorf("resident BPF map pages: %d bytes, want about %d (the rings' data once)", got, want)
	}
}

// bpfMapRSS sums the resident bytes of this process's mappings of BPF maps.
func bpfMapRSS(t *testing.T) int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	inMap := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			inMap = strings.Contains(line, "bpf-map")
			continue
		}
		if inMap && len(fields) >= 2 && fields[0] == "Rss:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}
