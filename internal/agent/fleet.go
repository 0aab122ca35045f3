package agent

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/buildinfo"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/output"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/sensor"
	defaultrules "github.com/vigilsec/vigil/rules"
)

// versionFile in hub.rules_dir records the bundle version in force.
const versionFile = ".version"

// prepareHubRules creates hub.rules_dir and adds it after the configured
// rule files, so that what the hub pushed is loaded at start too. Called
// by New before the rules load.
func prepareHubRules(cfg *config.Config) error {
	h := cfg.Hub
	if h.URL == "" {
		return nil
	}
	if err := os.MkdirAll(h.RulesDir, 0o700); err != nil {
		return fmt.Errorf("hub: rules_dir: %w", err)
	}
	st, err := os.Lstat(h.RulesDir)
	if err != nil {
		return fmt.Errorf("hub: rules_dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("hub: rules_dir %s is not a directory (a symbolic link is refused)", h.RulesDir)
	}
	if err := os.Chmod(h.RulesDir, 0o700); err != nil {
		return fmt.Errorf("hub: rules_dir: %w", err)
	}
	files := append([]string(nil), cfg.Rules.Files...)
	cfg.Rules.Files = append(files, h.RulesDir)
	return nil
}

// newFleet connects the agent to its hub: the "hub" output on the
// dispatcher, heartbeats, pushed rules. The connection is made in the
// background; an unreachable hub only spools.
func (a *Agent) newFleet() error {
	h := a.cfg.Hub
	node := h.Node
	if node == "" {
		node = fleet.NodeName(a.hostname)
	}
	o := fleet.Options{URL: h.URL, Node: node, SpoolDir: h.SpoolDir, SpoolMaxBytes: int64(h.SpoolMaxMB) << 20,
		HeartbeatInterval: h.HeartbeatInterval, Heartbeat: a.heartbeat, ApplyRules: a.applyPushedRules,
		Overflow: a.overflow, Logger: a.log.With("component", "hub")}
	if a.learner != nil {
		o.ApplyProfile = a.adoptFleetProfile
	}
	if r := a.cfg.Recorder; r.Enabled && r.After > 0 {
		o.IncidentHold = r.After + 2*time.Second // the complete form supersedes the first
	}
	if t := h.TLS; t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify || strings.HasPrefix(h.URL, "tls://") {
		tc, err := output.TLSConfig(output.TLSOptions{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			InsecureSkipVerify: t.InsecureSkipVerify})
		if err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		o.TLS = tc
	}
	c, err := fleet.Connect(o)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(h.RulesDir, versionFile)); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			c.SetRulesVersion(v)
		}
	}
	a.fleet = c
	a.disp.Add(c.Output(), h.MinPriority, h.QueueSize)
	a.registerFleetMetrics()
	return nil
}

func (a *Agent) registerFleetMetrics() {
	st := func(f func(fleet.Stats) float64) func(metrics.Emit) {
		return func(e metrics.Emit) { e(f(a.fleet.Stats())) }
	}
	a.reg.Func("vigil_hub_connected", "1 while the agent is connected to its hub's NATS.", metrics.TypeGauge, nil,
		st(func(s fleet.Stats) float64 {
			if s.Connected {
				return 1
			}
			return 0
		}))
	a.reg.Func("vigil_hub_published_total", "Messages the hub's stream acknowledged (alerts through the spool included).", metrics.TypeCounter, nil,
		st(func(s fleet.Stats) float64 { return float64(s.Published) }))
	a.reg.Func("vigil_hub_spooled_total", "Alerts that went through the on-disk spool because the hub was unreachable.", metrics.TypeCounter, nil,
		st(func(s fleet.Stats) float64 { return float64(s.Spooled) }))
	a.reg.Func("vigil_hub_spool_messages", "Messages waiting in the on-disk spool.", metrics.TypeGauge, nil,
		st(func(s fleet.Stats) float64 { return float64(s.SpoolLen) }))
	a.reg.Func("vigil_hub_spool_bytes", "Bytes of the on-disk spool.", metrics.TypeGauge, nil,
		st(func(s fleet.Stats) float64 { return float64(s.SpoolBytes) }))
	a.reg.Func("vigil_hub_rules_version", "Version of the hub's rule bundle in force (0: none).", metrics.TypeGauge, nil,
		st(func(s fleet.Stats) float64 { return float64(s.RulesVersion) }))
}

