package main

import "github.com/spf13/cobra"

// newRulesCmd is a placeholder until its work lands.
func newRulesCmd() *cobra.Command {
	return &cobra.Command{Use: "rules", Short: "Validate, list and document rules", RunE: notBuilt}
}
