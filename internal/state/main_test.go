package state

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/sensor"
)

func TestMain(m *testing.M) {
	sensor.ExecIfHeld() // TestWithSensor re-executes this binary as a held child
	os.Exit(m.Run())
}
