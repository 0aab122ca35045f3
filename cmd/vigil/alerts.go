package main

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/termtext"
)

func newAlertsCmd() *cobra.Command {
	var (
		since, until, rule, ctr, prio, db, cfgPath string
		limit                                      int
		asJSON                                     bool
	)
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Query the alert store",
		Long: `Query the alerts the agent stored (oldest first; the newest --limit ones). The database is --db, or
store.path of the configuration (/var/lib/vigil/alerts.db by default). It can be queried while the agent
runs.`,
		Example: `  vigil alerts --since 1h
  vigil alerts --rule "Vigil Sensitive File Read" --container 3f2a9c1b7d4e --json
  vigil alerts --priority warning --since 2d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			get := map[string]string{"since": since, "until": until, "rule": rule, "container": ctr, "priority": prio}
			if limit > 0 {
				get["limit"] = fmt.Sprint(limit)
			}
			f, err := api.ParseFilter(func(k string) string { return get[k] }, time.Now())
			if err != nil {
				return fmt.Errorf("alerts: %w", err)
			}
			if db == "" {
				c, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				db = c.Store.Path
			}
			st, err := store.OpenExisting(db)
			if err != nil {
				return err
			}
			defer st.Close()
			as, err := st.Query(context.Background(), f)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			var b []byte
			for _, a := range as {
				if asJSON {
					b = a.AppendJSON(b[:0])
				} else {
					b = appendAlertLine(b[:0], a)
				}
				b = append(b, '\n')
				if _, err := w.Write(b); err != nil {
					return err
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if !asJSON {
				note(cmd, fmt.Sprintf("%d alerts", len(as)))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "only alerts since this time: a duration back from now (30m, 1h, 2d) or RFC 3339")
	fl.StringVar(&until, "until", "", "only alerts until this time (same forms as --since)")
	fl.StringVar(&rule, "rule", "", "only alerts of this rule (exact name)")
	fl.StringVar(&ctr, "container", "", `only alerts of this container id (12 characters or full; "host" for host processes)`)
	fl.StringVar(&prio, "priority", "", "only alerts at this priority or more severe (emergency ... debug)")
	fl.IntVar(&limit, "limit", 1000, "at most this many alerts (the newest)")
	fl.BoolVar(&asJSON, "json", false, "print Falco JSON lines")
	fl.StringVar(&db, "db", "", "alert database (default: store.path of the configuration)")
	fl.StringVar(&cfgPath, "config", config.DefaultPath, "configuration file, for store.path")
	return cmd
}

// appendAlertLine is the text form plus the rule and container.
func appendAlertLine(b []byte, a *alert.Alert) []byte {
	b = a.AppendText(b)
	b = append(b, " [rule="...)
	b = termtext.Append(b, a.Rule)
	b = append(b, " container="...)
	b = termtext.Append(b, a.ContainerID())
	return append(b, ']')
}
