package main

import "github.com/spf13/cobra"

// newRunCmd is a placeholder until its work lands.
func newRunCmd() *cobra.Command {
	return &cobra.Command{Use: "run", Short: "Run the agent: sensor, rules, prevention, outputs", RunE: notBuilt}
}
