package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/termtext"
)

// newPolicyCmd builds `vigil policy`: prevention policies.
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Validate prevention policies"}
	cmd.AddCommand(newPolicyValidateCmd(), newPolicyEnforceCmd(), newPolicySandboxCmd())
	return cmd
}

func newPolicyEnforceCmd() *cobra.Command {
	var cgroups []string
	var dryRun bool
	c := &cobra.Command{
		Use:   "enforce FILE...",
		Short: "Enforce policies on the host and on cgroups until interrupted, printing decisions",
		Long: `Load policy files and enforce them until SIGINT/SIGTERM, printing every decision
as a JSON line. Each --cgroup NAME=PATH is treated as a container named NAME whose
cgroup v2 directory is PATH (absolute or relative to the v2 mount), so that scopes
selecting containers by name apply to it. The agent (vigil run) does the same with
the containers it discovers. Needs root. Enforcement ends when the command exits.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := policy.ParseFiles(args...)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return withExitCode(1, fmt.Errorf("%d file(s): invalid policy", len(args)))
			}
			var targets []enforce.Target
			for _, cg := range cgroups {
				name, path, ok := strings.Cut(cg, "=")
				if !ok {
					return fmt.Errorf("--cgroup %q: want NAME=PATH", cg)
				}
				// A plain cgroup shares the host's root filesystem.
				targets = append(targets, enforce.Target{
					Container: &event.Container{ID: name, Name: name}, CgroupPath: path, RootPID: os.Getpid()})
			}
			e, err := enforce.New(enforce.Options{DryRun: dryRun})
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.Apply(ps, targets); err != nil {
				return err
			}
			for _, w := range e.Plan().Warnings {
				warn(cmd, fmt.Sprint(w))
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "enforcing; interrupt to stop")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			enc := json.NewEncoder(cmd.OutOrStdout())
			for {
				select {
				case <-ctx.Done():
					return nil
				case d, ok := <-e.Decisions():
					if !ok {
						return nil
					}
					enc.Encode(d)
				}
			}
		},
	}
	c.Flags().StringArrayVar(&cgroups, "cgroup", nil, "NAME=PATH: treat the cgroup v2 directory PATH as a container named NAME (repeatable)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be blocked, block nothing")
	return c
}

func newPolicyValidateCmd() *cobra.Command {
	var rf *reportFlags
	c := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check policy files and print what they would enforce (mechanisms, maps)",
		Long: `Parse and validate policy files. Errors are reported as file:line:col: reason,
all at once. On success, the plan of each policy is printed: the kernel mechanisms
it needs and the map entries it would write, computed for a container its scope
selects (or the host); -f json writes {"policies": [...], "errors": [...]}. Nothing
is loaded; no root needed.

An invalid policy file is a finding of severity high: exit status 3 when it
reaches --fail-on (high by default), 1 when a file cannot be read, 0 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			for _, a := range args {
				f, err := os.Open(a)
				if err != nil {
					return fmt.Errorf("policy validate: %w", err)
				}
				f.Close()
			}
			ps, perr := policy.ParseFiles(args...)
			w, finish, err := rf.open(cmd)
			if err != nil {
				return err
			}
			switch {
			case rf.format == "json":
				err = writePolicyValidationJSON(w, ps, perr)
			case perr != nil:
				for _, l := range strings.Split(perr.Error(), "\n") {
					fmt.Fprintln(cmd.ErrOrStderr(), termtext.String(l))
				}
			case !quiet(cmd): // -q: only check, print nothing on success
				err = printPlans(w, ps)
			}
			if err := finish(err); err != nil {
				return err
			}
			if perr != nil {
				if verdict := rf.verdict("invalid policy files", finding.High); verdict != nil {
					return verdict
				}
			}
			return nil
		},
	}
	rf = addReportFlags(c, "high", "text", "json")
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
	return enforce.Target{Container: c, CgroupPath: "/<container cgroup>", CgroupID: 2, RootPID: -1}
}

// writePolicyValidationJSON writes the policies read and the errors found.
func writePolicyValidationJSON(w io.Writer, ps []*policy.Policy, perr error) error {
	type pol struct {
		Name     string `json:"name"`
		Mode     string `json:"mode"`
		Position string `json:"position"`
	}
	out := struct {
		Policies []pol    `json:"policies"`
		Errors   []string `json:"errors"`
	}{Policies: []pol{}, Errors: []string{}}
	for _, p := range ps {
		out.Policies = append(out.Policies, pol{p.Name, p.Mode.String(), fmt.Sprint(p.Pos)})
	}
	if perr != nil {
		for _, l := range strings.Split(perr.Error(), "\n") {
			if l != "" {
				out.Errors = append(out.Errors, l)
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
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
