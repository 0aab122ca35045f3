// Package charttest renders Vigil's Helm chart (deploy/helm/vigil) with
// Helm's own engine, offline, and checks what comes out: every object
// decodes strictly into its Kubernetes type (unknown fields are errors),
// the agent's configuration file passes Vigil's config validation, the
// policies parse, `vigil k8s audit` of the objects reports only the
// findings docs/deploy.md accepts, and deploy/kubernetes/vigil.yaml is the
// chart rendered with its defaults.
//
// It is its own Go module so that Helm's dependencies stay out of Vigil's
// build; .ci/run runs its tests (`cd deploy/charttest && go mod tidy && go
// test ./...`): it requires Vigil through a replace directive, so a
// dependency added to Vigil's go.mod needs a `go mod tidy` here.
package charttest
