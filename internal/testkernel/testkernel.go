// Package testkernel gates tests that need privileges or kernel features.
//
// A test that needs root, eBPF, cgroups or a container runtime calls one of
// the Require functions. When the environment lacks the capability the test
// is skipped with the reason, unless VIGIL_REQUIRE_PRIVILEGED=1 is set (as
// CI does): then the skip becomes a failure, so that CI cannot pass by
// skipping the tests that matter.
package testkernel

import (
	"os"
	"testing"
)

// EnvRequire is the environment variable that turns skips into failures.
const EnvRequire = "VIGIL_REQUIRE_PRIVILEGED"

// Required reports whether privileged tests must run (CI).
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Skip skips tb with reason, or fails it when privileged tests are required.
func Skip(tb testing.TB, reason string) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%s=1 but the test cannot run: %s", EnvRequire, reason)
	}
	tb.Skip(reason)
}

// RequireRoot skips (or fails, see Skip) unless the test runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Skip(tb, "needs root")
	}
}

// SkipIfErr skips (or fails) when err, a capability probe's result, is not
// nil. Use it with the same probes production code uses to choose a path.
func SkipIfErr(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		Skip(tb, err.Error())
	}
}
