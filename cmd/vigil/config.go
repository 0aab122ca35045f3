package main

import "github.com/spf13/cobra"

// newConfigCmd is a placeholder until its work lands.
func newConfigCmd() *cobra.Command {
	return &cobra.Command{Use: "config", Short: "Show the effective configuration", RunE: notBuilt}
}
