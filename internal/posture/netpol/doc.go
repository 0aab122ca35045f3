// Package netpol evaluates Kubernetes NetworkPolicies and checks their
// coverage: workloads whose pods no ingress or no egress policy selects,
// namespaces without a default deny, rules that allow everything and
// policies that select nothing. CiliumNetworkPolicy and
// CiliumClusterwideNetworkPolicy rules count for coverage and default deny. Evaluator answers whether a given connection
// between pods (or to an outside address) is allowed, with the API's
// semantics (isolation per direction, union of selecting policies, named
// ports, ipBlock with except, endPort).
package netpol
