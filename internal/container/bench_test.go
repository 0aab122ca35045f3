package container

import (
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// hitManager returns a Manager whose cache holds one container cgroup, as
// after a first Resolve, without runtimes.
func hitManager(tb testing.TB) (*Manager, uint64) {
	tb.Helper()
	m, err := New(Options{ContainerdSocket: Disabled, DockerSocket: Disabled, PodmanSocket: Disabled, CRIOSocket: Disabled, RuncRoot: Disabled})
	testkernel.SkipIfErr(tb, err) // needs a cgroup v2 hierarchy

	const cg = 1<<40 + 7
	info := PathInfo{Type: TypeContainerd, ID: idA, Namespace: "default"}
	m.cgroups[cg] = &cgEntry{path: "/default/" + idA, info: info}
	m.records[idA] = &record{c: &event.Container{ID: idA[:12], FullID: idA, Type: TypeContainerd, MetadataKnown: true}}
	return m, cg
}

func BenchmarkResolveHit(b *testing.B) {
	m, cg := hitManager(b)
	b.ReportAllocs()
	for b.Loop() {
		if m.Resolve(cg, 1) == nil {
			b.Fatal("miss")
		}
	}
}

// BenchmarkBaselineMapLookup is the floor Resolve is compared with: one
// RWMutex-guarded map lookup.
func BenchmarkBaselineMapLookup(b *testing.B) {
	var mu sync.RWMutex
	mp := map[uint64]*event.Container{1<<40 + 7: {ID: "x"}}
	b.ReportAllocs()
	for b.Loop() {
		mu.RLock()
		c := mp[1<<40+7]
		mu.RUnlock()
		if c == nil {
			b.Fatal("miss")
		}
	}
}

// TestResolveHitCost reports Resolve's cache-hit cost as a ratio to the
// baseline map lookup measured in the same run (no time is asserted), and
// asserts the hit path does not allocate.
func TestResolveHitCost(t *testing.T) {
	m, cg := hitManager(t)
	if n := testing.AllocsPerRun(1000, func() { m.Resolve(cg, 1) }); n != 0 {
		t.Fatalf("Resolve hit allocates %v", n)
	}
	if testing.Short() {
		return
	}
	hit := testing.Benchmark(BenchmarkResolveHit)
	base := testing.Benchmark(BenchmarkBaselineMapLookup)
	t.Logf("Resolve hit %d ns/op, baseline map lookup %d ns/op, ratio %.2f", hit.NsPerOp(), base.NsPerOp(), float64(hit.NsPerOp())/float64(max(base.NsPerOp(), 1)))
}
