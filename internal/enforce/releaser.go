package enforce

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The releaser is a child process of the agent (the same executable,
// started with releaserEnv set) that holds a descriptor of the held map and
// waits on a pipe from the agent. When the agent dies, however it dies, the
// kernel closes the pipe: the releaser sends SIGCONT to every task still
// held at exec, so no container stays stopped behind a dead agent. It is in
// its own process group, so a signal to the agent's group spares it.
const releaserEnv = "VIGIL_ENFORCE_HELD_RELEASER"

func init() {
	if os.Getenv(releaserEnv) == "1" {
		os.Exit(releaserMain())
	}
}

// releaserMain: fd 3 is the held map, stdin the agent's pipe.
func releaserMain() int {
	io.Copy(io.Discard, os.Stdin) // returns when the agent is gone
	m, err := ebpf.NewMapFromFD(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil releaser: held map:", err)
		return 1
	}
	resumeHeld(m)
	return 0
}

type releaser struct {
	cmd  *exec.Cmd
	pipe io.WriteCloser
}

func startReleaser(held *ebpf.Map) (*releaser, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("releaser: %w", err)
	}
	fd, err := unix.FcntlInt(uintptr(held.FD()), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("releaser: dup held map: %w", err)
	}
	f := os.NewFile(uintptr(fd), "held")
	defer f.Close() // the child has its copy
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), releaserEnv+"=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("releaser: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start releaser: %w", err)
	}
	return &releaser{cmd: cmd, pipe: w}, nil
}

// stop ends the releaser (it resumes what is still held, nothing after a
// clean close) and waits for it.
func (r *releaser) stop() {
	r.pipe.Close()
	r.cmd.Wait()
}
