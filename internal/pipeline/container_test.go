package pipeline

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/state"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// containerRules use Falco's container_started macro as its upstream
// rulesets write it, and rules on the container event alone.
const containerRules = `
- macro: spawned_process
  condition: (evt.type in (execve, execveat) and evt.dir=<)
- macro: container_started
  condition: ((evt.type = container or (spawned_process and proc.vpid=1)) and container.image.repository != incomplete)
- rule: Container event
  desc: every container event
  condition: evt.type = container
  output: container started (id=%container.id type=%container.type image=%container.image.repository privileged=%container.privileged mounts=%container.mounts proc=%proc.name vpid=%proc.vpid async=%evt.is_async asynctype=%evt.asynctype plugin=%evt.pluginname imageid=%container.image.id)
  priority: INFO
- rule: Container cgroups
  desc: thread.cgroups of a container's first process, read at its exec
  condition: evt.type = execve and container.id != host and proc.vpid = 1 and thread.cgroups exists
  output: cgroups (full=%container.full_id cpu=%thread.cgroup[cpu] memory=%thread.cgroup[memory] all=%thread.cgroups)
  priority: INFO
- rule: Privileged container started
  desc: the upstream rule's shape
  condition: container_started and container.id != host and container.privileged = true
  output: privileged container started (id=%container.id evt=%evt.type)
  priority: INFO
`

// TestContainerEvent: real containers started through containerd and
// Docker, watched by the real sensor through the pipeline with a process
// table and the container manager, each give exactly one container event
// (even when pid 1 execs again), carrying the container's fields, and the
// rules on it fire: a privileged start fires the privileged rule, an
// unprivileged one does not.
func TestContainerEvent(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	env := containertest.New(t)
	docker := containertest.StartDockerd(t)
	rs := rules.LoadAndCompile(nil, rules.File{Name: "container.yaml", Data: []byte(containerRules)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	tbl, err := state.New(state.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := container.New(container.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		alerts = map[string][]string{} // container id -> "rule|output"
	)
	p := New(Options{Types: []event.Type{event.TypeExecve, event.TypeExecveat, event.TypeContainer}, Table: tbl, Containers: mgr,
		Engine: engine.New(rs, &engine.Options{Hostname: "h"}),
		OnAlert: func(ev *event.Event, m *engine.Match, al *alert.Alert) {
			mu.Lock()
			alerts[ev.Container.ID] = append(alerts[ev.Container.ID], m.Rule.Name+"|"+m.Output)
			mu.Unlock()
		}})
	s, err := sensor.New(p.SensorOptions(sensor.Options{ExcludeSelf: true}))
	testkernel.SkipIfErr(t, err)
	defer s.Close()
	if err := tbl.Seed(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mgr.Run(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, s) }()

	priv := env.Run(t, containertest.Spec{Privileged: true, Args: []string{"sh", "-c", "exec sleep 2"}})
	plain := env.Run(t, containertest.Spec{Args: []string{"sleep", "2"}})
	// Docker here refuses privileged containers (runc cannot apply every
	// capability in this VM): an unprivileged one with a bind mount.
	dplain := docker.Run(t, containertest.DockerSpec{Args: []string{"sleep", "2"}, Binds: []string{"/etc:/host-etc:ro"}})
	want := map[string]bool{priv.ID[:12]: true, plain.ID[:12]: false, dplain.ID[:12]: false} // id -> privileged
	count := func(id, rule string) (n int, out string) {
		for _, a := range alerts[id] {
			if strings.HasPrefix(a, rule+"|") {
				n++
				out = a
			}
		}
		return
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		all := true
		for id := range want {
			if n, _ := count(id, "Container event"); n == 0 {
				all = false
			}
		}
		mu.Unlock()
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second container event would come now
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, privileged := range want {
		n, out := count(id, "Container event")
		if n != 1 {
			t.Errorf("container %s: %d container events, want 1 (alerts %v)", id, n, alerts[id])
			continue
		}
		for _, w := range []string{"id=" + id, "image=docker.io/vigiltest/busybox", "vpid=1", "async=true asynctype=container plugin=container", "privileged=" + map[bool]string{true: "true", false: "false"}[privileged]} {
			if !strings.Contains(out, w) && !(strings.HasPrefix(w, "image=") && strings.Contains(out, "image=vigiltest/busybox")) {
				t.Errorf("container %s: %q lacks %q", id, out, w)
			}
		}
		p, _ := count(id, "Privileged container started")
		if privileged && p == 0 {
			t.Errorf("container %s: privileged start did not fire the privileged rule: %v", id, alerts[id])
		}
		if !privileged && p != 0 {
			t.Errorf("container %s: unprivileged start fired the privileged rule: %v", id, alerts[id])
		}
	}
	// Every controller's path of the container's process names the
	// container (the runtime made them for it before the exec).
	for id := range want {
		n, out := count(id, "Container cgroups")
		t.Logf("%s", out)
		m := regexp.MustCompile(`full=([0-9a-f]{64}) cpu=(\S+) memory=(\S+) all=`).FindStringSubmatch(out)
		if n == 0 || m == nil {
			t.Errorf("container %s: no thread.cgroups alert with cpu and memory paths: %q", id, out)
			continue
		}
		for _, p := range m[2:] {
			if !strings.Contains(p, m[1]) {
				t.Errorf("container %s: cgroup path %q does not name the container %s", id, p, m[1])
			}
		}
	}
	if _, out := count(dplain.ID[:12], "Container event"); !regexp.MustCompile(`imageid=[0-9a-f]{64}\)`).MatchString(out) {
		t.Errorf("docker container event: %q, want the image id", out)
	}
	if _, out := count(dplain.ID[:12], "Container event"); !strings.Contains(out, "type=docker") || !strings.Contains(out, "/etc:/host-etc") {
		t.Errorf("docker container event: %q, want type=docker and the /etc:/host-etc mount", out)
	}
	if _, out := count(priv.ID[:12], "Container event"); !strings.Contains(out, "type=containerd") {
		t.Errorf("containerd container event: %q, want type=containerd", out)
	}
}
