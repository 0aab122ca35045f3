package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/imagewatch"
	"github.com/vigilsec/vigil/internal/metrics"
)

// Rule names of the image alerts.
const (
	RuleDrift           = "Vigil drift: executable not in image"
	RuleVulnerableImage = "Vigil vulnerable image running"
)

// driftTags are the tags of the drift alert.
var driftTags = []string{"vigil", "drift", "container", "mitre_persistence", "T1105"}

// newImageWatch builds the drift and running-image watcher (nil when both
// are off). The containerd connection is opened on first use.
func (a *Agent) newImageWatch() {
	c := a.cfg
	if !c.Drift.Enabled && c.Images.DB == "" {
		return
	}
	opts := &image.ContainerdOptions{Namespace: ""}
	for _, s := range c.Containers.Sockets {
		if strings.Contains(s, "containerd") && opts.Address == "" {
			opts.Address = s
		}
	}
	if opts.Address == "" {
		a.log.Info("drift and running-image scans off: no containerd socket in containers.sockets")
		return
	}
	a.imageScanner = image.NewScanner(opts)
	a.images = imagewatch.New(imagewatch.Options{Images: a.imageScanner, Drift: c.Drift.Enabled,
		MaxPending: c.Drift.MaxPending, DBDir: c.Images.DB, PollInterval: c.Images.PollInterval,
		Severities: c.Images.Severities, OnDrift: a.onDrift, OnVuln: a.onVuln, Logger: a.log, Overflow: a.overflow})
}

func alertContainer(ct *event.Container) *alert.Container {
	if ct == nil {
		return nil
	}
	return &alert.Container{ID: ct.ID, Name: ct.Name, Image: ct.Image, PodNamespace: ct.PodNamespace, PodName: ct.PodName}
}

// onDrift raises the drift alert (event goroutine or the watcher's).
func (a *Agent) onDrift(d *imagewatch.Drift) {
	pri := a.cfg.Drift.Priority
	if !pri.AtLeast(a.minPri) {
		a.pipe.BelowMin().Inc()
		return
	}
	ct := d.Container
	var comm string
	var pid uint32
	var cmdline string
	if len(d.Procs) > 0 {
		comm, pid, cmdline = d.Procs[0].Comm, d.Procs[0].PID, strings.Join(d.Procs[0].Args, " ")
	}
	al := alert.NewFinding(RuleDrift, pri, alert.SourceSyscall, a.hostname, time.Unix(0, d.Time), driftTags,
		fmt.Sprintf("Executable not in the container's image was run (exe=%s proc=%s pid=%d cmdline=%s container=%s image=%s upper_layer=%t)",
			d.ExePath, comm, pid, cmdline, ct.ID, d.Image, d.UpperLayer),
		alert.Field{Name: "proc.exepath", Value: d.ExePath}, alert.Field{Name: "proc.name", Value: comm},
		alert.Field{Name: "proc.pid", Value: int64(pid)}, alert.Field{Name: "proc.cmdline", Value: cmdline},
		alert.Field{Name: "container.id", Value: ct.ID}, alert.Field{Name: "container.image", Value: d.Image},
		alert.Field{Name: "vigil.containerd_namespace", Value: d.Namespace}, alert.Field{Name: "proc.is_exe_upper_layer", Value: d.UpperLayer})
	al.Vigil.Container = alertContainer(ct)
	for _, p := range d.Procs {
		al.Vigil.Process = append(al.Vigil.Process, alert.Process{PID: p.PID, Comm: p.Comm, ExePath: p.ExePath, Args: p.Args})
	}
	if !a.coal.Offer(al) {
		a.coalesced.Inc()
		return
	}
	a.deliver(al)
}

// vulnPriority maps a finding's severity to an alert priority.
func vulnPriority(sev string) alert.Priority {
	switch sev {
	case "CRITICAL":
		return alert.PriorityCritical
	case "HIGH":
		return alert.PriorityError
	case "MEDIUM":
		return alert.PriorityWarning
	}
	return alert.PriorityNotice
}

