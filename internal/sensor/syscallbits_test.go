package sensor

import (
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestSyscallSets: a held child in a new cgroup v2 directory runs
// `unshare -U true`; the cgroup's set has unshare, execve and exit_group,
// and no syscall the child never made (reboot); the cgroup has no set
// before its first syscall.
func TestSyscallSets(t *testing.T) {
	testkernel.RequireRoot(t)
	unshare, err := exec.LookPath("unshare")
	testkernel.SkipIfErr(t, err)
	root, err := host.Cgroup2Root()
	testkernel.SkipIfErr(t, err)
	dir := filepath.Join(root, fmt.Sprintf("vigil-sysbits-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		testkernel.SkipIfErr(t, err)
	}
	defer os.Remove(dir)
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	h, err := StartHeld([]string{unshare, "-U", "true"}, &exec.Cmd{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(h.Pid())), 0o644); err != nil {
		h.Abort()
		t.Fatal(err)
	}
	s, err := New(&Options{Types: []event.Type{event.TypeExecve}, SyscallSets: true})
	if err != nil {
		h.Abort()
		testkernel.SkipIfErr(t, err)
	}
	defer s.Close()
	if _, ok := s.Syscalls(st.Ino); ok {
		t.Fatal("a cgroup without syscalls has a set")
	}
	h.Release()
	if err := h.Cmd.Wait(); err != nil {
		t.Fatalf("unshare -U true: %v", err)
	}
	set, ok := s.Syscalls(st.Ino)
	if !ok {
		t.Fatal("the cgroup has no set")
	}
	names := set.Names()
	for _, want := range []string{"unshare", "execve", "exit_group"} {
		if !slices.Contains(names, want) {
			t.Errorf("set lacks %s: %v", want, names)
		}
	}
	if slices.Contains(names, "reboot") {
		t.Errorf("set has reboot: %v", names)
	}
	t.Logf("%d syscalls: %v", len(names), names)
}
