package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/hub"
)

func newHubCmd() *cobra.Command {
	var configFile string
	flagCfg := hub.DefaultConfig() // the flags' values
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the fleet hub: NATS JetStream (embedded), alert store, HTTP API, rule distribution",
		Long: `Run the fleet hub. Agents started with --hub URL publish their alerts, prevention decisions,
heartbeats and rule acknowledgements to it over NATS JetStream; the hub stores them (SQLite by
default, PostgreSQL with --store postgres://...), serves the HTTP API and distributes rule bundles
through a JetStream key-value bucket. By default it embeds the NATS server (--nats-listen); with
--nats-url it uses an external NATS cluster instead. With --tls-* every NATS and API connection is
mutual TLS and each node may publish only as the node its certificate names (vigil hub certs
makes a CA and the certificates). --config reads the same settings from a YAML file (a flag
given on the command line wins). See docs/fleet.md.`,
		Example: `  vigil hub certs --out /etc/vigil/fleet --hosts hub.example,10.0.0.5 --nodes node1,node2
  vigil hub --tls-ca /etc/vigil/fleet/ca.pem --tls-cert /etc/vigil/fleet/hub.pem --tls-key /etc/vigil/fleet/hub-key.pem \
    --viewer-token-file /etc/vigil/viewer.token --admin-token-file /etc/vigil/admin.token
  vigil hub --store 'postgres://vigil@db/vigil' --nats-url nats://nats1:4222,nats://nats2:4222
  vigil hub --config /etc/vigil/hub.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, pos := flagCfg, (*config.Positions)(nil)
			if configFile != "" {
				var err error
				if cfg, pos, err = hub.LoadConfig(configFile); err != nil {
					return err
				}
				cmd.Flags().Visit(func(f *pflag.Flag) { hubFlagOver(&cfg, &flagCfg, f.Name) })
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(cfg.LogLevel)}))
			o, warns, err := cfg.Options(pos, log)
			if err != nil {
				return err
			}
			for _, w := range warns {
				log.Warn(w)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			h, err := hub.New(ctx, o)
			if err != nil {
				return err
			}
			defer h.Close()
			log.Info("hub running", "api", o.Listen, "nats", firstNonEmpty(o.NATSURL, h.NATSURL()), "store", redactDSN(o.Store))
			return h.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML file of these settings (see docs/fleet.md); flags given win over it")
	hubFlags(cmd.Flags(), reflect.ValueOf(&flagCfg).Elem())
	cmd.AddCommand(newHubCertsCmd())
	return cmd
}

// hubFlags defines one flag per field of hub.Config with a flag tag, bound
// to that field, its default the field's value.
func hubFlags(f *pflag.FlagSet, v reflect.Value) {
	for i := range v.NumField() {
		fv, ft := v.Field(i), v.Type().Field(i)
		name, usage := ft.Tag.Get("flag"), ft.Tag.Get("usage")
		if name == "" {
			if ft.Type.Kind() == reflect.Struct {
				hubFlags(f, fv)
			}
			continue
		}
		switch p := fv.Addr().Interface().(type) {
		case *string:
			f.StringVar(p, name, *p, usage)
		case *[]string:
			f.StringArrayVar(p, name, *p, usage)
		case *int:
			f.IntVar(p, name, *p, usage)
		case *time.Duration:
			f.DurationVar(p, name, *p, usage)
		case *hub.LogLevel:
			f.TextVar(p, name, *p, usage)
		default:
			panic(fmt.Sprintf("hub flag %s: type %T", name, p))
		}
	}
}

// hubFlagOver copies the field of the flag name from src to dst.
func hubFlagOver(dst, src *hub.Config, name string) {
	var walk func(d, s reflect.Value) bool
	walk = func(d, s reflect.Value) bool {
		for i := range d.NumField() {
			ft := d.Type().Field(i)
			if ft.Tag.Get("flag") == name {
				d.Field(i).Set(s.Field(i))
				return true
			}
			if ft.Tag.Get("flag") == "" && ft.Type.Kind() == reflect.Struct && walk(d.Field(i), s.Field(i)) {
				return true
			}
		}
		return false
	}
	walk(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

func newHubCertsCmd() *cobra.Command {
	var out string
	var hosts, nodes []string
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make a CA, the hub's certificate and one certificate per node (files 0600) for a first deployment",
		Example: `  vigil hub certs --out ./fleet --hosts hub.example,10.0.0.5 --nodes node1,node2,node3
  vigil run --hub tls://hub.example:4222 --set hub.node=node1 --set hub.tls.ca_file=./fleet/ca.pem \
    --set hub.tls.cert_file=./fleet/node-node1.pem --set hub.tls.key_file=./fleet/node-node1-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("hub certs: --out is required")
			}
			files, err := hub.GenerateCerts(hub.CertsOptions{Dir: out, Hosts: hosts, Nodes: nodes})
			for _, f := range files {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write into (created 0700; existing files are never replaced)")
	cmd.Flags().StringSliceVar(&hosts, "hosts", nil, "the hub's DNS names and IP addresses (default localhost,127.0.0.1,::1)")
	cmd.Flags().StringSliceVar(&nodes, "nodes", nil, "node names, one client certificate each (common name = node name)")
	return cmd
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// redactDSN hides a password in a PostgreSQL DSN for logs.
func redactDSN(dsn string) string {
	if at := strings.LastIndexByte(dsn, '@'); at > 0 {
		if i := strings.Index(dsn, "://"); i >= 0 && i < at {
			if c := strings.IndexByte(dsn[i+3:at], ':'); c >= 0 {
				return dsn[:i+3+c+1] + "***" + dsn[at:]
			}
		}
	}
	return dsn
}
