package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/profile"
)

// Facilities maps syslog facility names to their numbers.
var Facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// SocketFileMode is SocketMode parsed (octal, permission bits only).
func (h *HTTP) SocketFileMode() (os.FileMode, error) {
	m, err := strconv.ParseUint(h.SocketMode, 8, 32)
	if err != nil || m&^0o777 != 0 {
		return 0, fmt.Errorf("%q: want octal permission bits such as 0600", h.SocketMode)
	}
	return os.FileMode(m), nil
}

// Validate checks the whole configuration and returns every problem found
// (as Errors), or nil.
func (c *Config) Validate() error {
	var es Errors
	bad := func(key, format string, args ...any) { es = append(es, c.errAt(key, format, args...)) }
	exists := func(key, path string) {
		if _, err := os.Stat(path); err != nil {
			bad(key, "%v", err)
		}
	}

	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "unknown level %q (want debug, info, warn or error)", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "unknown format %q (want text or json)", c.LogFormat)
	}
	for i, f := range c.Rules.Files {
		exists(fmt.Sprintf("rules.files[%d]", i), f)
	}
	if o := c.Rules.OnError; o != RulesOnErrorSkip && o != RulesOnErrorFail {
		bad("rules.on_error", "must be skip or fail, got %q", o)
	}
	if c.Rules.Watch && c.Rules.WatchInterval <= 0 {
		bad("rules.watch_interval", "must be positive when rules.watch is on")
	}
	if c.Rules.StateMaxKeys < 0 {
		bad("rules.state_max_keys", "must not be negative")
	}
	if c.Rules.StateMaxMB < 0 || c.Rules.StateMaxMB > 1<<20 {
		bad("rules.state_max_mb", "must be from 0 to 1048576")
	}
	if c.Dedup.Window < 0 {
		bad("dedup.window", "must not be negative")
	}
	for r, w := range c.Dedup.Rules {
		if w < 0 {
			bad("dedup.rules."+r, "must not be negative")
		}
	}

	o := &c.Outputs
	if o.OverflowAlertInterval <= 0 {
		bad("outputs.overflow_alert_interval", "must be positive")
	}
	common := func(name string, out *Output) {
		if !out.Enabled {
			return
		}
		if out.QueueSize < 1 {
			bad("outputs."+name+".queue_size", "must be at least 1")
		}
		if out.Format != "text" && out.Format != "json" {
			bad("outputs."+name+".format", "unknown format %q (want text or json)", out.Format)
		}
	}
	common("stdout", &o.Stdout.Output)
	common("file", &o.File.Output)
	common("syslog", &o.Syslog.Output)
	common("http", &o.HTTP.Output)
	common("program", &o.Program.Output)
	if o.File.Enabled {
		if o.File.Path == "" {
			bad("outputs.file.path", "required when the file output is enabled")
		}
		if o.File.MaxSizeMB < 0 || o.File.MaxBackups < 0 {
			bad("outputs.file", "max_size_mb and max_backups must not be negative")
		}
	}
	if s := &o.Syslog; s.Enabled {
		switch s.Network {
		case "unixgram", "unix":
			if s.Address == "" {
				bad("outputs.syslog.address", "required")
			}
		case "udp", "tcp":
			if _, _, err := net.SplitHostPort(s.Address); err != nil {
				bad("outputs.syslog.address", "%v", err)
			}
		default:
			bad("outputs.syslog.network", "unknown network %q (want unixgram, udp or tcp)", s.Network)
		}
		if _, ok := Facilities[s.Facility]; !ok {
			bad("outputs.syslog.facility", "unknown facility %q", s.Facility)
		}
	}
	if h := &o.HTTP; h.Enabled {
		u, err := url.Parse(h.URL)
		switch {
		case h.URL == "":
			bad("outputs.http.url", "required when the http output is enabled")
		case err != nil:
			bad("outputs.http.url", "%v", err)
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			bad("outputs.http.url", "want an http:// or https:// URL with a host, got %q", h.URL)
		}
		if h.BatchSize < 1 {
			bad("outputs.http.batch_size", "must be at least 1")
		}
		if h.Timeout <= 0 {
			bad("outputs.http.timeout", "must be positive")
		}
		if h.Workers < 1 {
			bad("outputs.http.workers", "must be at least 1")
		}
		if h.MaxRetries < 0 || h.RetryBackoff < 0 {
			bad("outputs.http", "max_retries and retry_backoff must not be negative")
		}
		if h.TLS.CAFile != "" {
			exists("outputs.http.tls.ca_file", h.TLS.CAFile)
		}
		if (h.TLS.CertFile == "") != (h.TLS.KeyFile == "") {
			bad("outputs.http.tls", "cert_file and key_file go together")
		}
		if h.TLS.CertFile != "" {
			exists("outputs.http.tls.cert_file", h.TLS.CertFile)
			exists("outputs.http.tls.key_file", h.TLS.KeyFile)
		}
	}
	if o.Program.Enabled && strings.TrimSpace(o.Program.Command) == "" {
		bad("outputs.program.command", "required when the program output is enabled")
	}

	if s := &c.Store; s.Enabled {
		if s.Path == "" {
			bad("store.path", "required when the store is enabled")
		}
		if s.Retention < 0 || s.MaxSizeMB < 0 {
			bad("store", "retention and max_size_mb must not be negative")
		}
		if s.PruneInterval <= 0 || s.FlushInterval <= 0 || s.RetryInterval <= 0 {
			bad("store", "prune_interval, flush_interval and retry_interval must be positive")
		}
		if s.BatchSize < 1 || s.QueueSize < 1 {
			bad("store", "batch_size and queue_size must be at least 1")
		}
	}

	if r := &c.Recorder; r.Enabled {
		if r.Window <= 0 || r.After < 0 {
			bad("recorder", "window must be positive and after not negative")
		}
		if r.MaxEvents < 1 || r.MaxMB < 1 || r.MaxRings < 1 || r.MaxPending < 1 || r.MaxIncidentEvents < 1 {
			bad("recorder", "max_events, max_mb, max_rings, max_pending and max_incident_events must be at least 1")
		}
	}
	if h := &c.HTTP; h.Enabled && (h.CertFile == "") != (h.KeyFile == "") {
		bad("http", "cert_file and key_file go together")
	}

	if h := &c.HTTP; h.Enabled {
		if path, ok := strings.CutPrefix(h.Listen, "unix:"); ok {
			if !filepath.IsAbs(path) {
				bad("http.listen", "unix socket path %q: want an absolute path", path)
			}
		} else if _, port, err := net.SplitHostPort(h.Listen); err != nil {
			bad("http.listen", "%v", err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("http.listen", "port %q: want a number from 0 to 65535", port)
		}
		if _, err := h.SocketFileMode(); err != nil {
			bad("http.socket_mode", "%v", err)
		}
		if h.MaxConnections < 1 {
			bad("http.max_connections", "must be at least 1")
		}
		if h.TokenFile != "" {
			exists("http.token_file", h.TokenFile)
		}
	}

	if h := &c.Hub; h.URL != "" {
		for _, one := range strings.Split(h.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(one))
			switch {
			case err != nil:
				bad("hub.url", "%v", err)
			case u.Scheme != "nats" && u.Scheme != "tls", u.Host == "":
				bad("hub.url", "want nats://host:port or tls://host:port, got %q", one)
			}
		}
		if h.Node != "" && strings.Trim(h.Node, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			bad("hub.node", "%q: want letters, digits, - and _ only (it is a NATS subject token)", h.Node)
		}
		if h.QueueSize < 1 {
			bad("hub.queue_size", "must be at least 1")
		}
		if h.SpoolDir == "" {
			bad("hub.spool_dir", "required")
		}
		if h.RulesDir == "" {
			bad("hub.rules_dir", "required")
		}
		if h.SpoolMaxMB < 1 {
			bad("hub.spool_max_mb", "must be at least 1")
		}
		if h.HeartbeatInterval <= 0 {
			bad("hub.heartbeat_interval", "must be positive")
		}
		t := h.TLS
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad("hub.tls", "cert_file and key_file go together")
		}
		for _, kv := range [][2]string{{"hub.tls.ca_file", t.CAFile}, {"hub.tls.cert_file", t.CertFile}, {"hub.tls.key_file", t.KeyFile}} {
			if kv[1] != "" {
				exists(kv[0], kv[1])
			}
		}
	}

	if k := &c.K8sAudit; k.Enabled {
		if _, _, err := net.SplitHostPort(k.Listen); err != nil {
			bad("k8s_audit.listen", "%v", err)
		}
		for _, kv := range [][2]string{{"k8s_audit.cert_file", k.CertFile}, {"k8s_audit.key_file", k.KeyFile}, {"k8s_audit.token_file", k.TokenFile}} {
			key, f := kv[0], kv[1]
			if f == "" {
				bad(key, "required when k8s_audit.enabled (the webhook serves TLS and checks a token)")
			} else {
				exists(key, f)
			}
		}
		if k.MaxBodyBytes <= 0 {
			bad("k8s_audit.max_body_bytes", "must be positive")
		}
		if k.QueueSize <= 0 {
			bad("k8s_audit.queue_size", "must be positive")
		}
	}
	if c.MemoryLimitMB < 0 {
		bad("memory_limit_mb", "must be 0 (no limit) or positive, got %d", c.MemoryLimitMB)
	}
	if r := c.Sensor.RingSizeMB; r < 1 || r&(r-1) != 0 {
		bad("sensor.ring_size_mb", "must be a power of two (1, 2, 4, ...), got %d", r)
	}
	if r := c.Sensor.CriticalRingSizeMB; r < 1 || r&(r-1) != 0 {
		bad("sensor.critical_ring_size_mb", "must be a power of two (1, 2, 4, ...), got %d", r)
	}
	for i, t := range c.Sensor.EventTypes {
		if _, err := event.ParseTypes(t); err != nil {
			bad(fmt.Sprintf("sensor.event_types[%d]", i), "%v", err)
		}
	}
	for i, f := range c.Policy.Files {
		exists(fmt.Sprintf("policy.files[%d]", i), f)
	}
	if g := c.Policy.Gate; g.Enabled {
		if g.Timeout <= 0 {
			bad("policy.gate.timeout", "must be positive when the gate is enabled")
		}
		if g.Default != "allow" && g.Default != "deny" {
			bad("policy.gate.default", "unknown default %q (want allow or deny)", g.Default)
		}
		for i, p := range g.DenyCgroups {
			if _, err := path.Match(p, ""); err != nil {
				bad(fmt.Sprintf("policy.gate.deny_cgroups[%d]", i), "bad glob %q: %v", p, err)
			}
		}
	}
	if c.Drift.MaxPending < 0 {
		bad("drift.max_pending", "must not be negative")
	}
	if c.Images.DB != "" && c.Images.PollInterval <= 0 {
		bad("images.poll_interval", "must be positive when images.db is set")
	}
	for i, s := range c.Images.Severities {
		switch strings.ToUpper(s) {
		case "CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN":
		default:
			bad(fmt.Sprintf("images.severities[%d]", i), "unknown severity %q (want CRITICAL, HIGH, MEDIUM, LOW, NONE or UNKNOWN)", s)
		}
	}
	if pr := &c.Profiles; pr.Enabled {
		if _, err := profile.ParseKeyBy(pr.Key); err != nil {
			bad("profiles.key", "%v", err)
		}
		if pr.LearningWindow <= 0 {
			bad("profiles.learning_window", "must be positive")
		}
		if pr.SyncInterval <= 0 {
			bad("profiles.sync_interval", "must be positive")
		}
		if pr.MaxProfiles < 1 {
			bad("profiles.max_profiles", "must be at least 1")
		}
		if pr.AlertsPerMinute < 1 {
			bad("profiles.alerts_per_minute", "must be at least 1")
		}
		for i, r := range pr.Roots {
			if !strings.HasPrefix(r, "/") {
				bad(fmt.Sprintf("profiles.roots[%d]", i), "%q: not an absolute path", r)
			}
		}
		if !c.Store.Enabled {
			bad("profiles.enabled", "profiles are kept in the store: store.enabled must be on")
		}
	}
	if len(es) == 0 {
		return nil
	}
	return es
}