// onVuln raises the vulnerable-image alert (watcher goroutine).
func (a *Agent) onVuln(v *imagewatch.VulnFinding) {
	f := &v.Finding
	pri := vulnPriority(f.Severity)
	if !pri.AtLeast(a.minPri) {
		a.pipe.BelowMin().Inc()
		return
	}
	ct := &alert.Container{ID: v.ContainerID, Image: v.Image}
	if len(ct.ID) > 12 {
		ct.ID = ct.ID[:12]
	}
	if a.containers != nil {
		for _, c := range a.containers.Containers() {
			if c.FullID == v.ContainerID {
				ct = alertContainer(c)
				break
			}
		}
	}
	fixed := strings.Join(f.FixedVersions, ",")
	al := alert.NewFinding(RuleVulnerableImage, pri, alert.SourceInternal, a.hostname, time.Now(),
		[]string{"vigil", "vulnerability", "container", "image"},
		fmt.Sprintf("Running container's image has a %s vulnerability (vuln=%s package=%s installed=%s fixed=%s image=%s digest=%s container=%s)",
			f.Severity, f.ID, f.Package.Name, f.Package.Version, fixed, v.Image, v.Digest, ct.ID),
		alert.Field{Name: "vuln.id", Value: f.ID}, alert.Field{Name: "vuln.aliases", Value: f.Aliases},
		alert.Field{Name: "vuln.severity", Value: f.Severity}, alert.Field{Name: "vuln.summary", Value: f.Summary},
		alert.Field{Name: "package.name", Value: f.Package.Name}, alert.Field{Name: "package.version", Value: f.Package.Version},
		alert.Field{Name: "package.fixed", Value: fixed}, alert.Field{Name: "container.id", Value: ct.ID},
		alert.Field{Name: "container.image", Value: v.Image}, alert.Field{Name: "container.image.digest", Value: v.Digest})
	al.Vigil.Container = ct
	a.deliver(al)
}

// registerImageMetrics registers the watcher's counters.
func (a *Agent) registerImageMetrics() {
	if a.images == nil {
		return
	}
	st := func() imagewatch.Stats { return a.images.Stats() }
	a.reg.Func("vigil_drift_execs_total", "Container execs seen by drift detection, by result (in_image, drift, unchecked: no index or queue full).",
		metrics.TypeCounter, []string{"result"}, func(e metrics.Emit) {
			s := st()
			e(float64(s.ExecChecked-min(s.Drift, s.ExecChecked)), "in_image")
			e(float64(s.Drift), "drift")
			e(float64(s.Unchecked), "unchecked")
		})
	a.reg.Func("vigil_drift_queued_total", "Container execs queued while the image index was built.", metrics.TypeCounter, nil,
		func(e metrics.Emit) { e(float64(st().Queued)) })
	a.reg.Func("vigil_drift_indexes_total", "Container image indexes resolved, by result.", metrics.TypeCounter, []string{"result"},
		func(e metrics.Emit) {
			s := st()
			e(float64(s.Indexes), "ok")
			e(float64(s.IndexErrors), "failed")
		})
	a.reg.Func("vigil_image_scans_total", "Vulnerability scans of running images, by result.", metrics.TypeCounter, []string{"result"},
		func(e metrics.Emit) {
			s := st()
			e(float64(s.ImageScans), "ok")
			e(float64(s.ScanErrors), "failed")
		})
	a.reg.Func("vigil_image_vuln_findings_total", "Vulnerability findings of running images reported (per container).", metrics.TypeCounter, nil,
		func(e metrics.Emit) { e(float64(st().VulnFindings)) })
	a.reg.Func("vigil_image_db_records", "Records in the loaded vulnerability database.", metrics.TypeGauge, nil,
		func(e metrics.Emit) { e(float64(st().DBRecords)) })
}
