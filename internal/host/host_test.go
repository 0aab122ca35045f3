package host

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/a\040b\134c`: `/mnt/a b\c`,
		`/plain`:           `/plain`,
		`/trailing\04`:     `/trailing\04`,
		`/bad\09x`:         `/bad\09x`,
	} {
		if got := UnescapeMountinfo(in); got != want {
			t.Errorf("UnescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBootTime: the boot time agrees with /proc/uptime (to its 10 ms
// resolution, plus the time between the two reads).
func TestBootTime(t *testing.T) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Skip("no /proc/uptime:", err)
	}
	up, err := time.ParseDuration(strings.Fields(string(b))[0] + "s")
	if err != nil {
		t.Fatal(err)
	}
	fromUptime := time.Now().Add(-up).UnixNano()
	if d := time.Duration(BootTime() - fromUptime).Abs(); d > time.Second {
		t.Errorf("boot time %d is %v away from the one /proc/uptime gives (%d)", BootTime(), d, fromUptime)
	}
	if BootTime() != BootTime() {
		t.Error("BootTime changed between two reads")
	}
}

// TestCgroup2Root: the root found holds cgroup.controllers, as every
// cgroup v2 root does.
func TestCgroup2Root(t *testing.T) {
	root, err := Cgroup2Root()
	if err != nil {
		t.Skip("no cgroup v2 here:", err)
	}
	if _, err := os.Stat(root + "/cgroup.controllers"); err != nil {
		t.Errorf("%s is not a cgroup v2 root: %v", root, err)
	}
}
