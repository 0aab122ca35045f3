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
	cmd.AddCommand(newAlertsShowCmd())
	return cmd
}

func newAlertsShowCmd() *cobra.Command {
	var db, cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show UUID",
		Short: "Print one alert with its process ancestry, container and incident timeline",
		Long: `Print the alert UUID from the store, its container and pod, its process ancestry and its incident: the
events of its processes the flight recorder kept before the alert and, for recorder.after, after it
(the event that raised the alert is marked with '>').`,
		Example: `  vigil alerts show 0b7c2d4e-1f3a-8c5d-9e6f-a1b2c3d4e5f6`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			ctx := context.Background()
			a, err := st.Get(ctx, args[0])
			if err != nil {
				return err
			}
			if a == nil {
				return fmt.Errorf("alerts show: no alert %s in %s", args[0], db)
			}
			inc, err := st.Incident(ctx, a.UUID)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			if asJSON {
				b := append(a.AppendJSON(nil), '\n')
				if inc != nil {
					ib, err := alert.MarshalIncident(inc)
					if err != nil {
						return err
					}
					b = append(append(b, ib...), '\n')
				}
				_, _ = w.Write(b)
				return w.Flush()
			}
			_, _ = w.Write(appendAlertDetail(nil, a, inc))
			return w.Flush()
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&asJSON, "json", false, "print the alert's Falco JSON line, then the incident's JSON line")
	fl.StringVar(&db, "db", "", "alert database (default: store.path of the configuration)")
	fl.StringVar(&cfgPath, "config", config.DefaultPath, "configuration file, for store.path")
	return cmd
}

// appendAlertDetail is the text form of one alert and its incident; every
// string from the event is escaped for the terminal.
func appendAlertDetail(b []byte, a *alert.Alert, inc *alert.Incident) []byte {
	line := func(k, v string) {
		b = append(b, k...)
		b = append(b, ": "...)
		b = termtext.Append(b, v)
		b = append(b, '\n')
	}
	line("uuid", a.UUID)
	line("time", a.Time.UTC().Format(time.RFC3339Nano))
	line("rule", a.Rule)
	line("priority", a.Priority.String())
	line("node", a.Hostname)
	line("output", a.Output)
	if c := a.Vigil.Container; c != nil {
		line("container", c.ID+" "+c.Name+" "+c.Image)
		if c.PodName != "" {
			line("pod", c.PodNamespace+"/"+c.PodName)
		}
	} else {
		line("container", "host")
	}
	if a.Vigil.Count > 1 {
		line("count", fmt.Sprint(a.Vigil.Count))
	}
	b = append(b, "ancestry:\n"...)
	for i, p := range a.Vigil.Process {
		b = fmt.Appendf(b, "  %*s%d ", 2*i, "", p.PID)
		b = termtext.Append(b, p.Comm)
		if p.ExePath != "" {
			b = append(b, ' ')
			b = termtext.Append(b, p.ExePath)
		}
		for _, arg := range p.Args {
			b = append(b, ' ')
			b = termtext.Append(b, arg)
		}
		b = append(b, '\n')
	}
	if inc == nil {
		return append(b, "incident: none recorded\n"...)
	}
	state := "complete"
	if !inc.Complete {
		state = "after window still open"
	}
	if inc.Truncated {
		state += ", truncated"
	}
	b = fmt.Appendf(b, "incident (%d events, %s):\n", len(inc.Events), state)
	t0 := a.Time.UnixNano()
	for _, e := range inc.Events {
		mark := ' '
		if e.Alert {
			mark = '>'
		}
		b = fmt.Appendf(b, "%c %+9.3fs %-8d ", mark, float64(e.Time-t0)/1e9, e.PID)
		b = termtext.Append(b, e.Comm)
		b = append(b, ' ')
		b = termtext.Append(b, e.Type)
		b = append(b, ' ')
		b = termtext.Append(b, e.What)
		if e.Ret < 0 {
			b = fmt.Appendf(b, " = %d", e.Ret)
		}
		b = append(b, '\n')
	}
	return b
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
