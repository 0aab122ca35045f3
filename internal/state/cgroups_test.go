package state

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// TestParseCgroups: /proc/PID/cgroup read as Falco's scap_proc_fill_cgroups
// does on v1 (hybrid) and v2 hosts.
func TestParseCgroups(t *testing.T) {
	const file = "12:name=systemd:/system.slice/x\n4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n2::/skipped\n0::/unified/path\n"
	cg := func(kv ...string) (r []event.Cgroup) {
		for i := 0; i < len(kv); i += 2 {
			r = append(r, event.Cgroup{Subsys: kv[i], Path: kv[i+1]})
		}
		return r
	}
	if got, want := parseCgroups(file, 1), cg("name=systemd", "/system.slice/x", "cpu", "/docker/abc", "cpuacct", "/docker/abc", "memory", "/docker/abc"); !reflect.DeepEqual(got, want) {
		t.Errorf("v1: %v, want %v", got, want)
	}
	if got, want := parseCgroups("0::/kubepods/pod1/c1\n", 2), cg("cpu", "/kubepods/pod1/c1", "memory", "/kubepods/pod1/c1", "cpuset", "/kubepods/pod1/c1"); !reflect.DeepEqual(got, want) {
		t.Errorf("v2: %v, want %v", got, want)
	}
}

// TestCgroupsAtForkAndExec: a child has its parent's cgroups from its fork;
// its exec reads /proc/PID/cgroup (moved into a container's cgroups), and
// keeps the fork's when the process is already gone.
func TestCgroupsAtForkAndExec(t *testing.T) {
	tb := newSynthetic(t, Config{})
	tb.cgroupVersion = 1
	write := func(pid, content string) {
		if err := os.MkdirAll(filepath.Join(tb.cfg.ProcRoot, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tb.cfg.ProcRoot, pid, "cgroup"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("100", "3:memory:/host\n")
	apply(t, tb, execEv(100, 1, "runc", "/usr/bin/runc", "/"))
	apply(t, tb, forkEv(100, 1, 200))
	apply(t, tb, forkEv(100, 1, 300))
	if p, _ := tb.Lookup(200); len(p.Cgroups) != 1 || p.Cgroups[0].Path != "/host" {
		t.Fatalf("forked child: %v, want the parent's", p.Cgroups)
	}
	write("200", "3:memory:/ctr/abc\n")
	e := apply(t, tb, execEv(200, 100, "sh", "/bin/sh", "/"))
	if len(e.Proc.Cgroups) != 1 || e.Proc.Cgroups[0] != (event.Cgroup{Subsys: "memory", Path: "/ctr/abc"}) {
		t.Fatalf("exec in a container: %v", e.Proc.Cgroups)
	}
	// 300 has no /proc entry (it exited before its exec was applied).
	e = apply(t, tb, execEv(300, 100, "true", "/bin/true", "/"))
	if len(e.Proc.Cgroups) != 1 || e.Proc.Cgroups[0].Path != "/host" {
		t.Fatalf("exec of a gone process: %v, want the fork's", e.Proc.Cgroups)
	}
}
