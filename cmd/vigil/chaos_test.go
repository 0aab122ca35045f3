package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/agent"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// holdEnv makes the test binary the connection holder of TestChaos:
// "ADDR COUNT" opens COUNT keep-alive connections to ADDR, sends one
// request on each, never reads, prints "held N" and waits for stdin to
// close.
const holdEnv = "VIGIL_TEST_HOLD_CONNS"

func init() {
	if v := os.Getenv(holdEnv); v != "" {
		addr, n, _ := strings.Cut(v, " ")
		count, _ := strconv.Atoi(n)
		var conns []net.Conn
		for range count {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				break
			}
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: vigil\r\n\r\n")
			conns = append(conns, c)
		}
		fmt.Printf("held %d\n", len(conns))
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
}

const chaosRules = `
- rule: Chaos canary
  desc: an open of a chaos canary file
  condition: evt.type in (open, openat, openat2) and fd.name startswith %q and proc.name = cat
  output: Canary opened (file=%%fd.name)
  priority: WARNING
`

// TestChaos: while `vigil run` handles a steady workload, the gate child
// is killed, the store's filesystem fills up, an unprivileged user holds
// 10,000 idle HTTP connections and a rules file that crashed the loader is
// reloaded. A canary each second (an open the rules detect, and an open the
// policy blocks) must be detected and prevented every time, with its
// alert, and the agent must say what happened.
func TestChaos(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	testkernel.SkipIfErr(t, enforce.ProbeHost().Fanotify)
	bin := buildVigil(t)
	dir := t.TempDir()
	const canaries = 14

	// Detection canaries: dir/seen/N; prevention canaries: dir/blocked-N.
	seen := filepath.Join(dir, "seen") + "/"
	os.MkdirAll(seen, 0o755)
	var blocked []string
	for i := range canaries {
		os.WriteFile(filepath.Join(seen, strconv.Itoa(i)), []byte("x"), 0o644)
		p := filepath.Join(dir, "blocked-"+strconv.Itoa(i))
		os.WriteFile(p, []byte("x"), 0o644)
		blocked = append(blocked, p)
	}
	rules := filepath.Join(dir, "rules.yaml")
	goodRules := fmt.Sprintf(chaosRules, seen)
	os.WriteFile(rules, []byte(goodRules), 0o600)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf("name: chaos\nscope: {host: true}\nfile:\n  rules: [{name: canary, action: block, paths: [%s]}]\n", strings.Join(blocked, ", "))), 0o600)

	// The store on a small filesystem of its own.
	storeFS := filepath.Join(dir, "storefs")
	os.MkdirAll(storeFS, 0o755)
	if err := unix.Mount("tmpfs", storeFS, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(storeFS, unix.MNT_DETACH) })

	alerts := filepath.Join(dir, "alerts.json")
	listen := freeLoopback(t)
	cfg := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`log_level: info
rules:
  default: false
  files: [%q]
  watch: true
  watch_interval: 200ms
dedup:
  window: 0s
outputs:
  stdout:
    enabled: false
  file:
    enabled: true
    path: %q
store:
  enabled: true
  path: %q
  flush_interval: 20ms
policy:
  files: [%q]
http:
  enabled: true
  listen: %q
  max_connections: 64
`, rules, alerts, filepath.Join(storeFS, "alerts.db"), pol, listen)), 0o600)

	p := startRun(t, bin, &e2eSinks{cfg: cfg, listen: listen})
	pollUntil(t, 30*time.Second, "prevention in force", func() bool {
		return exec.Command("cat", blocked[0]).Run() != nil
	})

	// A steady workload: a shell execs cat in a loop.
	work := exec.Command("sh", "-c", "while :; do cat /etc/hostname >/dev/null; sleep 0.02; done")
	if err := work.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { work.Process.Kill(); work.Wait() }()

	faults := map[int]func(){
		2: func() { // kill the fanotify gate child
			pid := gateChild(t, p.cmd.Process.Pid)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Errorf("kill gate %d: %v", pid, err)
			}
		},
		4: func() { // fill the store's filesystem
			f, err := os.Create(filepath.Join(storeFS, "fill"))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			for {
				if _, err := f.Write(buf); err != nil {
					break
				}
			}
			f.Close()
		},
		6: func() { // 10,000 idle connections from nobody
			hold := exec.Command(holderBinary(t), "-test.run=^$")
			hold.Env = append(os.Environ(), holdEnv+"="+listen+" 10000")
			hold.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			stdin, _ := hold.StdinPipe()
			out, _ := hold.StdoutPipe()
			if err := hold.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			t.Logf("connection holder: %s", strings.TrimSpace(line))
			t.Cleanup(func() { stdin.Close(); hold.Wait() })
		},
		8: func() { // a rules file that crashed the loader, reloaded by watch and SIGHUP
			os.WriteFile(rules, []byte(goodRules+"- required_plugin_versions: [{version: 0.7.0}]\n"), 0o600)
			p.cmd.Process.Signal(syscall.SIGHUP)
		},
	}
	denied := make([]string, canaries)
	for i := range canaries {
		start := time.Now()
		if err := exec.Command("cat", filepath.Join(seen, strconv.Itoa(i))).Run(); err != nil {
			t.Errorf("canary %d: cat: %v", i, err)
		}
		out, err := exec.Command("cat", blocked[i]).CombinedOutput()
		denied[i] = strings.TrimSpace(string(out))
		if err == nil || !strings.Contains(denied[i], "Operation not permitted") {
			t.Errorf("canary %d: open of a blocked file not prevented: %v %q", i, err, out)
		}
		if f := faults[i]; f != nil {
			f()
		}
		select {
		case err := <-p.done:
			t.Fatalf("vigil run died at canary %d: %v\n%s", i, err, p.stderr.String())
		default:
		}
		time.Sleep(time.Second - time.Since(start)) // one canary a second
	}

	// Every canary has its alerts; the agent said what happened.
	var as []map[string]any
	pollUntil(t, 20*time.Second, "every canary's alerts", func() bool {
		as = fileJSON(t, alerts)
		return missing(as, seen, blocked) == ""
	})
	for _, rule := range []string{agent.RuleGateDown, agent.RuleGateRestored, agent.RuleStoreWriteFailed, agent.RuleReloadFailed} {
		if countAlerts(as, rule) == 0 {
			t.Errorf("no %q alert", rule)
		}
	}
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatalf("/metrics after the chaos: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"vigil_prevention_gate_up 1", "vigil_prevention_gate_restarts_total 1", `vigil_rules_reloads_total{result="error"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if evicted := metricValue(string(b), "vigil_http_connections_evicted_total"); evicted < 9000 {
		t.Errorf("vigil_http_connections_evicted_total = %v, want the idle connections evicted", evicted)
	}
	if open := metricValue(string(b), "vigil_http_connections"); open > 64 {
		t.Errorf("vigil_http_connections = %v, above the cap", open)
	}
	p.stop(t)
}

