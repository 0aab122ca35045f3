package config

import (
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// DefaultPath is where `vigil run` looks for its configuration.
const DefaultPath = "/etc/vigil/vigil.yaml"

// Config is the whole agent configuration. Each field's doc tag is its
// reference documentation (rendered into docs/config.md).
type Config struct {
	Hostname  string `yaml:"hostname" doc:"Host name written in alerts. Empty: the kernel's host name."`
	LogLevel  string `yaml:"log_level" doc:"Agent log level: debug, info, warn or error. Logs go to stderr."`
	LogFormat string `yaml:"log_format" doc:"Agent log format: text (key=value) or json (one JSON object per line). The --log-format flag overrides it."`
	DryRun    bool   `yaml:"dry_run" doc:"Prevention actions are reported in alerts but not carried out."`
	// MemoryLimitMB is the Go runtime's soft memory limit of vigil run.
	MemoryLimitMB int        `yaml:"memory_limit_mb" doc:"Soft limit in MiB of the agent's Go memory (heap, stacks, runtime; not the binary nor the ring buffers): past it the garbage collector runs more often, so the heap stays near its live size instead of twice it. The GOMEMLIMIT environment variable wins. 0: no limit (the default: with 10k processes the live heap is about 12 MiB and a 40 MiB limit changed nothing measurable; near the limit the collector may take up to half the CPU)."`
	Rules         Rules      `yaml:"rules"`
	Dedup         Dedup      `yaml:"dedup"`
	Outputs       Outputs    `yaml:"outputs"`
	Store         Store      `yaml:"store"`
	HTTP          HTTP       `yaml:"http"`
	Sensor        Sensor     `yaml:"sensor"`
	Policy        Policy     `yaml:"policy"`
	Containers    Containers `yaml:"containers"`
	Drift         Drift      `yaml:"drift"`
	Images        Images     `yaml:"images"`
	K8sAudit      K8sAudit   `yaml:"k8s_audit"`
	Profiles      Profiles   `yaml:"profiles"`
	Hub           Hub        `yaml:"hub"`
	Recorder      Recorder   `yaml:"recorder"`
	Console       Console    `yaml:"console"`

	src *source // where it was loaded from, for error positions
}

// rules.on_error values.
const (
	RulesOnErrorSkip = "skip"
	RulesOnErrorFail = "fail"
)

// Rules selects the detection rules.
type Rules struct {
	Default       bool           `yaml:"default" doc:"Load Vigil's embedded default ruleset."`
	Files         []string       `yaml:"files" doc:"Rule files and directories (every *.yaml and *.yml inside, in name order) loaded after the defaults."`
	MinPriority   alert.Priority `yaml:"min_priority" doc:"Alerts below this priority are discarded: emergency, alert, critical, error, warning, notice, informational or debug."`
	EnableTags    []string       `yaml:"enable_tags" doc:"Run only the rules having one of these tags (Falco's -t); empty: every rule. A rule disabled in its file stays disabled."`
	DisableTags   []string       `yaml:"disable_tags" doc:"Do not run the rules having one of these tags (Falco's -T); it wins over enable_tags."`
	OnError       string         `yaml:"on_error" doc:"At start, what a rule that does not compile does: skip (the others load; an internal alert names each skipped rule with its file:line:col) or fail (the agent does not start). A reload with errors always keeps the rules in force."`
	Watch         bool           `yaml:"watch" doc:"Reload the rules when a rule file changes (SIGHUP always reloads)."`
	WatchInterval time.Duration  `yaml:"watch_interval" doc:"How often rule files are checked for changes."`
	StateMaxKeys  int            `yaml:"state_max_keys" doc:"Keys (process, container, pod...) the stateful rules (sequence, threshold) may hold in all; beyond it the least recently updated is evicted (vigil_rule_state_evicted_total). 0: 65536."`
	StateMaxMB    int            `yaml:"state_max_mb" doc:"Memory in MiB accounted to the stateful rules' state in all; beyond it the least recently updated key is evicted. 0: 32."`
}

// Dedup is the noise control: identical alerts (same rule, container id and
// process executable path) within a window are coalesced.
type Dedup struct {
	Window time.Duration            `yaml:"window" doc:"Coalescing window: the first alert is delivered at once, the count of the others when the window closes. 0 turns coalescing off."`
	Rules  map[string]time.Duration `yaml:"rules" doc:"Per-rule windows, by rule name, overriding window (0 turns coalescing off for that rule)."`
}

// Output is what every output shares.
type Output struct {
	Enabled     bool           `yaml:"enabled" doc:"Turn the output on."`
	MinPriority alert.Priority `yaml:"min_priority" doc:"Alerts below this priority are not sent to this output."`
	QueueSize   int            `yaml:"queue_size" doc:"Alerts waiting for this output; when full, new alerts are dropped for it and counted (vigil_output_dropped_total)."`
	Format      string         `yaml:"format" doc:"text (one escaped line) or json (Falco JSON)."`
}

// Outputs are the alert destinations. Each has its own queue, so a slow one
// never delays the others or the sensor.
type Outputs struct {
	OverflowAlertInterval time.Duration `yaml:"overflow_alert_interval" doc:"At most one internal alert (rule Vigil queue overflow) per bounded queue per interval reports its drops: the outputs, the store, container lookups, drift checks, responses, prevention decisions."`
	Stdout                StdoutOutput  `yaml:"stdout"`
	File                  FileOutput    `yaml:"file"`
	Syslog                SyslogOutput  `yaml:"syslog"`
	HTTP                  HTTPOutput    `yaml:"http"`
	Program               ProgramOutput `yaml:"program"`
}

// StdoutOutput writes alerts to standard output.
type StdoutOutput struct {
	Output `yaml:",inline"`
}

// FileOutput appends alerts to a file, rotated by size and reopened on SIGUSR1.
type FileOutput struct {
	Output     `yaml:",inline"`
	Path       string `yaml:"path" doc:"File to append alerts to (created with mode 0600)."`
	MaxSizeMB  int    `yaml:"max_size_mb" doc:"Rotate when the file reaches this size in MiB (path -> path.1 -> path.2 ...). 0: never rotate."`
	MaxBackups int    `yaml:"max_backups" doc:"Rotated files kept."`
}

// SyslogOutput sends RFC 5424 messages.
type SyslogOutput struct {
	Output   `yaml:",inline"`
	Network  string `yaml:"network" doc:"unixgram (the local socket), udp or tcp (octet-counted framing, RFC 6587)."`
	Address  string `yaml:"address" doc:"Socket path for unixgram, host:port for udp and tcp."`
	Facility string `yaml:"facility" doc:"Syslog facility name: kern, user, daemon, auth, authpriv, local0 ... local7."`
	AppName  string `yaml:"app_name" doc:"APP-NAME of the messages."`
}

// HTTPOutput POSTs alerts as Falco JSON (falcosidekick compatible).
type HTTPOutput struct {
	Output        `yaml:",inline"`
	URL           string            `yaml:"url" doc:"Endpoint, e.g. http://falcosidekick:2801/."`
	Headers       map[string]string `yaml:"headers" doc:"Extra request headers (e.g. Authorization)."`
	BatchSize     int               `yaml:"batch_size" doc:"1: one POST per alert, body the alert's JSON (what falcosidekick expects). More: up to this many alerts per POST as a JSON array."`
	BatchInterval time.Duration     `yaml:"batch_interval" doc:"How long a partial batch waits before it is sent."`
	Timeout       time.Duration     `yaml:"timeout" doc:"Timeout of one request."`
	MaxRetries    int               `yaml:"max_retries" doc:"Retries of a failed request (network error, 429 or 5xx), with exponential backoff."`
	RetryBackoff  time.Duration     `yaml:"retry_backoff" doc:"First retry delay; doubled on each retry, capped at 30s."`
	Workers       int               `yaml:"workers" doc:"Requests in flight at once (alerts may then arrive out of order; 1 keeps the order)."`
	Updates       bool              `yaml:"updates" doc:"Post the update of a coalesced alert when its window closes (same uuid, vigil.update true, the final vigil.count in output_fields). false: only the first alert of a repeat is posted, so a receiver that drops Vigil's fields (falcosidekick) never sees a repeat as a new alert."`
	TLS           TLS               `yaml:"tls"`
}

// TLS configures an HTTPS client.
type TLS struct {
	CAFile             string `yaml:"ca_file" doc:"PEM CA bundle to verify the server with (default: the system roots)."`
	CertFile           string `yaml:"cert_file" doc:"PEM client certificate (mutual TLS); needs key_file."`
	KeyFile            string `yaml:"key_file" doc:"PEM client key."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" doc:"Do not verify the server certificate (testing only)."`
}

// ProgramOutput pipes alerts, one per line, to a long-running command.
type ProgramOutput struct {
	Output  `yaml:",inline"`
	Command string `yaml:"command" doc:"Command run with /bin/sh -c; alerts are written to its standard input. Restarted if it exits."`
}

// Store is the embedded SQLite alert store that `vigil alerts` and
// /api/alerts query.
type Store struct {
	Enabled       bool          `yaml:"enabled" doc:"Keep alerts in the store."`
	Path          string        `yaml:"path" doc:"SQLite database file; its directory is created."`
	Retention     time.Duration `yaml:"retention" doc:"Alerts older than this are pruned. 0: keep forever."`
	MaxSizeMB     int           `yaml:"max_size_mb" doc:"The oldest alerts are pruned while the data exceeds this size in MiB. 0: no limit."`
	PruneInterval time.Duration `yaml:"prune_interval" doc:"How often retention is applied."`
	BatchSize     int           `yaml:"batch_size" doc:"Alerts written per transaction."`
	FlushInterval time.Duration `yaml:"flush_interval" doc:"Longest time an alert waits before its batch is written."`
	QueueSize     int           `yaml:"queue_size" doc:"Alerts waiting to be written; when full, new ones are dropped and counted."`
	RetryInterval time.Duration `yaml:"retry_interval" doc:"How often a store that cannot be opened (directory missing, filesystem full or read-only) is tried again. The agent runs without it meanwhile and raises an internal alert."`
}

// HTTP is the agent's HTTP endpoint: /healthz, /metrics, /api/alerts.
type HTTP struct {
	Enabled        bool   `yaml:"enabled" doc:"Serve the HTTP endpoint."`
	Listen         string `yaml:"listen" doc:"Listen address: host:port, or unix:PATH for a unix socket (only users the socket's mode lets in can connect)."`
	SocketMode     string `yaml:"socket_mode" doc:"Mode of the unix socket (octal), e.g. 0660 to let the socket's group in. Default 0600: root only."`
	MaxConnections int    `yaml:"max_connections" doc:"Open connections at most; at the cap the oldest idle one is closed for a new one. Idle keep-alive connections close after 30 s, and request headers must arrive within 5 s."`
	FalcoMetrics   bool   `yaml:"falco_metrics" doc:"Also serve Falco's metric names on /metrics (falcosecurity_falco_rules_matches_total, falcosecurity_scap_n_evts_total, ...; docs/outputs.md), read from Vigil's own counters, so that dashboards and alerts written for Falco work."`
	TokenFile      string `yaml:"token_file" doc:"File holding the bearer token of /api/alerts (keep it mode 0600: the agent warns when every user can read it). Empty: the API is disabled (/healthz and /metrics stay open)."`
	CertFile       string `yaml:"cert_file" doc:"TLS certificate (PEM): with key_file, the endpoint (and the console) is served over HTTPS only."`
	KeyFile        string `yaml:"key_file" doc:"TLS private key (PEM) of cert_file."`
}

// Recorder is the flight recorder: the recent events of each container and
// host process tree, kept so that an alert carries its incident (the
// events of its process ancestry before and after it).
type Recorder struct {
	Enabled           bool          `yaml:"enabled" doc:"Record events and attach an incident to every rule alert (stored with the alert; vigil alerts show UUID)."`
	Window            time.Duration `yaml:"window" doc:"How far back each ring keeps events."`
	MaxEvents         int           `yaml:"max_events" doc:"Events kept per container or host process tree."`
	MaxMB             int           `yaml:"max_mb" doc:"Memory of all rings together, in MiB (accounted per event); beyond, the oldest events go (counted in vigil_recorder_evictions_total)."`
	MaxRings          int           `yaml:"max_rings" doc:"Containers and host process trees recorded at once."`
	After             time.Duration `yaml:"after" doc:"How long after an alert its incident keeps collecting the events of its processes."`
	MaxPending        int           `yaml:"max_pending" doc:"Incidents collecting events at once; beyond, the oldest closes early."`
	MaxIncidentEvents int           `yaml:"max_incident_events" doc:"Events of one incident at most (those nearest the alert are kept)."`
}

// Console is the web console on the HTTP endpoint (/console/): alerts,
// incidents, rule hits, the node, posture and image findings.
type Console struct {
	Enabled         bool   `yaml:"enabled" doc:"Serve the web console at /console/ (it needs at least one token file)."`
	AdminTokenFile  string `yaml:"admin_token_file" doc:"File holding the admin token (may reload rules and upload reports). Empty: http.token_file's token is the admin's."`
	ViewerTokenFile string `yaml:"viewer_token_file" doc:"File holding the viewer token (reads only). Empty: no viewer login."`
}

// Hub makes the agent a node of a fleet: alerts (prevention decisions
// included), heartbeats and rule acknowledgements go to the hub over NATS
// JetStream (see docs/fleet.md), and the hub's rule bundles come back.
type Hub struct {
	URL               string         `yaml:"url" doc:"NATS URL of the hub: nats://host:4222, or tls://host:4222 with tls set; several separated by commas (a NATS cluster). Empty: the agent is not part of a fleet. Flag: --hub."`
	Node              string         `yaml:"node" doc:"Node name the agent publishes as (with mTLS it must be its certificate's common name). Empty: the host name, characters other than letters, digits, - and _ turned into _."`
	MinPriority       alert.Priority `yaml:"min_priority" doc:"Alerts below this priority are not sent to the hub."`
	QueueSize         int            `yaml:"queue_size" doc:"Alerts waiting for the hub output in memory; when full, new ones are dropped and counted (queue output.hub)."`
	SpoolDir          string         `yaml:"spool_dir" doc:"Directory of the on-disk spool that holds alerts while the hub is unreachable (0700, files 0600); drained in order when it is back."`
	SpoolMaxMB        int            `yaml:"spool_max_mb" doc:"Bound of the spool in MiB; past it new alerts are dropped and counted (queue fleet.spool)."`
	HeartbeatInterval time.Duration  `yaml:"heartbeat_interval" doc:"How often the node sends its heartbeat (version, rules and policy versions, events/s, lost events by reason, RSS)."`
	RulesDir          string         `yaml:"rules_dir" doc:"Directory where the rule files pushed by the hub are kept (0700, files 0600); loaded after rules.files."`
	TLS               TLS            `yaml:"tls"`
}

// K8sAudit is the Kubernetes audit webhook: the API server's webhook
// backend posts audit.k8s.io/v1 EventList batches to POST /k8s-audit, and
// rules of source k8s_audit evaluate them.
type K8sAudit struct {
	Enabled      bool   `yaml:"enabled" doc:"Serve the audit webhook (off by default)."`
	Listen       string `yaml:"listen" doc:"Listen address (host:port) of the webhook."`
	CertFile     string `yaml:"cert_file" doc:"TLS certificate (PEM) of the listener; required when enabled."`
	KeyFile      string `yaml:"key_file" doc:"TLS private key (PEM) of the certificate; required when enabled."`
	TokenFile    string `yaml:"token_file" doc:"File holding the bearer token the API server sends (its webhook kubeconfig's token); required when enabled."`
	MaxBodyBytes int64  `yaml:"max_body_bytes" doc:"Largest request body accepted; larger ones get 413."`
	QueueSize    int    `yaml:"queue_size" doc:"Accepted batches waiting for evaluation; when full, requests get 429 (counted in vigil_k8s_audit_rejected_total)."`
}

// Sensor configures the eBPF sensor.
type Sensor struct {
	RingSizeMB         int      `yaml:"ring_size_mb" doc:"Size of the main kernel ring buffer in MiB (a power of two): every event type but the critical ones. When it fills, the kernel sheds close and the send/recv family first, then the other file and network events (docs/events.md)."`
	CriticalRingSizeMB int      `yaml:"critical_ring_size_mb" doc:"Size of the critical events' own ring buffer in MiB (a power of two): process lifecycle (exec, fork, exit, kill) and the security types, which a flood of other events can then never push out."`
	EventTypes         []string `yaml:"event_types" doc:"Event types (Falco names such as openat) or categories (process, file, network, security) to capture. Empty: every type."`
}

// Policy configures prevention.
type Policy struct {
	Files []string   `yaml:"files" doc:"Prevention policy files and directories."`
	Gate  PolicyGate `yaml:"gate"`
}

// PolicyGate is the exec gate: a new container's first exec is held before
// its first instruction until its policy is in force.
type PolicyGate struct {
	Enabled     bool          `yaml:"enabled" doc:"Hold the first exec in every cgroup not classified yet (outside the host's mount namespace) until its container's policy is written. Only when policies select containers."`
	Timeout     time.Duration `yaml:"timeout" doc:"Longest hold; then the default applies (counted and alerted)."`
	Default     string        `yaml:"default" doc:"What a task gets when its container could not be classified in time: allow (resumed) or deny (killed)."`
	DenyCgroups []string      `yaml:"deny_cgroups" doc:"Cgroup v2 path globs (path.Match) whose default is deny whatever default says, e.g. /kubepods/*."`
}

// Containers configures container context.
type Containers struct {
	Sockets []string `yaml:"sockets" doc:"Container runtime API sockets to ask for metadata; missing ones are skipped."`
}

// Drift is drift detection: an exec in a container of a file that is not in
// the container's image (containerd images) raises an alert.
type Drift struct {
	Enabled    bool           `yaml:"enabled" doc:"Check every successful exec in a container against the file index of its image."`
	Priority   alert.Priority `yaml:"priority" doc:"Priority of the drift alert (Vigil drift: executable not in image)."`
	MaxPending int            `yaml:"max_pending" doc:"Exec checks queued per container while its image is indexed; more are counted in vigil_drift_execs_total{result=\"unchecked\"}."`
}

// Images configures the vulnerability findings of running images.
type Images struct {
	DB           string        `yaml:"db" doc:"OSV database directory (vigil db import). Empty: running images are not scanned. A missing or empty database is waited for."`
	PollInterval time.Duration `yaml:"poll_interval" doc:"How often the database (its index file) and the running containers are checked; a change rescans."`
	Severities   []string      `yaml:"severities" doc:"Finding severities that raise an alert (CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN)."`
}

// Profiles configures learned workload profiles and their deviation
// alerts (docs/profiles.md).
type Profiles struct {
	Enabled         bool           `yaml:"enabled" doc:"Learn a profile per workload and raise an alert (rule Vigil profile deviation) for behaviour outside it once its learning window has closed. Profiles are kept in the store (store.path)."`
	Key             string         `yaml:"key" doc:"What a workload is: image (the container's image repository) or label:NAME (the pod label, else container label, NAME; containers without it are keyed by image)."`
	LearningWindow  time.Duration  `yaml:"learning_window" doc:"How long a new workload's behaviour is learned, from its first event."`
	Roots           []string       `yaml:"roots" doc:"Directories under which file opens (reads and writes) are recorded; / records every path."`
	MaxProfiles     int            `yaml:"max_profiles" doc:"Profiles kept; workloads beyond are not profiled (counted in vigil_profile_unprofiled_events_total)."`
	AlertsPerMinute int            `yaml:"alerts_per_minute" doc:"Deviation alerts per profile per minute at most (each new behaviour alerts once until accepted); the rest are counted in vigil_profile_alerts_suppressed_total."`
	Priority        alert.Priority `yaml:"priority" doc:"Priority of deviation alerts."`
	SyncInterval    time.Duration  `yaml:"sync_interval" doc:"How often changed profiles are written to the store and versions accepted, imported or merged there (vigil profile accept|import) are put in force."`
}

// DefaultConfig returns the defaults: what an empty file means.
func DefaultConfig() *Config {
	out := func(q int, format string) Output {
		return Output{MinPriority: alert.PriorityDebug, QueueSize: q, Format: format}
	}
	c := &Config{
		LogLevel:  "info",
		LogFormat: "text",
		Rules: Rules{Default: true, MinPriority: alert.PriorityDebug, OnError: RulesOnErrorSkip, Watch: true, WatchInterval: 2 * time.Second,
			StateMaxKeys: 65536, StateMaxMB: 32},
		Dedup: Dedup{Window: 10 * time.Second},
		Outputs: Outputs{
			OverflowAlertInterval: time.Minute,
			Stdout:                StdoutOutput{Output: out(4096, "text")},
			File:                  FileOutput{Output: out(4096, "json"), Path: "/var/log/vigil/alerts.json", MaxSizeMB: 100, MaxBackups: 5},
			Syslog:                SyslogOutput{Output: out(4096, "text"), Network: "unixgram", Address: "/dev/log", Facility: "daemon", AppName: "vigil"},
			HTTP: HTTPOutput{Output: out(4096, "json"), BatchSize: 1, BatchInterval: time.Second, Timeout: 5 * time.Second,
				MaxRetries: 3, RetryBackoff: 500 * time.Millisecond, Workers: 4, Updates: true},
			Program: ProgramOutput{Output: out(4096, "json")},
		},
		Store: Store{Enabled: true, Path: "/var/lib/vigil/alerts.db", Retention: 30 * 24 * time.Hour, MaxSizeMB: 512,
			PruneInterval: 10 * time.Minute, BatchSize: 256, FlushInterval: 200 * time.Millisecond, QueueSize: 16384,
			RetryInterval: 10 * time.Second},
		HTTP:     HTTP{Enabled: true, Listen: "127.0.0.1:8765", SocketMode: "0600", MaxConnections: 64},
		K8sAudit: K8sAudit{Listen: "0.0.0.0:9765", MaxBodyBytes: 4 << 20, QueueSize: 64},
		Hub: Hub{MinPriority: alert.PriorityDebug, QueueSize: 4096, SpoolDir: "/var/lib/vigil/spool", SpoolMaxMB: 256,
			HeartbeatInterval: 10 * time.Second, RulesDir: "/var/lib/vigil/hub-rules"},
		Sensor:     Sensor{RingSizeMB: 8, CriticalRingSizeMB: 2},
		Policy:     Policy{Gate: PolicyGate{Enabled: true, Timeout: 200 * time.Millisecond, Default: "allow"}},
		Containers: Containers{Sockets: []string{"/run/containerd/containerd.sock", "/var/run/docker.sock", "/run/crio/crio.sock", "/run/podman/podman.sock"}},
		Drift:      Drift{Enabled: true, Priority: alert.PriorityCritical, MaxPending: 64},
		Images:     Images{PollInterval: 30 * time.Second, Severities: []string{"CRITICAL"}},
		Profiles: Profiles{Key: "image", LearningWindow: time.Hour, Roots: []string{"/etc", "/bin", "/sbin", "/usr", "/lib", "/lib64", "/root", "/home", "/var", "/tmp", "/opt", "/srv", "/app"},
			MaxProfiles: 4096, AlertsPerMinute: 10, Priority: alert.PriorityWarning, SyncInterval: 2 * time.Second},
		Recorder: Recorder{Enabled: true, Window: 30 * time.Second, MaxEvents: 512, MaxMB: 32, MaxRings: 4096,
			After: 5 * time.Second, MaxPending: 256, MaxIncidentEvents: 256},
		Console: Console{Enabled: true},
	}
	c.Outputs.Stdout.Enabled = true
	return c
}
