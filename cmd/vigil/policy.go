package main

import "github.com/spf13/cobra"

// newPolicyCmd is a placeholder until its work lands.
func newPolicyCmd() *cobra.Command {
	return &cobra.Command{Use: "policy", Short: "Validate prevention policies", RunE: notBuilt}
}
