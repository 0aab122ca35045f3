package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
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

// gateState is the exec gate's side of the agent: the containers admitted
// at their first exec, kept among the targets until their cgroup is gone,
// and the lock that makes computing the targets and applying them one step
// (the gate and the ticker both apply).
type gateState struct {
	mu       sync.Mutex
	e        *enforce.Enforcer
	admitted map[string]enforce.Target // container id → target
}

// preventionOptions are the enforcer's options: the exec gate is on when
// configured and some policy selects containers.
func (a *Agent) preventionOptions() enforce.Options {
	o := enforce.Options{DryRun: a.cfg.DryRun, Overflow: a.overflow, OnGate: a.onGate}
	g := a.cfg.Policy.Gate
	containerScope := slices.ContainsFunc(a.policies, func(p *policy.Policy) bool { return !p.Scope.Host })
	if g.Enabled && containerScope {
		o.Gate = &enforce.GateOptions{Admit: a.admit, Timeout: g.Timeout, DenyCgroups: g.DenyCgroups}
		if g.Default == "deny" {
			o.Gate.Default = enforce.FallbackDeny
		}
	}
	return o
}

// admit classifies the cgroup of a task held at exec: its container is
// resolved (a runtime lookup the first time) and the policies are applied
// with it among the targets. A host cgroup (a service in its own mount
// namespace) needs nothing: the host binding covers it.
func (a *Agent) admit(ctx context.Context, h enforce.Hold) error {
	if a.containers == nil {
		return errors.New("no container context")
	}
	c := a.containers.Resolve(h.CgroupID, h.PID)
	if c != nil && !c.MetadataKnown && c.ID != "" && c.ID != "host" {
		// The runtime may not have answered yet (Docker describes a
		// container only once its start returns): ask again within the
		// gate's time rather than let the container go unclassified.
		c = a.containers.AwaitMetadata(ctx, c)
	}
	switch {
	case c == nil:
		return fmt.Errorf("cgroup %s: process gone", h.CgroupPath)
	case c.ID == "" || c.ID == "host":
		return nil
	case !c.MetadataKnown:
		return fmt.Errorf("container %s: no runtime metadata", c.ID)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cg := c.CgroupPath
	if cg == "" {
		cg = h.CgroupPath
	}
	a.gate.mu.Lock()
	defer a.gate.mu.Unlock()
	if a.gate.admitted == nil {
		a.gate.admitted = map[string]enforce.Target{}
	}
	a.gate.admitted[c.ID] = enforce.Target{Container: c, CgroupPath: cg, CgroupID: h.CgroupID, RootPID: int(h.PID)}
	ts, _ := a.targets()
	return a.gate.e.Apply(a.currentPolicies(), ts)
}

// targets returns the host, the running containers and those the gate
// admitted, each with a process of it (for its root filesystem) when the
// process table knows one. The caller holds a.gate.mu.
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
	seen := map[string]bool{}
	for _, c := range cs {
		if c.ID == "" || c.ID == "host" || c.CgroupPath == "" {
			continue
		}
		pid := pids[c.ID]
		if ad, ok := a.gate.admitted[c.ID]; ok && pid == 0 {
			pid = ad.RootPID
		}
		seen[c.ID] = true
		ts = append(ts, enforce.Target{Container: c, CgroupPath: c.CgroupPath, RootPID: pid})
		ids = append(ids, fmt.Sprintf("%s:%d", c.ID, pid))
	}
	for id, t := range a.gate.admitted {
		if _, err := enforce.CgroupID(t.CgroupPath); err != nil {
			delete(a.gate.admitted, id) // the container is gone
			continue
		}
		if !seen[id] {
			if pid := pids[id]; pid != 0 {
				t.RootPID = pid
			}
			ts = append(ts, t)
			ids = append(ids, fmt.Sprintf("%s:%d", id, t.RootPID))
		}
	}
	sort.Strings(ids)
	return ts, ids
}

