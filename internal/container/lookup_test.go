package container

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/containertest"
)

// TestSyncLookupLatency measures the synchronous lookup Resolve falls back
// to (one containerd round trip set: container, task, image) on running
// containers and logs the figure (no time is asserted; Stats reports the
// same at run time). It checks the lookups' answers.
func TestSyncLookupLatency(t *testing.T) {
	env := containertest.New(t)
	m, err := New(Options{ContainerdSocket: containertest.Socket, DockerSocket: Disabled, PodmanSocket: Disabled, CRIOSocket: Disabled, RuncRoot: Disabled})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(15 * time.Second)
	for !m.clients[0].connected.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("containerd client not connected: %+v", m.Runtimes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, env.Run(t, containertest.Spec{}).ID)
	}
	const rounds = 20
	for r := 0; r < rounds; r++ {
		for _, id := range ids {
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c, err := m.lookup(lctx, PathInfo{Type: TypeContainerd, ID: id, Namespace: containertest.Namespace})
			cancel()
			if err != nil || c.FullID != id || !c.MetadataKnown {
				t.Fatalf("lookup %s: %v %+v", id, err, c)
			}
		}
	}
	// A lookup without the namespace searches every namespace.
	if _, err := m.lookup(context.Background(), PathInfo{Type: TypeContainerd, ID: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.lookup(context.Background(), PathInfo{Type: TypeContainerd, ID: containertest.NewID()}); err == nil {
		t.Fatal("lookup of an unknown container succeeded")
	}
	st := m.Stats()
	t.Logf("synchronous containerd lookup: %d lookups, mean %v, max %v", st.Lookups, st.LookupLatency, st.LookupMax)
}
