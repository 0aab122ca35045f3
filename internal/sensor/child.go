package sensor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// envChild marks a re-executed copy of the current binary that must wait on
// fd 3 and then exec its arguments (see StartHeld and ExecIfHeld).
const envChild = "VIGIL_SENSOR_HELD_CHILD"

// ExecIfHeld must be called first thing in main (or TestMain, or an init
// function) of a program that uses StartHeld. In a held child it waits for
// the release, then replaces itself with the target program and never
// returns; otherwise it returns at once.
func ExecIfHeld() {
	if os.Getenv(envChild) != "1" {
		return
	}
	var b [1]byte
	n, _ := unix.Read(3, b[:])
	if n != 1 {
		os.Exit(125) // the tracer went away without releasing us
	}
	unix.CloseOnExec(3)
	os.Unsetenv(envChild)
	if len(os.Args) < 2 {
		os.Exit(125)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "vigil: %v\n", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "vigil: exec %s: %v\n", path, err)
	os.Exit(126)
}

// Held is a child process started by StartHeld: it exists (its pid can be
// put in a filter) but has not executed its program yet.
type Held struct {
	Cmd     *exec.Cmd
	release *os.File
}

// StartHeld starts argv[0] with argv[1:] through a re-executed copy of the
// current binary (/proc/self/exe) that waits until Release. The current
// binary must call ExecIfHeld at start-up. cmd's Stdin, Stdout, Stderr, Env
// and Dir are taken from tmpl when it is not nil.
func StartHeld(argv []string, tmpl *exec.Cmd) (*Held, error) {
	if len(argv) == 0 {
		return nil, errors.New("sensor: start held: empty command")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sensor: start held: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/proc/self/exe", argv...)
	cmd.Args[0] = argv[0]
	if tmpl != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Dir = tmpl.Stdin, tmpl.Stdout, tmpl.Stderr, tmpl.Dir
		cmd.Env = tmpl.Env
		cmd.SysProcAttr = tmpl.SysProcAttr
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, envChild+"=1")
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sensor: start held %s: %w", argv[0], err)
	}
	return &Held{Cmd: cmd, release: w}, nil
}

// Pid returns the child's pid.
func (h *Held) Pid() uint32 { return uint32(h.Cmd.Process.Pid) }

// Release lets the child execute its program.
func (h *Held) Release() error {
	defer h.release.Close()
	if _, err := h.release.Write([]byte{1}); err != nil {
		return fmt.Errorf("sensor: release child: %w", err)
	}
	return nil
}

// Abort kills a child that will not be released and reaps it.
func (h *Held) Abort() {
	h.release.Close()
	_ = h.Cmd.Process.Kill()
	_ = h.Cmd.Wait()
}