// applyTargets applies the current policies to the current targets; with
// force false only when the targets changed since ids.
func (a *Agent) applyTargets(e *enforce.Enforcer, ids []string, force bool) ([]string, error) {
	a.gate.mu.Lock()
	defer a.gate.mu.Unlock()
	ts, nids := a.targets()
	if !force && slices.Equal(nids, ids) {
		return ids, nil
	}
	if err := e.Apply(a.currentPolicies(), ts); err != nil {
		return ids, err
	}
	if pl := e.Plan(); pl != nil && len(pl.Unmarked) > 0 {
		a.log.Warn("prevention: file rule paths missing, not marked (the other marks are in force; marked once they exist)",
			"count", len(pl.Unmarked), "paths", pl.Unmarked)
	}
	return nids, nil
}

// runPrevention applies the policies to the host and the containers, keeps
// the targets up to date, and turns decisions into alerts until ctx ends.
func (a *Agent) runPrevention(ctx context.Context, e *enforce.Enforcer) error {
	a.gate.mu.Lock()
	a.gate.e = e
	a.gate.mu.Unlock()
	ids, err := a.applyTargets(e, nil, true)
	if err != nil {
		return fmt.Errorf("prevention: apply: %w", err)
	}
	a.log.Info("prevention on", "policies", len(a.currentPolicies()), "targets", len(ids)+1, "dry_run", a.cfg.DryRun,
		"exec_gate", a.preventionOptions().Gate != nil)
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
			if ids, err = a.applyTargets(e, ids, true); err != nil {
				a.log.Error("prevention: apply reloaded policies", "err", err)
			}
		case <-dropTick.C:
			if n, err := e.RingbufDropped(); err == nil && n > seen {
				kernelDrops.Add(n - seen)
				seen = n
			}
		case <-tick.C:
			// A file rule path that was missing and now exists is
			// marked by applying again.
			if ids, err = a.applyTargets(e, ids, e.MarksMissing()); err != nil {
				a.log.Error("prevention: apply to new targets; previous policy stays", "err", err)
			}
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
	al := alert.NewFinding(RulePrevention, pri, alert.SourceSyscall, a.hostname, d.Time, []string{"vigil", "prevention"},
		fmt.Sprintf("Prevention %s %s (policy=%s rule=%s proc=%s pid=%d target=%s mechanism=%s)",
			action, d.Kind, d.Policy, d.Rule, d.Comm, d.PID, target, d.Mechanism),
		alert.Field{Name: "policy.name", Value: d.Policy}, alert.Field{Name: "policy.rule", Value: d.Rule},
		alert.Field{Name: "evt.type", Value: d.Kind.String()}, alert.Field{Name: "proc.name", Value: d.Comm},
		alert.Field{Name: "proc.pid", Value: int64(d.PID)}, alert.Field{Name: "target", Value: target},
		alert.Field{Name: "enforced", Value: d.Enforced})
	al.Vigil.Action = action
	al.Vigil.Process = []alert.Process{{PID: d.PID, Comm: d.Comm}}
	if a.containers != nil {
		if c := a.containers.Resolve(d.CgroupID, d.PID); c != nil && c.ID != "" && c.ID != "host" {
			al.Vigil.Container = &alert.Container{ID: c.ID, Name: c.Name, Image: c.Image,
				PodNamespace: c.PodNamespace, PodName: c.PodName}
		}
	}
	if d.KillErr != nil {
		al.OutputFields = append(al.OutputFields, alert.Field{Name: "kill_error", Value: d.KillErr.Error()})
	}
	if d.Reason != "" {
		al.OutputFields = append(al.OutputFields, alert.Field{Name: "reason", Value: d.Reason})
		al.Output += " reason=" + d.Reason
	}
	a.deliver(al)
}

// deliverDecisionGuarded turns a decision into its alert; a panic is
// recovered and reported, the next decision is handled as usual.
func (a *Agent) deliverDecisionGuarded(d *enforce.Decision) {
	defer a.guard.Recover(guard.StagePrevention, "prevention decision")
	a.deliverDecision(d)
}
