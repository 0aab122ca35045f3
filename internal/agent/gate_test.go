package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// The reproduction: `vigil run` with a policy scoped to the test
// image that blocks reading /etc/shadow, then new containers whose first
// command is `cat /etc/shadow`. The exec gate puts the policy in force
// before each container's first instruction: no read succeeds.
func TestGateNewContainerFirstRead(t *testing.T) {
	testkernel.RequireRoot(t)
	p := enforce.ProbeHost()
	testkernel.SkipIfErr(t, p.ExecGate)
	testkernel.SkipIfErr(t, p.Fanotify)
	env := containertest.New(t)
	cfg, _ := imageAgentConfig(t)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(pol, []byte(`name: busybox-shadow
scope: {containers: {images: ["docker.io/vigiltest/busybox*"]}}
file:
  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow]}]
`), 0o600)
	cfg.Policy.Files = []string{pol}
	// The bound is the default's (200 ms) on a quiet machine; CI under load
	// may take longer to classify, which is a fallback, not what is tested.
	cfg.Policy.Gate.Timeout = 2 * time.Second
	a, _ := startAgent(t, cfg)
	waitFor(t, "policy applied", func() bool {
		a.gate.mu.Lock()
		defer a.gate.mu.Unlock()
		return a.gate.e != nil && a.gate.e.Plan() != nil
	})
	for i := range 3 {
		c := env.Run(t, containertest.Spec{Args: []string{"/bin/cat", "/etc/shadow"}})
		code := c.Wait(t, 20*time.Second)
		if out := c.Output(); code == 0 || strings.Contains(out, containertest.ShadowLine) || !strings.Contains(out, "Operation not permitted") {
			t.Errorf("container %d: exit %d, output %q; want the first read blocked", i, code, out)
		}
	}
	st, err := a.gate.e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Gate.Admitted < 3 || st.Gate.Fallbacks != 0 {
		t.Errorf("gate stats %+v: want 3 containers admitted in time", st.Gate)
	}
	t.Logf("gate: %+v", st.Gate)
}

// Issue 18's report: a policy scoped to a Docker container's image, as
// Docker names it (docker.io/ references without the registry, and
// library/ images without library/), blocks the container's first read of
// /etc/shadow like it does for containerd's.
func TestGateDockerContainerByImage(t *testing.T) {
	testkernel.RequireRoot(t)
	p := enforce.ProbeHost()
	testkernel.SkipIfErr(t, p.ExecGate)
	testkernel.SkipIfErr(t, p.Fanotify)
	d := containertest.StartDockerd(t)
	cfg, _ := imageAgentConfig(t)
	cfg.Containers.Sockets = []string{containertest.DockerSocket, containertest.Socket}
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(pol, []byte(`name: busybox-shadow
scope: {containers: {images: ["docker.io/vigiltest/busybox*"]}}
file:
  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow]}]
`), 0o600)
	cfg.Policy.Files = []string{pol}
	// The bound is the default's (200 ms) on a quiet machine; CI under load
	// may take longer to classify, which is a fallback, not what is tested.
	cfg.Policy.Gate.Timeout = 2 * time.Second
	a, _ := startAgent(t, cfg)
	waitFor(t, "policy applied", func() bool {
		a.gate.mu.Lock()
		defer a.gate.mu.Unlock()
		return a.gate.e != nil && a.gate.e.Plan() != nil
	})
	for i := range 2 {
		c := d.Run(t, containertest.DockerSpec{Args: []string{"/bin/cat", "/etc/shadow"}})
		code, err := c.Wait(20 * time.Second)
		out, _ := c.Logs()
		if err != nil || code == 0 || strings.Contains(out, containertest.ShadowLine) || !strings.Contains(out, "Operation not permitted") {
			t.Errorf("docker container %d: exit %d (%v), output %q; want the first read blocked", i, code, err, out)
		}
	}
	st, err := a.gate.e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gate: %+v", st.Gate)
}
