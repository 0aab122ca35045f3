package agent

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/config"
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
func TestHiddenActionUnderFlood(t *testing.T) {
	testkernel.RequireRoot(t)
	dir := t.TempDir()
	kitty := filepath.Join(dir, "kitty")
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cat)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kitty, b, 0o755); err != nil {
		t.Fatal(err)
	}
	alerts := filepath.Join(dir, "alerts.json")
	c := config.DefaultConfig()
	c.Rules.Watch = false
	c.Dedup.Window = 0 // count every alert, not coalesced ones
	c.Outputs.Stdout.Enabled = false
	c.Outputs.File.Enabled = true
	c.Outputs.File.Path = alerts
	c.Store.Path = filepath.Join(dir, "alerts.db")
	c.HTTP.Enabled = false
	a, stop := startAgent(t, c)

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
	stopFloods := func() {
		for _, cmd := range floods {
			cmd.Process.Kill()
			cmd.Wait()
		}
		floods = nil
	}
	defer stopFloods()

	time.Sleep(300 * time.Millisecond) // let the floods reach full speed
	const reads = 20
	for i := 0; i < reads; i++ {
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		if out, err := exec.Command(kitty, "/etc/shadow").CombinedOutput(); err != nil {
			t.Fatalf("kitty /etc/shadow: %v %s", err, out)
		}
	}
	stopFloods()

	count := func() int {
		n := 0
		for _, x := range fileAlerts(alerts) {
			if of, _ := x["output_fields"].(map[string]any); x["rule"] == "Vigil Sensitive File Read" &&
				of["proc.name"] == "kitty" && of["fd.name"] == "/etc/shadow" {
				n++
			}
		}
		return n
	}
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
