package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/sensor"
)

// doctorConnectWait bounds how long doctor lets the container runtimes'
// clients connect.
const doctorConnectWait = 3 * time.Second

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Probe what this host offers (kernel, BTF, tracefs, tracepoints, runtimes, prevention)",
		Long: `Probe what the sensor, the container runtimes and prevention need, one line per probe, and for
each missing thing say what does not work. tracefs and bpffs are mounted when missing. Exits 1 when
something the sensor cannot run without is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := sensor.Probe()
			fs = append(fs, runtimeFeatures(cmd.Context(), doctorConnectWait)...)
			fs = append(fs, preventionFeatures(enforce.ProbeHost())...)
			fs = append(fs, sensor.ProbeCapabilityHooks())
			w := cmd.OutOrStdout()
			failed := false
			root := os.Geteuid() == 0
			skipped := 0
			for _, f := range fs {
				if f.OK {
					fmt.Fprintf(w, "ok    %-45s %s\n", f.Name, f.Detail)
					continue
				}
				if !root && f.Name != "root" && needsRoot(f.Detail) {
					// Not a finding about the host: this user may not look.
					skipped++
					fmt.Fprintf(w, "SKIP  %-45s not checked without root (%s)\n", f.Name, f.Detail)
					continue
				}
				mark := "MISS "
				if f.Required {
					mark = "FAIL "
					failed = true
				}
				fmt.Fprintf(w, "%s %-45s %s: %s\n", mark, f.Name, f.Detail, f.Consequence)
			}
			if !root {
				return withExitCode(1, fmt.Errorf("doctor: not running as root: %d probes that need root were not checked (SKIP lines); run it as root (sudo vigil doctor) for the full report", skipped))
			}
			if failed {
				return withExitCode(1, errors.New("doctor: the sensor cannot run on this host (see FAIL lines)"))
			}
			return nil
		},
	}
}

// needsRoot reports whether a probe's failure detail is a refusal to an
// unprivileged user rather than a missing feature.
func needsRoot(detail string) bool {
	for _, s := range []string{"operation not permitted", "permission denied", "needs root"} {
		if strings.Contains(detail, s) {
			return true
		}
	}
	return false
}

// runtimeFeatures creates a container Manager, lets its clients connect
// for at most wait (until every runtime whose socket exists is connected or
// has failed), and reports one line per runtime.
func runtimeFeatures(ctx context.Context, wait time.Duration) []sensor.Feature {
	if ctx == nil {
		ctx = context.Background()
	}
	m, err := container.New(container.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return []sensor.Feature{{Name: "container runtimes", Detail: err.Error(),
			Consequence: "events get no container context (container.*, k8s.* fields empty)"}}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !settled(m.Runtimes()) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			deadline = time.Now()
		case <-tick.C:
		}
	}
	var fs []sensor.Feature
	for _, rs := range m.Runtimes() {
		fs = append(fs, runtimeFeature(rs))
	}
	return fs
}

// settled reports whether every runtime found is connected or has failed.
func settled(rs []container.RuntimeStatus) bool {
	for _, r := range rs {
		if r.Found && !r.Connected && r.LastError == "" {
			return false
		}
	}
	return true
}

func runtimeFeature(r container.RuntimeStatus) sensor.Feature {
	f := sensor.Feature{Name: "runtime " + r.Name,
		Consequence: "containers started by " + r.Name + " get their id only (no name, image, labels)"}
	switch {
	case r.Connected:
		f.OK = true
		v := r.Version
		if v == "" {
			v = "unknown"
		}
		f.Detail = fmt.Sprintf("%s: connected, version %s, %d containers", r.Socket, v, r.Containers)
	case !r.Found:
		f.Detail = r.Socket + ": not found"
	case r.LastError != "":
		f.Detail = fmt.Sprintf("%s: found, not connected: %s", r.Socket, r.LastError)
	default:
		f.Detail = r.Socket + ": found, not connected yet"
	}
	return f
}

// preventionFeatures reports the enforcement mechanisms `vigil run` uses to
// block (not only detect).
func preventionFeatures(p enforce.Probe) []sensor.Feature {
	one := func(name string, err error, ok, consequence string) sensor.Feature {
		f := sensor.Feature{Name: "prevention " + name, Consequence: consequence}
		if err == nil {
			f.OK, f.Detail = true, ok
		} else {
			f.Detail = strings.TrimSpace(err.Error())
		}
		return f
	}
	cg := p.CgroupV2
	if cg == "" {
		cg = "no cgroup v2 mount"
	}
	return []sensor.Feature{
		one("cgroup-bpf", p.CgroupBPF, "cgroup sock_addr programs ("+cg+")",
			"network prevention (connect, sendmsg, bind) cannot be enforced"),
		one("exec-kill", p.ExecKill, "bpf_send_signal and bpf_loop from raw tracepoints (sched_process_exec)",
			"exec prevention (kill at exec) cannot be enforced"),
		one("exec-gate", errors.Join(p.ExecKill, p.ExecGate), "mode: in-kernel exec gate, containerd, CRI, Docker and runc alike (a new container's first exec is stopped before its first instruction until its policy is written; no NRI or OCI hook needed)",
			"new containers run outside their policy until the agent's next target refresh (5 s)"),
		one("fanotify", p.Fanotify, "fanotify permission events (FAN_CLASS_CONTENT)",
			"file-open prevention (deny the open) cannot be enforced"),
		one("cgroup freezer", p.V2Freezer, "cgroup.freeze in "+cg,
			"freezing a container falls back to the v1 freezer ("+enforce.CgroupV1Freezer+") or is not possible"),
		one("landlock", p.LandlockErr, fmt.Sprintf("Landlock ABI %d: vigil policy sandbox (a file section as a sandbox that cannot be lifted)", p.Landlock),
			"vigil policy sandbox refuses to run programs (the fanotify path is not affected)"),
	}
}
