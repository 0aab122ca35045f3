package agent

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/guard"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/queue"
)

// RulePrevention is the rule name of prevention alerts.
const RulePrevention = "Vigil prevention"

// loadPolicies parses the configured policies (nil when none).
func loadPolicies(paths []string) ([]*policy.Policy, error) {
	files, err := yamlFiles("policy", paths)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	ps, err := policy.ParseFiles(files...)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return ps, nil
}

// targets returns the host and the running containers, each with a
// process of it (for its root filesystem) when the process table knows one.
func (a *Agent) targets() ([]enforce.Target, []string) {
	ts := []enforce.Target{enforce.HostTarget()}
	if a.containers == nil {
		return ts, nil
	}
	cs := a.containers.Containers()
	// The container's oldest live process: a short-lived one (a loop's
	// cat) may be gone when its /proc/PID/root is opened for the marks.
	pids := map[string]int{}
	oldest := map[string]int64{}
	if a.table != nil {
		for _, p := range a.table.Processes() {
			c := a.containers.Resolve(p.CgroupID, p.PID)
			if c == nil || c.ID == "host" {
				continue
			}
			if t, ok := oldest[c.ID]; ok && (t < p.StartTime || (t == p.StartTime && pids[c.ID] < int(p.PID))) {
				continue
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(int(p.PID))); err != nil {
				continue
			}
			pids[c.ID], oldest[c.ID] = int(p.PID), p.StartTime
		}
	}
	var ids []string
	for _, c := range cs {
		if c.ID == "" || c.ID == "host" || c.CgroupPath == "" {
			continue
		}
		ts = append(ts, enforce.Target{Container: c, CgroupPath: c.CgroupPath, RootPID: pids[c.ID]})
		ids = append(ids, fmt.Sprintf("%s:%d", c.ID, pids[c.ID]))
	}
	sort.Strings(ids)
	return ts, ids
}

// runPrevention applies the policies to the host and the containers, keeps
// the targets up to date, and turns decisions into alerts until ctx ends.
func (a *Agent) runPrevention(ctx context.Context, e *enforce.Enforcer) error {
	ts, ids := a.targets()
	if err := e.Apply(a.currentPolicies(), ts); err != nil {
		return fmt.Errorf("prevention: apply: %w", err)
	}
	a.log.Info("prevention on", "policies", len(a.currentPolicies()), "targets", len(ts), "dry_run", a.cfg.DryRun)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	// Decisions the kernel dropped (its ring full) are reported like any
	// queue's drops, read every second.
	kernelDrops := queue.NewDrops(queue.Options{Name: "prevention_ring", Item: "prevention decisions (kernel ring buffer full)",
		Overflow: a.overflow})
	var seen uint64
	dropTick := time.NewTicker(time.Second)
	defer dropTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-e.Decisions():
			if !ok {
				return nil
			}
			a.deliverDecisionGuarded(&d)
		case <-a.pol.changed():
			nts, nids := a.targets()
			if err := e.Apply(a.currentPolicies(), nts); err != nil {
				a.log.Error("prevention: apply reloaded policies", "err", err)
				continue
			}
			ids = nids
		case <-dropTick.C:
			if n, err := e.RingbufDropped(); err == nil && n > seen {
				kernelDrops.Add(n - seen)
				seen = n
			}
		case <-tick.C:
			nts, nids := a.targets()
			if slices.Equal(nids, ids) {
				continue
			}
			if err := e.Apply(a.currentPolicies(), nts); err != nil {
				a.log.Error("prevention: apply to new targets; previous policy stays", "err", err)
				continue
			}
			ids = nids
		}
	}
}

func (a *Agent) deliverDecision(d *enforce.Decision) {
	action := d.Action.String()
	pri := alert.PriorityCritical
	if !d.Enforced {
		pri = alert.PriorityWarning
		switch {
		case d.DryRun:
			action = "dry-run: " + action
		case d.Action != policy.ActionAudit:
			action = "audit: " + action
		}
	}
	target := d.Path
	if d.Addr.IsValid() {
		target = d.Addr.String()
	}
	al := &alert.Alert{UUID: alert.NewUUID(), Time: d.Time, Rule: RulePrevention, Priority: pri,
		Source: alert.SourceSyscall, Hostname: a.hostname,
		Output: fmt.Sprintf("Prevention %s %s (policy=%s rule=%s proc=%s pid=%d target=%s mechanism=%s)",
			action, d.Kind, d.Policy, d.Rule, d.Comm, d.PID, target, d.Mechanism),
		OutputFields: []alert.Field{{Name: "policy.name", Value: d.Policy}, {Name: "policy.rule", Value: d.Rule},
			{Name: "evt.type", Value: d.Kind.String()}, {Name: "proc.name", Value: d.Comm},
			{Name: "proc.pid", Value: int64(d.PID)}, {Name: "target", Value: target},
			{Name: "enforced", Value: d.Enforced}},
		Tags:  []string{"vigil", "prevention"},
		Vigil: alert.Context{Count: 1, Action: action, Process: []alert.Process{{PID: d.PID, Comm: d.Comm}}},
	}
	if a.containers != nil {
		if c := a.containers.Resolve(d.CgroupID, d.PID); c != nil && c.ID != "" && c.ID != "host" {
			al.Vigil.Container = &alert.Container{ID: c.ID, Name: c.Name, Image: c.Image,
				PodNamespace: c.PodNamespace, PodName: c.PodName}
		}
	}
	if d.KillErr != nil {
		al.OutputFields = append(al.OutputFields, alert.Field{Name: "kill_error", Value: d.KillErr.Error()})
	}
	a.deliver(al)
}

// deliverDecisionGuarded turns a decision into its alert; a panic is
// recovered and reported, the next decision is handled as usual.
func (a *Agent) deliverDecisionGuarded(d *enforce.Decision) {
	defer a.guard.Recover(guard.StagePrevention, "prevention decision")
	a.deliverDecision(d)
}
