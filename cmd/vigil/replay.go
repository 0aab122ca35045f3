package main

import "github.com/spf13/cobra"

// newReplayCmd is a placeholder until its work lands.
func newReplayCmd() *cobra.Command {
	return &cobra.Command{Use: "replay", Short: "Evaluate rules over a capture written by vigil trace --json", RunE: notBuilt}
}
