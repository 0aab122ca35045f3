// Package leaks reports secrets written in clear in Kubernetes manifests:
// container environment values, ConfigMap data and annotations (of every
// object but Secrets, where secrets belong), found by the secret scanner
// (internal/secrets) with its rules, entropy check, allow-list and path-like
// and placeholder filters. A finding points at the field and line and shows
// a redacted preview, never the secret.
package leaks
