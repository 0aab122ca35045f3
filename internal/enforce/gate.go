package enforce

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The fanotify gate runs in a child process of the agent: the same
// executable, started with gateEnv set, which this package's init turns
// into the gate (the re-exec pattern). The agent writes the gate's
// configuration as one JSON line on its stdin, then "stats" requests; the
// gate answers with JSON lines on stdout: ready or error, decisions, stats.
//
// Why a process: the Go runtime forks with CLONE_VFORK, holding a P; if the
// child's exec is a permission event and the garbage collector stops the
// world at that moment, the goroutine that must answer never runs. The gate
// process never forks. It dies with the agent (PR_SET_PDEATHSIG and EOF on
// stdin), and the kernel then allows everything its group held.
const gateEnv = "VIGIL_ENFORCE_FANOTIFY_GATE"

func init() {
	if os.Getenv(gateEnv) == "1" {
		os.Exit(gateMain(os.Stdin, os.Stdout))
	}
}

type gateOptions struct {
	DryRun        bool
	ReportAllowed bool
	Fallback      Fallback
	Timeout       time.Duration
}

type gateConfig struct {
	Table    *fileTable
	Rules    []RuleRef
	Options  gateOptions
	AgentPID int32
}

type gateMsg struct {
	Ready    bool       `json:",omitempty"`
	FD       int        `json:",omitempty"` // with Ready: the group's fd in the gate (for the watchdog)
	Unmarked []string   `json:",omitempty"` // with Ready: mark paths that do not exist
	Busy     int64      `json:",omitempty"` // with Stats: unix ns since the batch being answered started; 0 idle
	Error    string     `json:",omitempty"`
	Decision *Decision  `json:",omitempty"`
	KillErr  string     `json:",omitempty"`
	Stats    *FileStats `json:",omitempty"`
}

// gateMain is the gate process.
func gateMain(in io.Reader, out io.Writer) int {
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m gateMsg) {
		mu.Lock()
		enc.Encode(m)
		mu.Unlock()
	}
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil {
		send(gateMsg{Error: "read config: " + err.Error()})
		return 1
	}
	var cfg gateConfig
	if err := json.Unmarshal(line, &cfg); err != nil || cfg.Table == nil {
		send(gateMsg{Error: fmt.Sprintf("decode config: %v", err)})
		return 1
	}
	g, err := newGateServer(&cfg, func(d Decision) {
		m := gateMsg{Decision: &d}
		if d.KillErr != nil {
			m.KillErr = d.KillErr.Error()
		}
		send(m)
	})
	if err != nil {
		send(gateMsg{Error: err.Error()})
		return 1
	}
	go g.run()
	send(gateMsg{Ready: true, FD: g.fd, Unmarked: g.unmarked})
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return 0 // the agent closed stdin or died: exit, the kernel allows
		}
		if string(line) == "stats\n" {
			st := g.stats.snapshot()
			send(gateMsg{Stats: &st, Busy: g.busy.Load()})
		}
	}
}

// fileGate is the agent's handle on a gate process.
type fileGate struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	done    chan struct{} // the decoder ended (the gate's stdout closed)
	exited  chan struct{} // the process was reaped (exitErr set)
	exitErr error
	closing atomic.Bool // close was called: the exit is expected
	stats   chan gateMsg
	mu      sync.Mutex // serializes stats requests
	pid     int
	groupFD int // the fanotify group's fd number in the gate
	// unmarked are the mark paths that did not exist when the gate
	// started (see gateServer.unmarked).
	unmarked []string
	ft       *fileTable
	rules    []RuleRef
	// killReason is set by the watchdog before it kills a frozen gate.
	killReason atomic.Pointer[string]
}

func newFileGate(e *Enforcer, ft *fileTable, rules []RuleRef) (*fileGate, error) {
	cfg, err := json.Marshal(gateConfig{Table: ft, Rules: rules, AgentPID: int32(os.Getpid()), Options: gateOptions{
		DryRun: e.opts.DryRun, ReportAllowed: e.opts.ReportAllowed, Fallback: e.opts.FileFallback, Timeout: e.opts.FileTimeout}})
	if err != nil {
		return nil, fmt.Errorf("encode gate config: %w", err)
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"vigil-fanotify-gate"}
	cmd.Env = append(os.Environ(), gateEnv+"=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("gate stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("gate stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fanotify gate: %w", err)
	}
	g := &fileGate{cmd: cmd, stdin: stdin, done: make(chan struct{}), exited: make(chan struct{}),
		stats: make(chan gateMsg, 1), pid: cmd.Process.Pid, ft: ft, rules: rules}
	abort := func(err error) (*fileGate, error) {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("fanotify gate: %w", err)
	}
	if _, err := stdin.Write(append(cfg, '\n')); err != nil {
		return abort(err)
	}
	dec := json.NewDecoder(bufio.NewReader(stdout))
	var first gateMsg
	if err := dec.Decode(&first); err != nil {
		return abort(err)
	}
	if !first.Ready {
		return abort(errors.New(first.Error))
	}
	g.groupFD, g.unmarked = first.FD, first.Unmarked
	go func() {
		defer close(g.done)
		for {
			var m gateMsg
			if err := dec.Decode(&m); err != nil {
				return
			}
			switch {
			case m.Decision != nil:
				d := *m.Decision
				if m.KillErr != "" {
					d.KillErr = errors.New(m.KillErr)
				}
				e.emit(d)
			case m.Stats != nil:
				select {
				case g.stats <- m:
				default:
				}
			}
		}
	}()
	// The gate's end is noticed at once: an exit nobody asked for is a
	// gate down (see gatewatch.go).
	go func() {
		g.exitErr = cmd.Wait()
		close(g.exited)
		if !g.closing.Load() {
			reason := fmt.Sprintf("gate process exited: %v", g.exitErr)
			if r := g.killReason.Load(); r != nil {
				reason = *r + "; killed by the watchdog"
			}
			e.gateDied(g, reason)
		}
	}()
	go e.watchGate(g)
	return g, nil
}

// fileStats asks the gate for its counters.
func (g *fileGate) fileStats() (FileStats, error) {
	m, err := g.ping(2 * time.Second)
	if err != nil {
		return FileStats{}, err
	}
	return *m.Stats, nil
}

// ping asks the gate for its counters and how long its current batch has
// run, within wait.
func (g *fileGate) ping(wait time.Duration) (gateMsg, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.stats: // a late answer to an earlier request
	default:
	}
	if _, err := io.WriteString(g.stdin, "stats\n"); err != nil {
		return gateMsg{}, fmt.Errorf("gate stats: %w", err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case m := <-g.stats:
		return m, nil
	case <-g.exited:
		return gateMsg{}, errors.New("gate stats: the gate exited")
	case <-t.C:
		return gateMsg{}, fmt.Errorf("gate stats: no answer in %s", wait)
	}
}

// close ends the gate process; the kernel allows whatever its group held.
func (g *fileGate) close() {
	g.closing.Store(true)
	g.stdin.Close()
	g.cmd.Process.Kill()
	<-g.exited
	<-g.done
}
