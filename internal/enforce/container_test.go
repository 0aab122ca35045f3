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

// A file rule names two paths and one of two selected containers lacks one
// of them: Apply marks what exists, reports the missing path, and both
// containers are protected where they have the files (before, the ENOENT of
// that one mark rejected the whole policy).
func TestFileMarkMissingInOneContainer(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	env := containertest.New(t)
	e := newEnforcer(t, Options{})
	extra := filepath.Join(t.TempDir(), "extra")
	os.WriteFile(extra, []byte("extra secret\n"), 0o600)
	withExtra := func(args ...string) (*containertest.Container, Target) {
		c := env.Run(t, containertest.Spec{Args: args, HostNetwork: true, NoStart: true,
			Mounts: []specs.Mount{{Destination: "/etc/vigil-extra", Source: extra, Type: "bind", Options: []string{"rbind", "ro"}}}})
		return c, Target{Container: &event.Container{ID: c.ID[:12], FullID: c.ID, Type: "containerd", Name: "victim", MetadataKnown: true},
			CgroupPath: c.CgroupPath, RootPID: int(c.PID)}
	}
	has, tHas := withExtra("/bin/cat", "/etc/vigil-extra")
	lacks, tLacks := containerTarget(t, env, "victim", "/bin/cat", "/etc/shadow")
	ps, err := policy.Parse("m.yaml", []byte(`name: two-paths
scope: {containers: {names: [victim]}}
file:
  rules: [{name: secrets, action: block, access: read, paths: [/etc/shadow, /etc/vigil-extra]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{tHas, tLacks}); err != nil {
		t.Fatalf("apply with a path one container lacks: %v", err)
	}
	want := "/proc/" + strconv.Itoa(tLacks.RootPID) + "/root/etc/vigil-extra"
	if u := e.Plan().Unmarked; len(u) != 1 || u[0] != want {
		t.Errorf("unmarked %q, want [%s]", u, want)
	}
	if e.MarksMissing() {
		t.Error("MarksMissing: the missing path does not exist yet")
	}
	for _, c := range []*containertest.Container{has, lacks} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if code := c.Wait(t, 10*time.Second); code == 0 {
			t.Errorf("container %s: read allowed: %q", c.ID[:12], c.Output())
		}
		waitOutput(t, c, "Operation not permitted")
	}
}

// A write rule on a directory in a real container: an existing file under
// it opened for writing (append, and a file bind-mounted there from the
// host as Docker mounts /etc/hosts) fails with EPERM, while reading it
// works. The fanotify event's descriptor is the gate's own read-only open,
// so the access is taken from the open the thread is blocked in; and the
// bind mount is another mount than the container's root, marked as well.
func TestFileWriteRuleInContainer(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().Fanotify)
	env := containertest.New(t)
	e := newEnforcer(t, Options{})
	bound := filepath.Join(t.TempDir(), "bound")
	os.WriteFile(bound, []byte("127.0.0.1 localhost\n"), 0o600)
	script := `cat /etc/passwd >/dev/null && echo passwd-read
cat /etc/bound >/dev/null && echo bound-read
echo x >> /etc/group || echo group-denied
echo x >> /etc/bound || echo bound-denied
echo done`
	c := env.Run(t, containertest.Spec{Args: []string{"/bin/sh", "-c", script}, HostNetwork: true, NoStart: true,
		Mounts: []specs.Mount{{Destination: "/etc/bound", Source: bound, Type: "bind", Options: []string{"rbind", "rw"}}}})
	target := Target{Container: &event.Container{ID: c.ID[:12], FullID: c.ID, Type: "containerd", Name: "victim", MetadataKnown: true},
		CgroupPath: c.CgroupPath, RootPID: int(c.PID)}
	ps, err := policy.Parse("w.yaml", []byte(`name: etc-writes
scope: {containers: {names: [victim]}}
file:
  rules: [{name: etc-writes, action: block, access: write, dirs: [/etc]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{target}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 10*time.Second)
	out := c.Output()
	for _, w := range []string{"passwd-read", "bound-read", "group-denied", "bound-denied", "done"} {
		if !strings.Contains(out, w) {
			t.Errorf("container output %q lacks %q", out, w)
		}
	}
	if b, _ := os.ReadFile(bound); string(b) != "127.0.0.1 localhost\n" {
		t.Errorf("bind-mounted /etc/bound written: %q", b)
	}
	seen := map[string]Decision{}
	deadline := time.After(5 * time.Second)
	for len(seen) < 2 {
		select {
		case d := <-e.Decisions():
			seen[d.Path] = d
		case <-deadline:
			t.Fatalf("decisions: %+v", seen)
		}
	}
	for _, p := range []string{"/etc/group", "/etc/bound"} {
		if d := seen[p]; !d.Enforced || d.Rule != "etc-writes" || d.Access != policy.AccessWrite || d.Comm != "sh" {
			t.Errorf("decision for %s: %+v", p, d)
		}
	}
}
