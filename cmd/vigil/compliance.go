package main

import "github.com/spf13/cobra"

// newComplianceCmd is a placeholder until its work lands.
func newComplianceCmd() *cobra.Command {
	return &cobra.Command{Use: "compliance", Short: "Compliance reports (PCI-DSS, HIPAA, NIST SP 800-190, CIS)", RunE: notBuilt}
}
