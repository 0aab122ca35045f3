package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/rules"
)

// Response actions (`actions:` on rules): the event goroutine queues a job
// (never blocking: a full queue drops the job and says so in the alert),
// a worker performs the actions, then delivers the alert with their
// results in vigil.action and the vigil.action.* output fields.

// responseQueueSize bounds the jobs waiting for the response worker.
const responseQueueSize = 256

// Results of a response action, as in vigil.action.result and the
// vigil_response_actions_total{result} label.
const (
	ResultKilled  = "killed"
	ResultPaused  = "paused"
	ResultDryRun  = "dry-run"
	ResultRefused = "refused"
	ResultDropped = "dropped"
	ResultFailed  = "failed"
)

// freezeTimeout bounds how long a pause waits for the cgroup to report
// frozen.
const freezeTimeout = 5 * time.Second

// responseJob is one matched rule's actions and its alert.
type responseJob struct {
	al      *alert.Alert
	actions []rules.Action
	pid     int
	cgroup  string // container cgroup path; "" for host processes
}

// responder performs response actions for the agent.
type responder struct {
	jobs   *queue.Queue[responseJob]
	dryRun bool
	self   int
	// Act functions (enforce's by default; tests may replace them).
	kill   func(pid int) error
	killCG func(cgroup string) error
	freeze func(cgroup string, timeout time.Duration) error

	vec     *metrics.CounterVec
	mu      sync.Mutex
	counter map[[2]string]*metrics.Counter
}

func newResponder(reg *metrics.Registry, dryRun bool, ov *queue.Overflow) *responder {
	r := &responder{jobs: queue.New[responseJob](queue.Options{Name: "responses", Item: "response jobs", Size: responseQueueSize, Overflow: ov}),
		dryRun: dryRun, self: os.Getpid(),
		kill: enforce.KillPID, killCG: enforce.KillCgroup, freeze: enforce.Freeze,
		vec:     reg.CounterVec("vigil_response_actions_total", "Response actions of rules (actions:), by action and result (killed, paused, dry-run, refused, dropped, failed).", "action", "result"),
		counter: map[[2]string]*metrics.Counter{}}
	return r
}

func (r *responder) count(action rules.Action, result string) {
	k := [2]string{string(action), result}
	r.mu.Lock()
	c, ok := r.counter[k]
	if !ok {
		c = r.vec.With(k[0], k[1])
		r.counter[k] = c
	}
	r.mu.Unlock()
	c.Inc()
}

// respond is called on the event goroutine for a match of a rule with
// actions: it queues the job, or on a full queue delivers the alert at
// once with the actions marked dropped. It never blocks.
func (a *Agent) respond(ev *event.Event, acts []rules.Action, al *alert.Alert) {
	j := responseJob{al: al, actions: acts, pid: int(ev.PID)}
	if ct := ev.Container; ct != nil && ct.ID != "" && ct.ID != "host" && ct.CgroupPath != "/" {
		j.cgroup = ct.CgroupPath
	}
	if !a.resp.jobs.Push(j) {
		for _, act := range acts {
			a.resp.count(act, ResultDropped)
			addAction(al, act, j.target(act), ResultDropped+": response queue full")
		}
		a.deliver(al)
	}
}

// runResponse performs queued actions until ctx ends, then the jobs
// already queued (their alerts are delivered either way).
func (a *Agent) runResponse(ctx context.Context) {
	for {
		select {
		case j := <-a.resp.jobs.C():
			a.perform(&j)
		case <-ctx.Done():
			for {
				select {
				case j := <-a.resp.jobs.C():
					a.perform(&j)
				default:
					return
				}
			}
		}
	}
}

// startResponse starts the response worker; the returned function stops
// it after the queued jobs are done.
func (a *Agent) startResponse() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.runResponse(ctx)
	}()
	return func() { cancel(); <-done }
}

func (j *responseJob) target(act rules.Action) string {
	if act.ContainerOnly() {
		return j.cgroup
	}
	return fmt.Sprint(j.pid)
}

// perform runs a job's actions in order, records them on the alert and
// delivers it.
func (a *Agent) perform(j *responseJob) {
	defer func() {
		if r := recover(); r != nil { // the alert is delivered all the same
			a.guard.Report(guard.StageResponse, "response to "+j.al.Rule, r)
			a.deliver(j.al)
		}
	}()
	r := a.resp
	for _, act := range j.actions {
		res := r.do(j, act)
		kind, _, _ := strings.Cut(res, ":")
		r.count(act, kind)
		addAction(j.al, act, j.target(act), res)
		if res != ResultDryRun && kind != ResultFailed && kind != ResultRefused {
			a.log.Info("response action", "rule", j.al.Rule, "action", act, "target", j.target(act), "result", res)
		} else if kind == ResultFailed {
			a.log.Warn("response action failed", "rule", j.al.Rule, "action", act, "target", j.target(act), "result", res)
		}
	}
	a.deliver(j.al)
}

// do performs one action and returns its result: killed, paused, dry-run,
// "refused: why" or "failed: error".
func (r *responder) do(j *responseJob, act rules.Action) string {
	if act.ContainerOnly() {
		if j.cgroup == "" {
			return ResultRefused + ": not a container process"
		}
	} else if j.pid <= 1 || j.pid == r.self {
		return fmt.Sprintf("%s: protected pid %d", ResultRefused, j.pid)
	}
	if r.dryRun {
		return ResultDryRun
	}
	var err error
	res := ResultKilled
	switch act {
	case rules.ActionKill:
		err = r.kill(j.pid)
	case rules.ActionKillContainer:
		err = r.killCG(j.cgroup)
	case rules.ActionPause:
		err = r.freeze(j.cgroup, freezeTimeout)
		res = ResultPaused
	default:
		return fmt.Sprintf("%s: unknown action %q", ResultFailed, act)
	}
	if err != nil {
		return ResultFailed + ": " + err.Error()
	}
	return res
}

// addAction records an action's result on the alert: vigil.action (a
// summary, "kill pid=123: killed; pause cgroup=/x: dry-run") and the
// output field vigil.action.<action> = result.
func addAction(al *alert.Alert, act rules.Action, target, result string) {
	key := "pid"
	if act.ContainerOnly() {
		key = "cgroup"
	}
	s := string(act) + " " + key + "=" + target + ": " + result
	if al.Vigil.Action != "" {
		s = al.Vigil.Action + "; " + s
	}
	al.Vigil.Action = s
	al.OutputFields = append(al.OutputFields, alert.Field{Name: "vigil.action." + string(act), Value: result})
}