// heartbeat is the node's heartbeat (the fleet client's goroutine).
func (a *Agent) heartbeat() fleet.Heartbeat {
	now := time.Now()
	var total uint64
	for t := event.Type(1); t < event.NumTypes; t++ {
		total += a.pipe.Events(t)
	}
	hb := fleet.Heartbeat{Time: now.UTC(), Version: buildinfo.Read(nil).Version, RSSBytes: metrics.RSSBytes(),
		Lost: map[string]uint64{}}
	if last := a.hbLast; !last.IsZero() {
		if d := now.Sub(last).Seconds(); d > 0 {
			hb.EventsPerSec = float64(total-a.hbEvents) / d
		}
	}
	a.hbLast, a.hbEvents = now, total
	if st := a.sensorStats.Load(); st != nil {
		for r := sensor.Reason(0); r < sensor.NumReasons; r++ {
			if r.Lost() {
				hb.Lost[r.String()] = st.ByReason(r)
			}
		}
	}
	a.reloadMu.Lock()
	hb.RulesSHA256, hb.PolicySHA256 = hex.EncodeToString([]byte(a.ruleSig)), hex.EncodeToString([]byte(a.polSig))
	a.reloadMu.Unlock()
	if a.fleet != nil {
		hb.RulesVersion = a.fleet.Stats().RulesVersion
	}
	return hb
}

// applyPushedRules puts a bundle from the hub in force: compiled first
// with the defaults and the node's own files (a bundle with errors is
// refused with its positioned errors, nothing written, the rules in force
// kept), then written into hub.rules_dir and reloaded.
func (a *Agent) applyPushedRules(b *fleet.Bundle) (rules.Diagnostics, error) {
	if err := fleet.CheckBundleFiles(b.Files); err != nil {
		return nil, err
	}
	dir := a.cfg.Hub.RulesDir
	var own []string
	for _, p := range a.cfg.Rules.Files {
		if p != dir {
			own = append(own, p)
		}
	}
	var files []rules.File
	if a.cfg.Rules.Default {
		for _, f := range defaultrules.Default() {
			files = append(files, rules.File{Name: f.Name, Data: f.Data})
		}
	}
	names, err := yamlFiles("rules", own)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		files = append(files, rules.File{Name: n, Data: data})
	}
	for _, f := range b.Files {
		files = append(files, rules.File{Name: f.Name, Data: []byte(f.Data)})
	}
	rs := rules.LoadAndCompile(compileOptions(a.cfg.Rules), files...)
	if err := rs.Err(); err != nil {
		return rs.Diags, fmt.Errorf("rules version %d refused: %w", b.Version, err)
	}

	a.reloadMu.Lock()
	keep := map[string]bool{}
	for _, f := range b.Files {
		keep[f.Name] = true
		if err := safefile.WriteFile(filepath.Join(dir, f.Name), []byte(f.Data), 0o600); err != nil {
			a.reloadMu.Unlock()
			return nil, fmt.Errorf("rules version %d: %w", b.Version, err)
		}
	}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if !keep[e.Name()] && e.Name() != versionFile {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	err = safefile.WriteFile(filepath.Join(dir, versionFile), []byte(strconv.FormatUint(b.Version, 10)+"\n"), 0o600)
	a.reloadMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("rules version %d: %w", b.Version, err)
	}
	if err := a.Reload(); err != nil {
		return nil, fmt.Errorf("rules version %d: %w", b.Version, err)
	}
	return nil, nil
}

// runFleet runs the fleet client until ctx ends.
func (a *Agent) runFleet(ctx context.Context) error { return a.fleet.Run(ctx) }