// holderBinary is a copy of the test binary that the unprivileged user can
// run (go test builds it in a directory only root can enter).
func holderBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-chaos-hold-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hold")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// gateChild is the fanotify gate process, a child of the agent.
func gateChild(t *testing.T, agentPID int) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if strings.HasPrefix(string(cmdline), "vigil-fanotify-gate") && len(f) > 1 && f[1] == strconv.Itoa(agentPID) {
			return pid
		}
	}
	t.Fatal("no gate child")
	return 0
}

// missing names the first canary without its alert ("" when none).
func missing(as []map[string]any, seen string, blocked []string) string {
	for i := range blocked {
		file := seen + strconv.Itoa(i)
		det, prev := false, false
		for _, a := range as {
			out, _ := a["output"].(string)
			switch a["rule"] {
			case "Chaos canary":
				det = det || strings.Contains(out, "file="+file+")")
			case agent.RulePrevention:
				prev = prev || strings.Contains(out, "target="+blocked[i]+" ")
			}
		}
		if !det {
			return "detection " + strconv.Itoa(i)
		}
		if !prev {
			return "prevention " + strconv.Itoa(i)
		}
	}
	return ""
}

func countAlerts(as []map[string]any, rule string) int {
	n := 0
	for _, a := range as {
		if a["rule"] == rule {
			n++
		}
	}
	return n
}

// metricValue is the value of an unlabelled metric in a Prometheus text
// page (-1 when absent).
func metricValue(page, name string) float64 {
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}
