package output

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// ProgramOptions configures a Program output.
type ProgramOptions struct {
	// Command is run with /bin/sh -c.
	Command string
	Format  Format
	// Stderr receives the command's standard error; nil discards it.
	Stderr io.Writer
}

// Program pipes alerts, one per line, to the standard input of a
// long-running command. If the command exits it is started again on the
// next alert (at most once a second).
type Program struct {
	opts      ProgramOptions
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	exited    chan struct{}
	lastStart time.Time
	buf       []byte
}

// NewProgram returns a program output; the command starts on first use.
func NewProgram(opts ProgramOptions) *Program { return &Program{opts: opts} }

// Name implements Output.
func (p *Program) Name() string { return "program" }

func (p *Program) start() error {
	if wait := time.Second - time.Since(p.lastStart); wait > 0 {
		return fmt.Errorf("program output: %q exited, restarting in %v", p.opts.Command, wait.Round(time.Millisecond))
	}
	p.lastStart = time.Now()
	cmd := exec.Command("/bin/sh", "-c", p.opts.Command)
	cmd.Stdout = p.opts.Stderr
	cmd.Stderr = p.opts.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("program output: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("program output: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.cmd, p.stdin, p.exited = cmd, stdin, exited
	return nil
}

// Write implements Output.
func (p *Program) Write(_ context.Context, a *alert.Alert) error {
	if p.cmd != nil {
		select {
		case <-p.exited:
			p.stdin.Close()
			p.cmd = nil
		default:
		}
	}
	if p.cmd == nil {
		if err := p.start(); err != nil {
			return err
		}
	}
	p.buf = appendAlert(p.buf[:0], a, p.opts.Format)
	if _, err := p.stdin.Write(p.buf); err != nil {
		p.stdin.Close()
		p.cmd = nil
		return fmt.Errorf("program output: %w", err)
	}
	return nil
}

// Close closes the command's standard input and waits up to 5s for it to
// exit, then kills its process group.
func (p *Program) Close() error {
	if p.cmd == nil {
		return nil
	}
	p.stdin.Close()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	var err error
	if st := p.cmd.ProcessState; st != nil && !st.Success() {
		err = fmt.Errorf("program output: %q: %s", p.opts.Command, st)
	}
	p.cmd = nil
	return err
}
