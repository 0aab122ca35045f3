package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/agent"
	"github.com/vigilsec/vigil/internal/safefile"
)

func newRunCmd() *cobra.Command {
	var o configFlags
	var cpuProf, memProf string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: sensor, rules, prevention, outputs",
		Long: `Run the agent: the eBPF sensor feeds the process and container context and the rules engine; alerts
go to the configured outputs (stdout by default) and to the alert store (/var/lib/vigil/alerts.db), and
/healthz and /metrics are served on 127.0.0.1:8765. Configuration: /etc/vigil/vigil.yaml (see
docs/config.md), overridden by flags.

Signals: SIGHUP reloads the rules (a broken file keeps the rules in force and raises an internal
alert), SIGUSR1 reopens the file output (after logrotate), SIGTERM and SIGINT stop the agent after
draining the sensor and flushing the outputs and the store.`,
		Example: `  sudo vigil run
  sudo vigil run --json -r ./my_rules.yaml
  sudo vigil run --no-default-rules -r /etc/vigil/rules.d --set outputs.http.enabled=true --set outputs.http.url=http://127.0.0.1:2801/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				// Before anything: the configuration (root-only files),
				// the store and the sensor all need it.
				return errors.New("run: vigil run needs root (the eBPF sensor, prevention and /var/lib/vigil); nothing was started: run it as root (sudo vigil run); `vigil config validate` checks a configuration without root")
			}
			cfg, err := o.load(cmd)
			if err != nil {
				return err
			}
			if cmd.Flag(flagLogFormat).Changed {
				cfg.LogFormat = logFormat(cmd)
			}
			// The Go runtime's soft memory limit (memory_limit_mb); an
			// operator's GOMEMLIMIT, read by the runtime, wins.
			if _, set := os.LookupEnv("GOMEMLIMIT"); !set && cfg.MemoryLimitMB > 0 {
				debug.SetMemoryLimit(int64(cfg.MemoryLimitMB) << 20)
			}
			// Start-up steps on a terminal; log lines written meanwhile
			// erase and redraw the progress line.
			bar := startProgress(cmd, "vigil run")
			a, err := agent.New(cfg, &agent.Options{Stdout: cmd.OutOrStdout(), Logger: agentLogger(cmd, cfg, bar), Progress: bar})
			if err != nil {
				return err
			}
			if cpuProf != "" {
				pf, err := safefile.Create(cpuProf, 0o600)
				if err != nil {
					return fmt.Errorf("run: %w", err)
				}
				defer pf.Commit() // after StopCPUProfile below
				if err := pprof.StartCPUProfile(pf); err != nil {
					return fmt.Errorf("run: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			if memProf != "" {
				// Written when the agent stops: the heap in use then
				// (a flood or 10k processes still running).
				defer func() {
					if pf, err := safefile.Create(memProf, 0o600); err == nil {
						if pprof.Lookup("heap").WriteTo(pf, 0) == nil {
							_ = pf.Commit()
						} else {
							pf.Abort()
						}
					}
				}()
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return a.Run(ctx)
		},
	}
	o.add(cmd)
	cmd.Flags().StringVar(&cpuProf, "cpuprofile", "", "write a Go CPU profile of the agent to this new file")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	cmd.Flags().StringVar(&memProf, "memprofile", "", "write a Go heap profile of the agent to this new file when it stops")
	_ = cmd.Flags().MarkHidden("memprofile")
	return cmd
}
