package rules

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// falcoRulesPath finds ../shared/falco/falco_rules.yaml relative to the
// repository root by walking up from the test directory.
func falcoRulesPath(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "..", "shared", "falco", "falco_rules.yaml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("falco_rules.yaml not found in ../shared/falco above the test directory")
		}
		dir = parent
	}
}

// noDNS resolves nothing, so tests never touch the network.
func noDNS(string) []netip.Addr { return nil }

func TestFalcoStableRulesetLoads(t *testing.T) {
	spec, err := LoadFiles(falcoRulesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	rs := Compile(spec, &CompileOptions{Resolve: noDNS})
	for _, d := range rs.Diags {
		t.Log(d)
	}
	st := rs.Files[0]
	if st.Rules != 25 || st.Macros != 87 || st.Lists != 49 || st.Errors != 0 {
		t.Fatalf("got rules=%d macros=%d lists=%d errors=%d, want 25/87/49/0", st.Rules, st.Macros, st.Lists, st.Errors)
	}
	if len(spec.Rules) != 25 {
		t.Fatalf("spec has %d rules", len(spec.Rules))
	}
}
