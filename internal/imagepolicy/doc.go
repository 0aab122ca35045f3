// Package imagepolicy decides whether an image may be trusted: its
// reference comes from an allowed registry (prefix match on a "/" boundary,
// Docker Hub names normalised), is pinned by digest, does not use the
// "latest" tag, the image runs as a non-root user, and (optionally) it is
// minimal: no shells or package managers.
//
// Policies are YAML files parsed by Load/Parse; mistakes are reported as
// *PolicyError with file:line:col. Verify evaluates a policy against an
// opened image (package image) and returns a Report whose Violations are
// empty when the image is trusted.
package imagepolicy
