package main

import "github.com/spf13/cobra"

// newImageCmd is a placeholder until its work lands.
func newImageCmd() *cobra.Command {
	return &cobra.Command{Use: "image", Short: "SBOMs, vulnerability scans and trust checks for images", RunE: notBuilt}
}
