// Package advise writes least-privilege policies from what really ran.
//
// NetworkPolicies turns observed connections between labelled pods into
// Kubernetes NetworkPolicies that allow exactly those connections (and, with
// a per-namespace default deny, nothing else). Connections come from a
// `vigil trace --json` capture (FromCapture: connect and accept events with
// pod context) or from a simple JSON list (ReadConnections); a Resolver
// built from manifests maps pod and service addresses to pod labels.
//
// Policy turns what one container did in a capture (programs executed,
// directories written, destinations connected to, ports bound) into a Vigil
// prevention policy in the internal/policy YAML format.
package advise
