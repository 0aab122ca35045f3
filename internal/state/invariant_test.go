package state

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// checkInvariants verifies the table's internal structures: the LRU list
// holds exactly the map's entries, the tree links are symmetric and only
// join entries in the table, every thread maps to a live process and the fd
// count equals the sum over distinct fd tables.
func checkInvariants(t *testing.T, tb *Table) {
	t.Helper()
	n := 0
	tables := map[*fdTable]int{}
	for e := tb.lru.next; e != &tb.lru; e = e.next {
		n++
		if e.next.prev != e {
			t.Fatalf("LRU list broken at pid %d", e.p.PID)
		}
		if tb.procs[e.p.PID] != e || !e.inTable {
			t.Fatalf("LRU entry %d not the map's", e.p.PID)
		}
		if e.fds != nil {
			tables[e.fds]++
		}
		if e.parent != nil {
			if !e.parent.inTable || e.p.Parent != &e.parent.p {
				t.Fatalf("pid %d: parent link to a removed entry or mismatched pointer", e.p.PID)
			}
			found := false
			for c := e.parent.child; c != nil; c = c.sibNext {
				if c == e {
					found = true
				}
			}
			if !found {
				t.Fatalf("pid %d missing from its parent's children", e.p.PID)
			}
		}
		for c := e.child; c != nil; c = c.sibNext {
			if c.parent != e || !c.inTable {
				t.Fatalf("child %d of %d: parent %p inTable %v", c.p.PID, e.p.PID, c.parent, c.inTable)
			}
		}
		steps := 0
		for a := &e.p; a != nil; a = a.Parent {
			if steps++; steps > 10000 {
				t.Fatalf("Parent chain of %d does not end", e.p.PID)
			}
		}
		for _, tid := range e.tids {
			if tb.tids[tid] != e.p.PID {
				t.Fatalf("thread %d of %d not in the thread map", tid, e.p.PID)
			}
		}
	}
	if n != len(tb.procs) {
		t.Fatalf("LRU has %d entries, map %d", n, len(tb.procs))
	}
	if n > tb.cfg.MaxProcs {
		t.Fatalf("%d processes > MaxProcs %d", n, tb.cfg.MaxProcs)
	}
	for tid, tg := range tb.tids {
		if e := tb.procs[tg]; e == nil {
			t.Fatalf("thread %d maps to missing process %d", tid, tg)
		}
	}
	sum := 0
	for ft, refs := range tables {
		if ft.refs != refs {
			t.Fatalf("fd table refs %d, shared by %d processes", ft.refs, refs)
		}
		if len(ft.m) > tb.cfg.MaxFDsPerProc {
			t.Fatalf("fd table of %d entries > MaxFDsPerProc", len(ft.m))
		}
		sum += len(ft.m)
	}
	if sum != tb.nfds {
		t.Fatalf("nfds %d, tables hold %d", tb.nfds, sum)
	}
	if tb.nfds > tb.cfg.MaxFDs {
		t.Fatalf("nfds %d > MaxFDs %d", tb.nfds, tb.cfg.MaxFDs)
	}
}

// TestRandomStreamInvariants applies random event streams under tight
// bounds and checks the invariants after every event.
func TestRandomStreamInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		tb := newSynthetic(t, Config{MaxProcs: 12, MaxFDsPerProc: 6, MaxFDs: 30})
		pid := func() uint32 { return uint32(2 + r.IntN(20)) }
		for i := 0; i < 3000; i++ {
			p := pid()
			pp := uint32(1 + r.IntN(int(p)))
			if pp == p {
				pp = 1
			}
			var e *event.Event
			switch r.IntN(12) {
			case 0:
				e = forkEv(p, pp, pid())
			case 1:
				e = forkEv(p, pp, uint32(100+r.IntN(30)))
				e.Arg[0] = int64(p) // a thread
			case 2:
				e = execEv(p, pp, "x", "/x", "/tmp", "x", "a")
			case 3:
				e = ev(event.TypeProcExit, p, pp)
				if r.IntN(3) == 0 {
					e.TID = uint32(100 + r.IntN(30))
				}
			case 4, 5:
				e = openatEv(p, pp, event.AtFDCWD, "f", uint64(r.IntN(2))*syscall.O_CLOEXEC, int64(r.IntN(10)))
			case 6:
				e = fdEv(event.TypeClose, p, pp, int64(r.IntN(10)), 0)
			case 7:
				e = fdEv(event.TypeDup2, p, pp, int64(r.IntN(10)), int64(r.IntN(10)))
			case 8:
				e = ev(event.TypeSocket, p, pp)
				e.Ret, e.Arg[0], e.Arg[1] = int64(r.IntN(10)), syscall.AF_INET, syscall.SOCK_DGRAM
			case 9:
				e = fdEv(event.TypeSendto, p, pp, int64(r.IntN(10)), 1)
				e.Addr = ip4("10.0.0.1", uint16(r.IntN(3)))
			case 10:
				e = ev(event.TypeKill, p, pp)
			case 11:
				e = ev(event.TypeChdir, p, pp)
				e.Path = "../d"
			}
			tb.Apply(e)
			if e.Proc == nil {
				t.Fatalf("seed %d event %d (%v): not enriched", seed, i, e.Type)
			}
			checkInvariants(t, tb)
		}
		if r.IntN(2) == 0 {
			tb.Sweep(0) // the synthetic /proc is empty: everything goes
			checkInvariants(t, tb)
			if st := tb.Stats(); st.Procs != 0 || st.FDs != 0 {
				t.Fatalf("after a full sweep: %+v", st)
			}
		}
	}
}
