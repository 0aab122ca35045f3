package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/agent"
	"github.com/vigilsec/vigil/internal/config"
)

// configFlags are the flags `vigil run` and `vigil config show` share. Each
// turns into a config key (the flag names follow the keys).
type configFlags struct {
	path           string
	rules          []string
	noDefaultRules bool
	json           bool
	dryRun         bool
	set            []string
	hub            string
	tags           tagFlags
}

func (o *configFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.path, "config", config.DefaultPath, "configuration file (a missing default file means all defaults)")
	f.StringArrayVarP(&o.rules, "rules", "r", nil, "rules file or directory, after those of rules.files (repeatable)")
	f.BoolVar(&o.noDefaultRules, "no-default-rules", false, "do not load the embedded default rules (rules.default: false)")
	f.BoolVar(&o.json, "json", false, "write alerts to stdout as Falco JSON (outputs.stdout.format: json)")
	f.BoolVar(&o.dryRun, "dry-run", false, "report prevention actions without carrying them out (dry_run: true)")
	f.StringVar(&o.hub, "hub", "", "publish alerts, heartbeats and rule acknowledgements to this hub's NATS URL (hub.url)")
	o.tags.add(cmd)
	f.StringArrayVar(&o.set, "set", nil, "override any configuration key: --set outputs.http.url=http://sidekick:2801/ (repeatable)")
}

// load reads the configuration and applies the flags over it (flags win),
// then validates it.
func (o *configFlags) load(cmd *cobra.Command) (*config.Config, error) {
	c, err := config.Load(o.path)
	if err != nil {
		return nil, err
	}
	for _, kv := range o.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want KEY=VALUE", kv)
		}
		if err := c.Set(strings.TrimSpace(k), v); err != nil {
			return nil, fmt.Errorf("--set: %w", err)
		}
	}
	f := cmd.Flags()
	if len(o.rules) > 0 {
		c.Rules.Files = append(c.Rules.Files, o.rules...)
	}
	c.Rules.EnableTags = append(c.Rules.EnableTags, o.tags.enable...)
	c.Rules.DisableTags = append(c.Rules.DisableTags, o.tags.disable...)
	if f.Changed("no-default-rules") {
		c.Rules.Default = !o.noDefaultRules
	}
	if f.Changed("json") && o.json {
		c.Outputs.Stdout.Format = "json"
	}
	if f.Changed("dry-run") {
		c.DryRun = o.dryRun
	}
	if f.Changed("hub") {
		c.Hub.URL = o.hub
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective or the default configuration",
		Long:  "Show the effective configuration (file, then flags) or the defaults, as YAML. Every key is documented in docs/config.md.",
	}
	var o configFlags
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration as YAML (after the file and flags; validated)",
		Example: `  vigil config show
  vigil config show --config ./vigil.yaml --set dedup.window=30s -r ./my_rules.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.load(cmd)
			if err != nil {
				return err
			}
			y, err := c.YAML()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(y)
			return err
		},
	}
	o.add(show)
	def := &cobra.Command{
		Use:   "default",
		Short: "Print the default configuration as YAML (a starting point for /etc/vigil/vigil.yaml)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			y, err := config.DefaultConfig().YAML()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(y)
			return err
		},
	}
	var vo configFlags
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration; print every problem with file:line:col",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := vo.load(cmd)
			if err == nil {
				err = agent.Check(c) // what `vigil run` loads, by the same code
			}
			if err != nil {
				return withExitCode(1, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration OK")
			return nil
		},
	}
	vo.add(validate)
	cmd.AddCommand(show, def, validate)
	return cmd
}
