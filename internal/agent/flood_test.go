package agent

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// envFlood makes the re-executed test binary run one flood ("open" or
// "connect") until it is killed, instead of the tests.
const envFlood = "VIGIL_AGENT_TEST_FLOOD"

func init() {
	switch os.Getenv(envFlood) {
	case "":
		return
	case "open":
		for {
			fd, err := unix.Open("/etc/hostname", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
		}
	case "connect":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			os.Exit(2)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		for {
			if c, err := net.Dial("tcp4", ln.Addr().String()); err == nil {
				c.Close()
			}
		}
	}
	os.Exit(2)
}

// TestHiddenActionUnderFlood: while a connect flood and an open flood run
// flat out on both cores, a renamed copy of cat reads /etc/shadow 20
// times at random moments; the agent with its default rules raises all 20
// alerts, and loses no event of the critical tier.
// renamed copies a program found in PATH to dir/name and returns its path.
func renamed(t *testing.T, prog, dir, name string) string {
	t.Helper()
	src, err := exec.LookPath(prog)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// floodConfig is the default configuration (default rules) with alerts to
// a file, every alert delivered (no coalescing), no HTTP endpoint.
func floodConfig(dir string) *config.Config {
	c := config.DefaultConfig()
	c.Rules.Watch = false
	c.Dedup.Window = 0 // count every alert, not coalesced ones
	c.Outputs.Stdout.Enabled = false
	c.Outputs.File.Enabled = true
	c.Outputs.File.Path = filepath.Join(dir, "alerts.json")
	c.Store.Path = filepath.Join(dir, "alerts.db")
	c.HTTP.Enabled = false
	return c
}

// startFloods starts the connect and open floods; the returned function
// stops them (also at the end of the test).
func startFloods(t *testing.T) (stop func()) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var floods []*exec.Cmd
	for _, f := range []string{"connect", "open"} {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), envFlood+"="+f)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		floods = append(floods, cmd)
	}
	stop = func() {
		for _, cmd := range floods {
			cmd.Process.Kill()
			cmd.Wait()
		}
		floods = nil
	}
	t.Cleanup(stop)
	return stop
}

// shadowAlerts counts the alerts of the default rule for prog reading
// /etc/shadow.
func shadowAlerts(file, prog string) int {
	n := 0
	for _, x := range fileAlerts(file) {
		if of, _ := x["output_fields"].(map[string]any); x["rule"] == "Vigil Sensitive File Read" &&
			of["proc.name"] == prog && of["fd.name"] == "/etc/shadow" {
			n++
		}
	}
	return n
}

func TestHiddenActionUnderFlood(t *testing.T) {
	testkernel.RequireRoot(t)
	dir := t.TempDir()
	kitty := renamed(t, "cat", dir, "kitty")
	c := floodConfig(dir)
	alerts := c.Outputs.File.Path
	a, stop := startAgent(t, c)
	stopFloods := startFloods(t)

	time.Sleep(300 * time.Millisecond) // let the floods reach full speed
	const reads = 20
	for i := 0; i < reads; i++ {
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		if out, err := exec.Command(kitty, "/etc/shadow").CombinedOutput(); err != nil {
			t.Fatalf("kitty /etc/shadow: %v %s", err, out)
		}
	}
	stopFloods()

	count := func() int { return shadowAlerts(alerts, "kitty") }
	deadline := time.Now().Add(20 * time.Second)
	for count() < reads && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	fams := scrape(t, a)
	stop()
	st := a.realSensor.Stats()
	if got := count(); got != reads {
		t.Errorf("%d of %d alerts for kitty /etc/shadow (sensor received %d, lost %d: ringbuf_full %d shed %d)",
			got, reads, st.Received, st.Lost, st.ByReason(sensor.ReasonRingbufFull), st.ByReason(sensor.ReasonShed))
	}
	t.Logf("sensor received %d events, lost %d; connect events %v, close events %v", st.Received, st.Lost,
		metricValue(fams["vigil_events_total"], "type", "connect"), metricValue(fams["vigil_events_total"], "type", "close"))
}

// TestBurstLargerThanRing: the agent's consumer stalls (a tap blocks for
// three seconds) while the floods run against a 1 MiB ring: the kernel
// sheds by tier, the agent survives, raises the loss alert naming the
// reasons and types within about a second of resuming, loses no critical
// event, and detects again without a restart.
func TestBurstLargerThanRing(t *testing.T) {
	testkernel.RequireRoot(t)
	dir := t.TempDir()
	kitty := renamed(t, "cat", dir, "kitty")
	stall := renamed(t, "true", dir, "vigil-stall")
	c := floodConfig(dir)
	c.Sensor.RingSizeMB = 1
	var stalled atomic.Bool
	tap := func(ev *event.Event) {
		if ev.Type == event.TypeExecve && ev.Comm == "vigil-stall" && stalled.CompareAndSwap(false, true) {
			time.Sleep(3 * time.Second)
		}
	}
	a := launch(t, c, &Options{Tap: tap})
	a.waitHealthy(t)
	stopFloods := startFloods(t)
	time.Sleep(200 * time.Millisecond)
	if err := exec.Command(stall).Run(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the consumer to stall", stalled.Load)
	time.Sleep(3 * time.Second) // the stall, floods running
	stopFloods()
	resumed := time.Now()

	var lostAlert map[string]any
	waitFor(t, "the events-lost alert", func() bool {
		for _, x := range fileAlerts(c.Outputs.File.Path) {
			if x["rule"] == RuleEventsLost {
				lostAlert = x
				return true
			}
		}
		return false
	})
	t.Logf("loss alert %v after the consumer resumed: %v", time.Since(resumed).Round(100*time.Millisecond), lostAlert["output"])
	of, _ := lostAlert["output_fields"].(map[string]any)
	if of["vigil.shed"] == nil || of["vigil.lost_types"] == "" {
		t.Errorf("loss alert fields %v: want the shed count and the types", of)
	}
	st := a.realSensor.Stats()
	if st.ByReason(sensor.ReasonShed) == 0 {
		t.Errorf("nothing shed: lost %d (ringbuf_full %d)", st.Lost, st.ByReason(sensor.ReasonRingbufFull))
	}
	for r := sensor.Reason(0); r < sensor.NumReasons; r++ {
		for ty := event.Type(1); ty < event.NumTypes; ty++ {
			if r.Lost() && st.Drops[r][ty] > 0 && sensor.TierOf(ty) == sensor.TierCritical {
				t.Errorf("critical %v lost (%v): %d", ty, r, st.Drops[r][ty])
			}
		}
	}
	// Detection goes on without a restart.
	if out, err := exec.Command(kitty, "/etc/shadow").CombinedOutput(); err != nil {
		t.Fatalf("kitty /etc/shadow: %v %s", err, out)
	}
	waitFor(t, "the alert after the burst", func() bool { return shadowAlerts(c.Outputs.File.Path, "kitty") == 1 })
}
