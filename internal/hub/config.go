package hub

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/config"
)

// Config is `vigil hub`'s configuration: the file of `vigil hub --config
// FILE` (YAML, read by config.DecodeYAML: every problem at once, each at
// its file:line:col) and the command's flags, one flag per key (a flag
// given on the command line wins over the file). Options turns it into the
// hub's Options.
type Config struct {
	// Listen is the HTTP API's and console's address.
	Listen string `yaml:"listen" flag:"listen" usage:"HTTP API and console address"`
	// DataDir holds the SQLite store and the embedded server's JetStream
	// files.
	DataDir string `yaml:"data_dir" flag:"data-dir" usage:"directory of the SQLite store and the embedded server's JetStream files"`
	// Store is a SQLite file (default DATA_DIR/hub.db) or postgres://...
	Store      string        `yaml:"store" flag:"store" usage:"store: a SQLite file (default DATA-DIR/hub.db) or postgres://user@host/db"`
	AliveAfter time.Duration `yaml:"alive_after" flag:"alive-after" usage:"a node is alive while its last heartbeat is younger than this"`
	LogLevel   LogLevel      `yaml:"log_level" flag:"log-level" usage:"debug, info, warn or error"`
	NATS       struct {
		Listen        string   `yaml:"listen" flag:"nats-listen" usage:"client address of the embedded NATS server"`
		URL           string   `yaml:"url" flag:"nats-url" usage:"use this external NATS (cluster) instead of the embedded server"`
		ServerName    string   `yaml:"server_name" flag:"server-name" usage:"name of the embedded NATS server (unique in a cluster)"`
		ClusterName   string   `yaml:"cluster_name" flag:"cluster-name" usage:"NATS cluster name, with --cluster-listen"`
		ClusterListen string   `yaml:"cluster_listen" flag:"cluster-listen" usage:"route address of the embedded server in a NATS cluster"`
		Routes        []string `yaml:"routes" flag:"route" usage:"route to another server of the cluster, nats://host:port (repeatable)"`
		Replicas      int      `yaml:"replicas" flag:"replicas" usage:"replicas of the stream and the rules bucket (3 on a three-server cluster)"`
	} `yaml:"nats"`
	TLS struct {
		CAFile   string `yaml:"ca_file" flag:"tls-ca" usage:"CA of the fleet (PEM): NATS clients must present a certificate it signed"`
		CertFile string `yaml:"cert_file" flag:"tls-cert" usage:"the hub's certificate (PEM, common name vigil-hub)"`
		KeyFile  string `yaml:"key_file" flag:"tls-key" usage:"the hub's key (PEM)"`
	} `yaml:"tls"`
	Tokens struct {
		ViewerFile string `yaml:"viewer_file" flag:"viewer-token-file" usage:"file holding the API token of the viewer role (reads)"`
		AdminFile  string `yaml:"admin_file" flag:"admin-token-file" usage:"file holding the API token of the admin role (reads, pushes and rolls back rules)"`
	} `yaml:"tokens"`
}

// LogLevel is the level of the hub's log: debug, info, warn or error.
type LogLevel slog.Level

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LogLevel) UnmarshalText(b []byte) error {
	var v slog.Level
	if err := v.UnmarshalText(b); err != nil {
		return fmt.Errorf("want debug, info, warn or error, got %q", b)
	}
	*l = LogLevel(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (l LogLevel) MarshalText() ([]byte, error) {
	return []byte(strings.ToLower(slog.Level(l).String())), nil
}

// DefaultConfig is the configuration without a file or flags.
func DefaultConfig() Config {
	var c Config
	c.Listen = "127.0.0.1:8766"
	c.DataDir = "/var/lib/vigil-hub"
	c.AliveAfter = 30 * time.Second
	c.LogLevel = LogLevel(slog.LevelInfo)
	c.NATS.Listen = "127.0.0.1:4222"
	c.NATS.ServerName = "vigil-hub"
	c.NATS.ClusterName = "vigil"
	c.NATS.Replicas = 1
	return c
}

// LoadConfig reads a configuration file over the defaults. The returned
// positions place the later problems Options finds.
func LoadConfig(path string) (Config, *config.Positions, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, nil, fmt.Errorf("hub: config: %w", err)
	}
	p, err := config.DecodeYAML(b, path, &c)
	return c, p, err
}

// Options checks c and makes the hub's Options: it reads the token files
// and the TLS files. Every problem is reported at once (config.Errors), at
// its key's position when a file (p, which may be nil) set it. Warnings
// are for the log.
func (c Config) Options(p *config.Positions, log *slog.Logger) (Options, []string, error) {
	if p == nil {
		p = &config.Positions{}
	}
	var errs config.Errors
	var warns []string
	bad := func(key, format string, args ...any) { errs = append(errs, p.Errorf(key, format, args...)) }
	for _, a := range []struct {
		key, addr string
		required  bool
	}{{"listen", c.Listen, false}, {"nats.listen", c.NATS.Listen, c.NATS.URL == ""}, {"nats.cluster_listen", c.NATS.ClusterListen, false}} {
		if a.addr == "" {
			if a.required {
				bad(a.key, "want host:port")
			}
			continue
		}
		if _, _, err := splitHostPort(a.addr); err != nil {
			bad(a.key, "%v", err)
		}
	}
	for i, r := range c.NATS.Routes {
		if u, err := url.Parse(r); err != nil || u.Host == "" {
			bad(fmt.Sprintf("nats.routes[%d]", i), "%q: want nats://host:port", r)
		}
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		bad("nats.replicas", "%d: want 1 to 5 (3 on a three-server cluster)", c.NATS.Replicas)
	}
	if c.AliveAfter <= 0 {
		bad("alive_after", "want a positive duration")
	}
	store := c.Store
	if store == "" {
		store = filepath.Join(c.DataDir, "hub.db")
	}
	o := Options{NATSURL: c.NATS.URL, Store: store, Listen: c.Listen, AliveAfter: c.AliveAfter, Logger: log,
		NATS: NATSOptions{Name: c.NATS.ServerName, Listen: c.NATS.Listen, StoreDir: filepath.Join(c.DataDir, "jetstream"),
			ClusterName: c.NATS.ClusterName, ClusterListen: c.NATS.ClusterListen, Routes: c.NATS.Routes},
		Stream: StreamOptions{Replicas: c.NATS.Replicas}}
	if t := c.TLS; t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" {
		key := "tls.ca_file"
		switch {
		case t.CAFile == "":
		case t.CertFile == "":
			key = "tls.cert_file"
		case t.KeyFile == "":
			key = "tls.key_file"
		}
		if t.CAFile == "" || t.CertFile == "" || t.KeyFile == "" {
			bad(key, "TLS needs ca_file, cert_file and key_file together")
		} else if err := o.UseTLS(t.CAFile, t.CertFile, t.KeyFile); err != nil {
			bad("tls", "%v", err)
		}
	}
	for _, t := range []struct {
		key, path string
		dst       *string
	}{{"tokens.viewer_file", c.Tokens.ViewerFile, &o.ViewerToken}, {"tokens.admin_file", c.Tokens.AdminFile, &o.AdminToken}} {
		tok, warn, err := api.ReadToken(t.path)
		if err != nil {
			bad(t.key, "%v", err)
			continue
		}
		if warn != "" {
			warns = append(warns, warn)
		}
		*t.dst = tok
	}
	if len(errs) > 0 {
		return o, warns, errs
	}
	if o.ViewerToken == "" && o.AdminToken == "" {
		warns = append(warns, "no API token configured (tokens.viewer_file, tokens.admin_file): the API answers 401 to everything")
	}
	return o, warns, nil
}
