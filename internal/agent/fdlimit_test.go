package agent

import (
	"log/slog"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestFDBudget: the soft RLIMIT_NOFILE is raised to the reserve plus the
// connection cap when lower (not further), and a hard limit too low for
// both lowers the cap instead of eating into the reserve.
func TestFDBudget(t *testing.T) {
	testkernel.RequireRoot(t) // restoring a lowered hard limit needs CAP_SYS_RESOURCE
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &orig)
	log := slog.New(slog.DiscardHandler)

	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 512, Max: orig.Max}); err != nil {
		t.Fatal(err)
	}
	if got := fdBudget(64, log); got != 64 {
		t.Errorf("cap %d, want 64", got)
	}
	var now unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &now)
	if now.Cur != fdReserve+64 {
		t.Errorf("soft limit %d, want exactly the reserve plus the cap, %d", now.Cur, fdReserve+64)
	}

	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 512, Max: fdReserve + 20}); err != nil {
		t.Fatal(err)
	}
	if got := fdBudget(64, log); got != 20 {
		t.Errorf("cap under a low hard limit: %d, want 20", got)
	}
}
