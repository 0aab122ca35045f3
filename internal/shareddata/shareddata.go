// Package shareddata locates, for tests, the upstream material that lives in
// the shared directory beside the repository (../shared: Falco's stable
// ruleset, the kubernetes-goat manifests). That material is read from there
// and never copied into the repository.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir names the shared directory explicitly, overriding the search.
const EnvDir = "VIGIL_SHARED"

// Path returns the path of rel inside the shared directory: $VIGIL_SHARED/rel
// when the variable is set, else the first "shared/rel" found in the working
// directory or one of its parents. The test fails when it is missing: the
// data is always there beside a checkout, in CI too.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	if d := os.Getenv(EnvDir); d != "" {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("%s=%s: %v", EnvDir, d, err)
		}
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("shared/%s not found in %s or its parents (set %s)", rel, wd, EnvDir)
		}
	}
}

// FalcoRules is the path of Falco's stable ruleset, falco/falco_rules.yaml.
func FalcoRules(tb testing.TB) string {
	tb.Helper()
	return Path(tb, "falco/falco_rules.yaml")
}

// KubernetesGoat is the directory of the kubernetes-goat manifests.
func KubernetesGoat(tb testing.TB) string {
	tb.Helper()
	return Path(tb, "k8s/kubernetes-goat")
}

// K8sAuditRules is the path of Falco's Kubernetes audit ruleset,
// falco/k8s_audit_rules.yaml.
func K8sAuditRules(tb testing.TB) string {
	tb.Helper()
	return Path(tb, "falco/k8s_audit_rules.yaml")
}
