package pipeline

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/sensor"
)

// envHelper makes this binary a helper of TestFieldsOnRealKernel: with
// "unlinkat DIR NAME" it removes DIR/NAME through a dirfd.
const envHelper = "VIGIL_PIPELINE_TEST_HELPER"

func TestMain(m *testing.M) {
	sensor.ExecIfHeld() // TestFieldsOnRealKernel re-executes this binary as a held child
	if os.Getenv(envHelper) != "" && len(os.Args) == 4 && os.Args[1] == "unlinkat" {
		fd, err := unix.Open(os.Args[2], unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err == nil {
			err = unix.Unlinkat(fd, os.Args[3], 0)
		}
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
