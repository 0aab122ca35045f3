package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/landlock"
	"github.com/vigilsec/vigil/internal/policy"
)

// newPolicySandboxCmd builds `vigil policy sandbox`: a policy's file
// section as a Landlock sandbox around a program.
func newPolicySandboxCmd() *cobra.Command {
	var name string
	var show bool
	c := &cobra.Command{
		Use:   "sandbox FILE... [--name POLICY] -- PROGRAM [ARG...]",
		Short: "Run a program under a policy's file section as a Landlock sandbox (cannot be lifted)",
		Long: `Compile the file section of a policy (--name, or the first policy with one) into a
Landlock ruleset, restrict this process with it and execute PROGRAM. The program and
everything it starts stay in the sandbox: it needs no agent, survives the agent's death,
and cannot be lifted or loosened, not even by root in the sandbox. Use it as a
container's entrypoint wrapper. A denied open fails with EACCES. When the sandbox cannot
be made, the program is not run (exit 1). --show prints the ruleset and runs nothing.
See docs/policy.md (Landlock).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, prog := args, []string(nil)
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				files, prog = args[:dash], args[dash:]
			}
			if len(files) == 0 || (len(prog) == 0 && !show) {
				return withExitCode(1, errors.New("want FILE... -- PROGRAM [ARG...]"))
			}
			ps, err := policy.ParseFiles(files...)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return withExitCode(1, fmt.Errorf("%d file(s): invalid policy", len(files)))
			}
			var p *policy.Policy
			for _, q := range ps {
				if (name == "" && (q.File.Default != policy.ActionNone || len(q.File.Rules) > 0)) || (name != "" && q.Name == name) {
					p = q
					break
				}
			}
			if p == nil {
				return withExitCode(1, fmt.Errorf("no policy %q with a file section", name))
			}
			rs, err := landlock.Compile(p, "/")
			if err != nil {
				return withExitCode(1, err)
			}
			if show {
				fmt.Fprintf(cmd.OutOrStdout(), "policy %s: handles %s, %d grants\n", rs.Policy, rs.Handled, len(rs.Grants))
				for _, g := range rs.Grants {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s %s\n", g.Access, g.Path)
				}
				for _, n := range rs.Notes {
					fmt.Fprintln(cmd.OutOrStdout(), "note:", n)
				}
				return nil
			}
			bin, err := exec.LookPath(prog[0])
			if err != nil {
				return withExitCode(1, err)
			}
			// Landlock restricts the calling thread: restrict and execute
			// from the same one.
			runtime.LockOSThread()
			if err := rs.Restrict(); err != nil {
				return withExitCode(1, fmt.Errorf("sandbox not made, %s not run: %w", prog[0], err))
			}
			return withExitCode(1, syscall.Exec(bin, prog, os.Environ()))
		},
	}
	c.Flags().StringVar(&name, "name", "", "the policy whose file section makes the sandbox (default: the first with one)")
	c.Flags().BoolVar(&show, "show", false, "print the ruleset and run nothing")
	return c
}
