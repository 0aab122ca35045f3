package main

import "github.com/spf13/cobra"

// newDoctorCmd is a placeholder until its work lands.
func newDoctorCmd() *cobra.Command {
	return &cobra.Command{Use: "doctor", Short: "Probe what this host offers (kernel, BTF, tracefs, tracepoints, runtimes)", RunE: notBuilt}
}
