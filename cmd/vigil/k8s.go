package main

import "github.com/spf13/cobra"

// newK8sCmd is a placeholder until its work lands.
func newK8sCmd() *cobra.Command {
	return &cobra.Command{Use: "k8s", Short: "Audit Kubernetes manifests (RBAC, workloads, network policies)", RunE: notBuilt}
}
