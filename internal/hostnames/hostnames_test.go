package hostnames

import (
	"context"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
)

// TestEntryNeverBlocks: with a DNS server that does not answer, handing
// out entries returns at once (the lookups are held until every Entry call
// has returned: a blocking Entry would hang the test) and they match
// nothing; a lookup that never answers ends at the timeout.
func TestEntryNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	r := New(&Options{Timeout: time.Hour, Lookup: func(ctx context.Context, _ string) ([]netip.Addr, error) {
		calls.Add(1)
		<-release
		return nil, context.DeadlineExceeded
	}})
	var es []*Entry
	for i := range 100 {
		es = append(es, r.Entry("h"+strconv.Itoa(i)+".invalid"))
	}
	for _, e := range es {
		if e.Match(ip1) {
			t.Fatal("unresolved host matched")
		}
	}
	close(release)
	r.Wait()
	if calls.Load() != 100 {
		t.Fatalf("%d lookups", calls.Load())
	}

	silent := New(&Options{Timeout: 10 * time.Millisecond, Lookup: func(ctx context.Context, _ string) ([]netip.Addr, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	silent.Entry("silent.invalid")
	silent.Wait() // returns because the lookup's context times out
}

// TestRefresh: a resolved entry matches its addresses and names them in
// reverse; once stale it refreshes in the background and picks up the new
// addresses; a failed refresh keeps the old ones.
func TestRefresh(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1000, 0).UnixNano())
	var answer atomic.Pointer[[]netip.Addr]
	answer.Store(&[]netip.Addr{ip1})
	var fail atomic.Bool
	r := New(&Options{Refresh: time.Minute, Now: func() time.Time { return time.Unix(0, now.Load()) },
		Lookup: func(context.Context, string) ([]netip.Addr, error) {
			if fail.Load() {
				return nil, context.DeadlineExceeded
			}
			return *answer.Load(), nil
		}})
	e := r.Entry("pool.example")
	r.Wait()
	if !e.Match(ip1) || e.Match(ip2) || r.Name(ip1) != "pool.example" || r.Name(ip2) != "" {
		t.Fatalf("addrs %v", e.Addrs())
	}
	if r.Entry("pool.example") != e {
		t.Fatal("one entry per host name")
	}
	answer.Store(&[]netip.Addr{ip2})
	e.Match(ip1) // fresh: no refresh
	r.Wait()
	if e.Match(ip2) {
		t.Fatal("refreshed before the interval")
	}
	now.Add(int64(2 * time.Minute))
	e.Match(ip2) // stale: starts the refresh, answers with the old addresses
	r.Wait()
	if !e.Match(ip2) || e.Match(ip1) || r.Name(ip2) != "pool.example" {
		t.Fatalf("after refresh %v", e.Addrs())
	}
	fail.Store(true)
	now.Add(int64(2 * time.Minute))
	e.Match(ip2)
	r.Wait()
	if !e.Match(ip2) {
		t.Fatal("a failed refresh lost the addresses")
	}
}

func TestBounds(t *testing.T) {
	many := make([]netip.Addr, MaxAddrs+10)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	r := New(&Options{Lookup: func(context.Context, string) ([]netip.Addr, error) { return many, nil }})
	for i := range MaxHosts + 5 {
		r.Entry("h" + strconv.Itoa(i))
	}
	r.Wait()
	if r.Dropped() != 5 {
		t.Fatalf("dropped %d", r.Dropped())
	}
	if got := len(r.Entry("h0").Addrs()); got != MaxAddrs {
		t.Fatalf("%d addresses kept", got)
	}
	over := r.Entry("one-too-many")
	r.Wait()
	if over.Match(many[0]) {
		t.Fatal("an entry over the bound resolved")
	}
	if n := testing.AllocsPerRun(100, func() { r.Entry("h1").Match(many[3]); r.Name(many[3]) }); n != 0 {
		t.Fatalf("Match allocates %v", n)
	}
}
