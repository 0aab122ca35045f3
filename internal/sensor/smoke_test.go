package sensor

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

func TestSmoke(t *testing.T) {
	testkernel.RequireRoot(t)
	h, err := StartHeld([]string{"sh", "-c", "cat /etc/hostname"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(&Options{FilterPIDTree: h.Pid(), ExcludeSelf: true})
	if err != nil {
		h.Abort()
		t.Fatal(err)
	}
	defer s.Close()
	t.Log(s.Missing())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- s.Run(ctx, func(ev *event.Event) {
			t.Logf("%s", event.AppendJSON(nil, ev))
		})
	}()
	h.Release()
	h.Cmd.Wait()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	st := s.Stats()
	t.Logf("received %d lost %d", st.Received, st.Lost)
	_ = os.Stdout
}
