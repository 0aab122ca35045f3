package main

import "github.com/spf13/cobra"

// newAdviseCmd is a placeholder until its work lands.
func newAdviseCmd() *cobra.Command {
	return &cobra.Command{Use: "advise", Short: "Write least-privilege policies from recorded activity", RunE: notBuilt}
}
