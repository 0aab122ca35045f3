package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRootCmd builds the whole command tree. Each subcommand lives in its own
// file and is built by its own constructor.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Vigil: container runtime security (see, detect, prevent)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newDoctorCmd(),
		newTraceCmd(),
		newRulesCmd(),
		newReplayCmd(),
		newRunCmd(),
		newConfigCmd(),
		newAlertsCmd(),
		newPolicyCmd(),
		newImageCmd(),
		newDBCmd(),
		newK8sCmd(),
		newAdviseCmd(),
		newComplianceCmd(),
		newProfileCmd(),
		newHubCmd(),
	)
	addDiagFlags(root)
	return root
}

// exitError carries a specific exit status out of a command (for example
// `vigil image scan --exit-code N` or `vigil rules validate`).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExitCode wraps err so that vigil exits with code.
func withExitCode(code int, err error) error { return &exitError{code: code, err: err} }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

// notBuilt is the RunE of a command whose work has not landed yet.
func notBuilt(cmd *cobra.Command, _ []string) error {
	return errors.New(cmd.CommandPath() + ": not built yet")
}
