package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
)

// newPolicyCmd builds `vigil policy`: prevention policies.
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Validate prevention policies"}
	cmd.AddCommand(newPolicyValidateCmd())
	return cmd
}

func newPolicyValidateCmd() *cobra.Command {
	var quiet bool
	c := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check policy files and print what they would enforce (mechanisms, maps)",
		Long: `Parse and validate policy files. Errors are reported as file:line:col: reason,
all at once, and the command exits 1. On success, the plan of each policy is printed:
the kernel mechanisms it needs and the map entries it would write, computed for a
container its scope selects (or the host). Nothing is loaded; no root needed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := policy.ParseFiles(args...)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return withExitCode(1, fmt.Errorf("%d file(s): invalid policy", len(args)))
			}
			if quiet {
				return nil
			}
			return printPlans(cmd.OutOrStdout(), ps)
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only check, print nothing on success")
	return c
}

// exampleTarget returns a target the policy's scope selects: the host, or
// a container whose metadata are the scope's own patterns.
func exampleTarget(p *policy.Policy) enforce.Target {
	if p.Scope.Host {
		return enforce.Target{CgroupPath: "/", CgroupID: 1}
	}
	c := &event.Container{ID: "example", Name: "example", PodLabels: map[string]string{}}
	s := p.Scope
	if len(s.Images) > 0 {
		c.Repository = s.Images[0]
	}
	if len(s.Names) > 0 {
		c.Name = s.Names[0]
	}
	if len(s.Namespaces) > 0 {
		c.PodNamespace = s.Namespaces[0]
	}
	for k, v := range s.PodLabels {
		c.PodLabels[k] = v
	}
	return enforce.Target{Container: c, CgroupPath: "/<container cgroup>", CgroupID: 2}
}

func printPlans(w io.Writer, ps []*policy.Policy) error {
	for _, p := range ps {
		fmt.Fprintf(w, "policy %s (%s) from %s\n", p.Name, p.Mode, p.Pos)
		pl, err := enforce.BuildPlan([]*policy.Policy{p}, []enforce.Target{exampleTarget(p)}, 1)
		if err != nil {
			return withExitCode(1, fmt.Errorf("policy %s: %w", p.Name, err))
		}
		if _, err := pl.WriteTo(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return nil
}
