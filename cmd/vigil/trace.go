package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/state"
)

// A held child of `vigil trace -- CMD` is this binary re-executed: it waits
// until the sensor is attached, then executes CMD.
func init() { sensor.ExecIfHeld() }

type traceOpts struct {
	json     bool
	types    string
	ringSize int
	pid      uint32
	cgroup   uint64
	noEnrich bool
	rawFall  bool
	cpuProf  string
	sockets  []string
}

func newTraceCmd() *cobra.Command {
	var o traceOpts
	cmd := &cobra.Command{
		Use:   "trace [flags] [-- CMD ARGS...]",
		Short: "Stream kernel events as JSON lines or text",
		Long: `Stream the sensor's events to stdout, as capture-format JSON lines (--json, see docs/events.md)
or readable text. With -- CMD, vigil starts CMD, traces only its process tree (from its first exec on),
and exits when CMD does, with CMD's exit status. Counts of events seen and lost go to stderr at the end.`,
		Example: `  sudo vigil trace --json -- sh -c 'cat /etc/hostname'
  sudo vigil trace --types network,execve
  sudo vigil trace --types file --pid 1234 --json > capture.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error { return runTrace(cmd, &o, args) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "write capture-format JSON lines (readable by vigil replay)")
	f.StringVar(&o.types, "types", "", "comma-separated event types and categories (process, file, network, security); default all")
	f.IntVar(&o.ringSize, "ring-size", sensor.DefaultRingBytes, "ring buffer size in bytes (rounded up to a power of two)")
	f.Uint32Var(&o.pid, "pid", 0, "trace only this process and its descendants")
	f.Uint64Var(&o.cgroup, "cgroup", 0, "trace only this cgroup v2 id")
	f.BoolVar(&o.noEnrich, "no-enrich", false, "do not attach process and fd context (proc, fd) to events")
	f.StringArrayVar(&o.sockets, "runtime-socket", nil, "container runtime socket to read metadata from, as `containers.sockets` (repeat; default: each runtime's usual socket)")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a Go CPU profile of the tracer to this file")
	_ = f.MarkHidden("cpuprofile")
	f.BoolVar(&o.rawFall, "raw-fallback", false, "take syscalls whose tracepoint is missing from raw_syscalls:sys_exit (runs on every syscall)")
	return cmd
}

func runTrace(cmd *cobra.Command, o *traceOpts, args []string) error {
	show, err := event.ParseTypes(o.types)
	if err != nil {
		return fmt.Errorf("trace: --types: %w", err)
	}
	// The pipeline without rules: process table and containers (unless
	// --no-enrich), then the printer (its Tap) for the types asked for.
	var tbl *state.Table
	if !o.noEnrich {
		if tbl, err = state.New(state.Config{}); err != nil {
			warn(cmd, fmt.Sprintf("vigil trace: no process context: %v", err))
			tbl = nil
		}
	}
	var containers *container.Manager
	if !o.noEnrich {
		// Container context (container.*, k8s.*): the runtimes that are
		// present are read; without any, events get the host container.
		var co container.Options
		if len(o.sockets) > 0 {
			co = container.SocketOptions(o.sockets)
		}
		co.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelError}))
		mgr, err := container.New(co)
		if err != nil {
			warn(cmd, fmt.Sprintf("vigil trace: no container context: %v", err))
		} else {
			containers = mgr
		}
	}
	var tap func(*event.Event)
	pipe := pipeline.New(pipeline.Options{Types: show.Types(), Table: tbl, Containers: containers,
		Tap: func(ev *event.Event) { tap(ev) }})
	opts := pipe.SensorOptions(sensor.Options{RingBytes: o.ringSize, FilterPIDTree: o.pid, FilterCgroup: o.cgroup,
		ExcludeSelf: true, RawFallback: o.rawFall})
	var held *sensor.Held
	if len(args) > 0 {
		if o.pid != 0 {
			return errors.New("trace: --pid and a command are exclusive")
		}
		if os.Geteuid() != 0 {
			return sensor.ErrNotRoot
		}
		held, err = sensor.StartHeld(args, &exec.Cmd{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
		if err != nil {
			return err
		}
		opts.FilterPIDTree = held.Pid()
	}
	s, err := sensor.New(opts)
	if err != nil {
		if held != nil {
			held.Abort()
		}
		return err
	}
	defer s.Close()
	for _, m := range s.Missing() {
		warn(cmd, fmt.Sprintf("vigil trace: not attached: %s", m))
	}

	if tbl != nil {
		if err := tbl.Seed(); err != nil {
			warn(cmd, fmt.Sprintf("vigil trace: seeding the process table: %v", err))
		}
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if containers != nil {
		go containers.Run(ctx)
	}
	childErr := make(chan error, 1)
	if held != nil {
		if err := held.Release(); err != nil {
			held.Abort()
			return err
		}
		go func() {
			childErr <- held.Cmd.Wait()
			cancel()
		}()
	}

	if o.cpuProf != "" {
		pf, err := safefile.Create(o.cpuProf, 0o600)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		defer pf.Commit() // after StopCPUProfile below
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	// Events are encoded straight into one large output buffer, written
	// when it passes outFlush (enriched lines are kilobytes: a second copy
	// through a bufio.Writer would be a sizeable share of the tracer's CPU),
	// and every flushEvery by a ticker, so a quiet trace still shows its
	// events promptly.
	w := cmd.OutOrStdout()
	out := make([]byte, 0, outBuf)
	var outMu sync.Mutex // guards out and werr
	var enc event.JSONEncoder
	var werr error
	flush := func() { // outMu held
		if len(out) > 0 && werr == nil {
			if _, err := w.Write(out); err != nil {
				werr = err
				cancel()
			}
		}
		out = out[:0]
	}
	tickDone := make(chan struct{})
	tickStop := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-tickStop:
				return
			case <-t.C:
				outMu.Lock()
				flush()
				outMu.Unlock()
			}
		}
	}()
	tap = func(ev *event.Event) {
		outMu.Lock()
		defer outMu.Unlock() // a panic (recovered by the pipeline) must not keep the lock
		mark := len(out)
		defer func() { // a recovered panic leaves no half-written line
			if r := recover(); r != nil {
				if mark <= len(out) {
					out = out[:mark]
				}
				panic(r)
			}
		}()
		if o.json {
			out = enc.Append(out, ev)
		} else {
			out = event.AppendText(out, ev)
		}
		if len(out) >= outFlush {
			flush()
		}
	}
	runErr := pipe.Run(ctx, s)
	close(tickStop)
	<-tickDone
	flush()
	st := s.Stats()
	note(cmd, fmt.Sprintf("vigil trace: %d events, %d lost%s", st.Received, st.Lost, dropSummary(&st)))
	if runErr != nil {
		return fmt.Errorf("trace: %w", runErr)
	}
	if werr != nil {
		return fmt.Errorf("trace: write: %w", werr)
	}
	if held != nil {
		var ee *exec.ExitError
		if err := <-childErr; errors.As(err, &ee) {
			return withExitCode(ee.ExitCode(), fmt.Errorf("trace: %s: %w", args[0], err))
		}
	}
	return nil
}

// The output buffer's capacity and the length past which it is written.
const (
	outBuf     = 512 << 10
	outFlush   = 256 << 10
	flushEvery = 200 * time.Millisecond
)

func dropSummary(st *sensor.Stats) string {
	var parts []string
	for r := sensor.Reason(0); r < sensor.NumReasons; r++ {
		if n := st.ByReason(r); n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", r, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}
