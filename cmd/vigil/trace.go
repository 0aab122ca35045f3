package main

import "github.com/spf13/cobra"

// newTraceCmd is a placeholder until its work lands.
func newTraceCmd() *cobra.Command {
	return &cobra.Command{Use: "trace", Short: "Stream kernel events as JSON lines or text", RunE: notBuilt}
}
