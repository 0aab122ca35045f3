// Package rbac computes effective Kubernetes RBAC permissions from manifests
// (bindings × roles, ClusterRole aggregation through aggregationRule label
// selectors, wildcards, subresources, resourceNames), answers who-can
// queries, and flags dangerous grants: wildcards, reading secrets, escalate,
// bind, impersonate, pods/exec|attach|portforward, nodes/proxy, creating
// pods, persistent volumes or service-account tokens, approving CSRs,
// editing admission webhooks, deleting events, cluster-admin bound to
// non-system subjects, default service accounts with roles, and workloads
// whose service account can take over the cluster.
//
// The built-in cluster-admin ClusterRole is assumed when the manifests do
// not define it; other unknown roles are reported in Analyzer.Notes.
package rbac
