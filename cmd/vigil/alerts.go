package main

import "github.com/spf13/cobra"

// newAlertsCmd is a placeholder until its work lands.
func newAlertsCmd() *cobra.Command {
	return &cobra.Command{Use: "alerts", Short: "Query the alert store", RunE: notBuilt}
}
