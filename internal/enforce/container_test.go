package enforce

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// containerTarget creates (does not start) a containerd container running
// args, with a host file bind-mounted at /etc/shadow.
func containerTarget(t *testing.T, env *containertest.Env, name string, args ...string) (*containertest.Container, Target) {
	t.Helper()
	shadow := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(shadow, []byte("root:*:1:0:99999:7:::\n"), 0o600)
	c := env.Run(t, containertest.Spec{Args: args, HostNetwork: true, NoStart: true,
		Mounts: []specs.Mount{{Destination: "/etc/shadow", Source: shadow, Type: "bind", Options: []string{"rbind", "ro"}}}})
	return c, Target{
		Container:  &event.Container{ID: c.ID[:12], FullID: c.ID, Type: "containerd", Name: name, MetadataKnown: true},
		CgroupPath: c.CgroupPath,
		RootPID:    int(c.PID),
	}
}

const containerPolicy = `
name: container-lockdown
scope: {containers: {names: [victim]}}
process:
  rules: [{name: no-nc, action: kill, names: [nc]}]
file:
  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow]}]
`

// In real containers: cat /etc/shadow fails with EPERM, nc is killed at
// exec before connecting, and an unselected container is unaffected.
func TestRealContainers(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	testkernel.SkipIfErr(t, ProbeHost().ExecKill)
	env := containertest.New(t)
	e := newEnforcer(t, Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	catV, tCatV := containerTarget(t, env, "victim", "/bin/cat", "/etc/shadow")
	ncV, tNcV := containerTarget(t, env, "victim", "/bin/nc", "127.0.0.1", port)
	catO, tCatO := containerTarget(t, env, "other", "/bin/cat", "/etc/shadow")
	ps, err := policy.Parse("c.yaml", []byte(containerPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{tCatV, tNcV, tCatO}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*containertest.Container{catV, ncV, catO} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if code := catV.Wait(t, 10*time.Second); code == 0 {
		t.Errorf("cat /etc/shadow in victim exited 0: %q", catV.Output())
	}
	waitOutput(t, catV, "Operation not permitted")
	if code := catO.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("cat /etc/shadow in other: exit %d %q", code, catO.Output())
	}
	waitOutput(t, catO, "root:*:")
	if code := ncV.Wait(t, 10*time.Second); code != 128+9 {
		t.Errorf("nc in victim: exit %d, want 137 (SIGKILL); output %q", code, ncV.Output())
	}
	l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Error("killed nc connected")
	}
	seen := map[Kind]Decision{}
	deadline := time.After(5 * time.Second)
	for len(seen) < 2 {
		select {
		case d := <-e.Decisions():
			seen[d.Kind] = d
		case <-deadline:
			t.Fatalf("decisions: %+v", seen)
		}
	}
	if d := seen[KindOpen]; !d.Enforced || d.Path != "/etc/shadow" || d.Rule != "shadow" {
		t.Errorf("open decision %+v", d)
	}
	if d := seen[KindExec]; !d.Enforced || d.Path != "/bin/nc" || d.Rule != "no-nc" {
		t.Errorf("exec decision %+v", d)
	}
}

func waitOutput(t *testing.T, c *containertest.Container, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(c.Output(), want) {
		if time.Now().After(deadline) {
			t.Errorf("container output %q lacks %q", c.Output(), want)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
