package sensor

import (
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testkernel"
)

func TestProbe(t *testing.T) {
	testkernel.RequireRoot(t)
	fs := Probe()
	byName := map[string]Feature{}
	for _, f := range fs {
		byName[f.Name] = f
		if !f.OK && f.Consequence == "" {
			t.Errorf("%s failed without a consequence", f.Name)
		}
	}
	for _, name := range []string{"kernel", "root", "btf", "tracefs", "ringbuf", "bpf_task_pt_regs", "tracepoint syscalls:sys_exit_openat", "tracepoint sched:sched_process_exec"} {
		f, ok := byName[name]
		if !ok || !f.OK {
			t.Errorf("%s: %+v", name, f)
		}
	}
	// Every tracepoint the sensor attaches is probed, and the probe agrees
	// with what New attaches.
	s, err := New(&Options{ExcludeSelf: true})
	testkernel.SkipIfErr(t, err)
	defer s.Close()
	for _, h := range s.Hooks() {
		name := "tracepoint " + strings.Replace(h, "raw_tracepoint/", "raw:", 1)
		if f, ok := byName[name]; !ok || !f.OK {
			t.Errorf("attached %s but probe says %+v", h, f)
		}
	}
	for _, m := range s.Missing() {
		if !strings.Contains(m, "raw_syscalls") {
			name, _, _ := strings.Cut(m, ": ")
			if f := byName["tracepoint "+name]; f.OK {
				t.Errorf("missing %s but probe says ok", m)
			}
		}
	}
}
