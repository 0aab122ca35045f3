package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/hub"
)

func newHubCmd() *cobra.Command {
	var (
		listen, natsListen, natsURL, dataDir, storeDSN string
		caFile, certFile, keyFile                      string
		viewerTokenFile, adminTokenFile                string
		clusterName, clusterListen, serverName         string
		routes                                         []string
		replicas                                       int
		logLevel                                       string
	)
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the fleet hub: NATS JetStream (embedded), alert store, HTTP API, rule distribution",
		Long: `Run the fleet hub. Agents started with --hub URL publish their alerts, prevention decisions,
heartbeats and rule acknowledgements to it over NATS JetStream; the hub stores them (SQLite by
default, PostgreSQL with --store postgres://...), serves the HTTP API and distributes rule bundles
through a JetStream key-value bucket. By default it embeds the NATS server (--nats-listen); with
--nats-url it uses an external NATS cluster instead. With --tls-* every NATS and API connection is
mutual TLS and each node may publish only as the node its certificate names (vigil hub certs
makes a CA and the certificates). See docs/fleet.md.`,
		Example: `  vigil hub certs --out /etc/vigil/fleet --hosts hub.example,10.0.0.5 --nodes node1,node2
  vigil hub --tls-ca /etc/vigil/fleet/ca.pem --tls-cert /etc/vigil/fleet/hub.pem --tls-key /etc/vigil/fleet/hub-key.pem \
    --viewer-token-file /etc/vigil/viewer.token --admin-token-file /etc/vigil/admin.token
  vigil hub --store 'postgres://vigil@db/vigil' --nats-url nats://nats1:4222,nats://nats2:4222`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("hub: --log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			if storeDSN == "" {
				storeDSN = filepath.Join(dataDir, "hub.db")
			}
			o := hub.Options{NATSURL: natsURL, Store: storeDSN, Listen: listen, Logger: log,
				NATS: hub.NATSOptions{Name: serverName, Listen: natsListen, StoreDir: filepath.Join(dataDir, "jetstream"),
					ClusterName: clusterName, ClusterListen: clusterListen, Routes: routes},
				Stream: hub.StreamOptions{Replicas: replicas}}
			if caFile != "" || certFile != "" || keyFile != "" {
				if err := o.UseTLS(caFile, certFile, keyFile); err != nil {
					return fmt.Errorf("hub: %w", err)
				}
			}
			for _, t := range []struct {
				path string
				dst  *string
			}{{viewerTokenFile, &o.ViewerToken}, {adminTokenFile, &o.AdminToken}} {
				tok, warn, err := api.ReadToken(t.path)
				if err != nil {
					return fmt.Errorf("hub: %w", err)
				}
				if warn != "" {
					log.Warn(warn)
				}
				*t.dst = tok
			}
			if o.ViewerToken == "" && o.AdminToken == "" {
				log.Warn("no API token configured (--viewer-token-file, --admin-token-file): the API answers 401 to everything")
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			h, err := hub.New(ctx, o)
			if err != nil {
				return err
			}
			defer h.Close()
			log.Info("hub running", "api", listen, "nats", firstNonEmpty(natsURL, h.NATSURL()), "store", redactDSN(storeDSN))
			return h.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8766", "HTTP API address")
	f.StringVar(&natsListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server")
	f.StringVar(&natsURL, "nats-url", "", "use this external NATS (cluster) instead of the embedded server")
	f.StringVar(&dataDir, "data-dir", "/var/lib/vigil-hub", "directory of the SQLite store and the embedded server's JetStream files")
	f.StringVar(&storeDSN, "store", "", "store: a SQLite file (default DATA-DIR/hub.db) or postgres://user@host/db")
	f.StringVar(&caFile, "tls-ca", "", "CA of the fleet (PEM): NATS clients must present a certificate it signed")
	f.StringVar(&certFile, "tls-cert", "", "the hub's certificate (PEM, common name "+hub.HubIdentity+")")
	f.StringVar(&keyFile, "tls-key", "", "the hub's key (PEM)")
	f.StringVar(&viewerTokenFile, "viewer-token-file", "", "file holding the API token of the viewer role (reads)")
	f.StringVar(&adminTokenFile, "admin-token-file", "", "file holding the API token of the admin role (reads, pushes and rolls back rules)")
	f.StringVar(&serverName, "server-name", "vigil-hub", "name of the embedded NATS server (unique in a cluster)")
	f.StringVar(&clusterName, "cluster-name", "vigil", "NATS cluster name, with --cluster-listen")
	f.StringVar(&clusterListen, "cluster-listen", "", "route address of the embedded server in a NATS cluster")
	f.StringArrayVar(&routes, "route", nil, "route to another server of the cluster, nats://host:port (repeatable)")
	f.IntVar(&replicas, "replicas", 1, "replicas of the stream and the rules bucket (3 on a three-server cluster)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.AddCommand(newHubCertsCmd())
	return cmd
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
