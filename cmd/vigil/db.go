package main

import "github.com/spf13/cobra"

// newDBCmd is a placeholder until its work lands.
func newDBCmd() *cobra.Command {
	return &cobra.Command{Use: "db", Short: "Manage the offline vulnerability database", RunE: notBuilt}
}
