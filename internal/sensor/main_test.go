package sensor

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	ExecIfHeld()
	if os.Geteuid() == 0 {
		_ = EnsureTracefs()
		_ = EnsureBPFFS()
	}
	os.Exit(m.Run())
}
