package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/containertest"
)

// agentListen is the HTTP endpoint of the agent under test: not 8765, so a
// developer's agent can keep that port.
const agentListen = "127.0.0.1:8791"

// agentCaps are the only capabilities the agent keeps (all others are
// dropped) instead of running privileged, as the chart's securityContext
// says (docs/deploy.md says what each is for). CAP_BPF and CAP_PERFMON
// are implied by CAP_SYS_ADMIN, and Docker 20.10 does not know their names.
var agentCaps = []string{"SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "KILL"}

// agentBinds are the host paths the agent container needs, as the
// DaemonSet mounts them (docs/deploy.md explains each).
var agentBinds = []string{
	"/sys/kernel/tracing:/sys/kernel/tracing:ro",
	"/sys/fs/bpf:/sys/fs/bpf",
	"/sys/fs/cgroup:/sys/fs/cgroup",
	"/run/containerd/containerd.sock:/run/containerd/containerd.sock",
	"/var/run/docker.sock:/var/run/docker.sock",
}

const agentConfig = `http: {enabled: true, listen: "` + agentListen + `"}
outputs:
  stdout: {enabled: true, format: json}
rules: {watch: false}
dedup: {window: 0s}
policy: {files: [/etc/vigil/policies.d]}
containers: {sockets: [/var/run/docker.sock, /run/containerd/containerd.sock]}
`

// killMarker is the prevention policy of the test: a host program named
// vigil-deploy-kill is killed at exec, in the kernel.
const killMarker = `name: kill-marker
scope: {host: true}
process:
  rules:
    - {name: marker, action: kill, names: [vigil-deploy-kill]}
`

// startAgent loads the image and runs the agent in a container with
// agentCaps (not privileged), the runtime's default seccomp profile, the
// host's PID namespace and network, a read-only root filesystem,
// the store on a host directory and /tmp on tmpfs. extraTmpfs mounts
// tmpfs over more paths (to hide a kernel feature); policies are more
// policy files (name → content), which replace killMarker's under its
// name kill-marker.yaml.
func startAgent(t *testing.T, d *containertest.Docker, extraTmpfs map[string]string, policies map[string]string) *containertest.DockerContainer {
	t.Helper()
	d.LoadImage(t, image(t))
	etc := filepath.Join(t.TempDir(), "etc")
	if err := os.MkdirAll(filepath.Join(etc, "policies.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "vigil.yaml"), []byte(agentConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "policies.d", "kill-marker.yaml"), []byte(killMarker), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range policies {
		if err := os.WriteFile(filepath.Join(etc, "policies.d", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store := t.TempDir()
	tmpfs := map[string]string{"/tmp": "rw,size=64m"}
	for k, v := range extraTmpfs {
		tmpfs[k] = v
	}
	agent := d.Run(t, containertest.DockerSpec{
		Name:     fmt.Sprintf("vigil-agent-%d", time.Now().UnixNano()),
		Image:    imageTag,
		CapAdd:   agentCaps,
		PidMode:  "host",
		Network:  "host",
		ReadOnly: true,
		Tmpfs:    tmpfs,
		Binds:    append([]string{etc + ":/etc/vigil:ro", store + ":/var/lib/vigil"}, agentBinds...),
	})
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := agent.Logs()
			var own, internal []string
			for _, l := range strings.Split(logs, "\n") {
				switch {
				case !strings.HasPrefix(l, "{"):
					own = append(own, l)
				case !strings.Contains(l, `"rule":"Vigil Sensitive File Read"`):
					internal = append(internal, l) // prevention, gate and internal alerts
				}
			}
			t.Logf("agent log, alerts left out:\n%s", tail(strings.Join(own, "\n"), 8000))
			t.Logf("agent's other alerts (prevention, gate, internal):\n%s", tail(strings.Join(internal, "\n"), 8000))
		}
	})
	return agent
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// get fetches a path of the agent's HTTP endpoint.
func get(path string) (int, string, error) { return getURL("http://" + agentListen + path) }

// getURL fetches url.
func getURL(url string) (int, string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitFor polls cond every 200ms for at most limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within %s", what, limit)
}

type falcoAlert struct {
	Rule         string         `json:"rule"`
	OutputFields map[string]any `json:"output_fields"`
}

// alerts returns the Falco JSON alerts in the agent's log.
func alerts(t *testing.T, agent *containertest.DockerContainer) []falcoAlert {
	logs, err := agent.Logs()
	if err != nil {
		t.Fatal(err)
	}
	var out []falcoAlert
	for _, line := range strings.Split(logs, "\n") {
		var a falcoAlert
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &a) == nil && a.Rule != "" {
			out = append(out, a)
		}
	}
	return out
}

// siblingShadowPolicy blocks reading /etc/shadow in the test image's
// containers named vigil-blocked-*, the image named as users write it
// (Docker reports it as vigiltest/busybox).
const siblingShadowPolicy = `name: sibling-shadow
scope: {containers: {images: ["docker.io/vigiltest/busybox*"], names: ["vigil-blocked-*"]}}
file:
  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow]}]
`

// hostPolicy is killMarker with more host-scope rules: reading a host file
// (%s) is blocked, and a host program named by path (%s) is killed: the
// agent in its container must mark and resolve them in the host's root, not
// in its own. (One policy: the first policy with a process section provides
// the host's.)
const hostPolicy = killMarker + `    - {name: host-program, action: kill, paths: [%s]}
file:
  rules: [{name: host-secret, action: block, access: read, paths: [%s]}]
`

// TestAgentInContainer runs the released image as the DaemonSet runs it and
// checks that it sees a sibling container as the host binary would: `cat
// /etc/shadow` there raises the sensitive-file alert with the sibling's id
// and image; and that prevention works from inside: a host program the
// policy names is killed at exec and the kill is reported, a policy scoped
// to the sibling's image blocks a new sibling's first read of /etc/shadow,
// and a host-scope policy blocks a read of a host file (which the agent's
// container does not have) and kills a host program named by its path.
func TestAgentInContainer(t *testing.T) {
	d := containertest.StartDockerd(t)
	hostDir := t.TempDir()
	secret, program := filepath.Join(hostDir, "host-secret"), filepath.Join(hostDir, "vigil-host-program")
	if err := os.WriteFile(secret, []byte("host secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	trueBin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(program, trueBin, 0o755); err != nil {
		t.Fatal(err)
	}
	agent := startAgent(t, d, nil, map[string]string{
		"sibling-shadow.yaml": siblingShadowPolicy,
		"kill-marker.yaml":    fmt.Sprintf(hostPolicy, program, secret),
	})
	waitFor(t, 60*time.Second, "agent /healthz", func() bool {
		code, _, _ := get("/healthz")
		return code == http.StatusOK
	})

	// The sibling gets an /etc/shadow (busybox has none).
	shadow := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(shadow, []byte("root:*:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loop := `i=0; while [ $i -lt 600 ]; do cat /etc/shadow >/dev/null; i=$((i+1)); sleep 0.2; done; sleep 3600`
	seen := d.Run(t, containertest.DockerSpec{Name: fmt.Sprintf("vigil-seen-%d", time.Now().UnixNano()),
		Args: []string{"sh", "-c", loop}, Binds: []string{shadow + ":/etc/shadow:ro"}})

	var got falcoAlert
	waitFor(t, 60*time.Second, "sensitive-file alert from the sibling container", func() bool {
		for _, a := range alerts(t, agent) {
			// The first reads may precede the runtime's metadata: wait for
			// an alert that has the image too.
			if a.Rule == "Vigil Sensitive File Read" && a.OutputFields["container.id"] == seen.ID[:12] &&
				a.OutputFields["container.image.repository"] != nil {
				got = a
				return true
			}
		}
		return false
	})
	if img := fmt.Sprint(got.OutputFields["container.image.repository"]); !strings.Contains(img, "vigiltest/busybox") {
		t.Errorf("alert image %q, want vigiltest/busybox: %v", img, got.OutputFields)
	}
	if got.OutputFields["fd.name"] != "/etc/shadow" {
		t.Errorf("alert file %v, want /etc/shadow", got.OutputFields["fd.name"])
	}

	// Prevention from inside the container: the policy kills a host
	// program at exec.
	marker := filepath.Join(t.TempDir(), "vigil-deploy-kill")
	if err := os.WriteFile(marker, trueBin, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the marker program killed at exec", func() bool {
		err := exec.Command(marker).Run()
		var ee *exec.ExitError
		return errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	})
	waitFor(t, 30*time.Second, "prevention alert for the killed program", func() bool {
		for _, a := range alerts(t, agent) {
			if a.Rule == "Vigil prevention" && strings.Contains(fmt.Sprint(a.OutputFields), "vigil-deploy-kill") {
				return true
			}
		}
		return false
	})

	// A new sibling scoped by image: its first read is blocked.
	blocked := d.Run(t, containertest.DockerSpec{Name: fmt.Sprintf("vigil-blocked-%d", time.Now().UnixNano()),
		Args: []string{"/bin/cat", "/etc/shadow"}})
	code, err := blocked.Wait(20 * time.Second)
	out, _ := blocked.Logs()
	if err != nil || code == 0 || strings.Contains(out, containertest.ShadowLine) || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("sibling scoped by image: exit %d (%v), output %q; want its first read of /etc/shadow blocked", code, err, out)
	}

	// Host scope: the host's file and program, not the agent container's.
	if out, err := exec.Command("cat", secret).CombinedOutput(); err == nil || !strings.Contains(string(out), "Operation not permitted") {
		t.Errorf("host file %s: cat %v, output %q; want the read blocked", secret, err, out)
	}
	err = exec.Command(program).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("host program %s named by path: %v; want it killed at exec", program, err)
	}
	if running, err := agent.Running(); err != nil || !running {
		t.Errorf("agent container stopped (%v)", err)
	}
}

// TestAgentInContainerWithoutBTF hides the kernel's BTF from the agent
// container (a node whose kernel lacks it): the agent starts, logs what is
// missing and why, exports it as metrics, and keeps serving without events.
func TestAgentInContainerWithoutBTF(t *testing.T) {
	d := containertest.StartDockerd(t)
	agent := startAgent(t, d, map[string]string{"/sys/kernel/btf": "ro,size=1m"}, nil)
	var metrics string
	waitFor(t, 60*time.Second, "agent /metrics", func() bool {
		code, body, _ := get("/metrics")
		metrics = body
		return code == http.StatusOK
	})
	for _, want := range []string{`vigil_host_feature{feature="btf",required="true"} 0`, `vigil_host_feature{feature="tracefs",required="true"} 1`, "vigil_sensor_loaded 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, body, err := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s %v", code, body, err)
	}
	logs, err := agent.Logs()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="doctor: missing" feature=btf`, "CO-RE relocations fail", `msg="sensor cannot load: running without events`} {
		if !strings.Contains(logs, want) {
			t.Errorf("agent log lacks %q", want)
		}
	}
	time.Sleep(2 * time.Second) // still up a while later
	if running, err := agent.Running(); err != nil || !running {
		t.Errorf("agent container stopped (%v)", err)
	}
}
