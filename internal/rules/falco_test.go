package rules

import (
	"testing"

	"github.com/vigilsec/vigil/internal/hostnames"
	"github.com/vigilsec/vigil/internal/shareddata"
)

// noDNS resolves nothing, so tests never touch the network.
func noDNS() *hostnames.Resolver {
	return hostnames.New(&hostnames.Options{Lookup: hostnames.StaticLookup(nil)})
}

func TestFalcoStableRulesetLoads(t *testing.T) {
	spec, err := LoadFiles(shareddata.FalcoRules(t))
	if err != nil {
		t.Fatal(err)
	}
	rs := Compile(spec, &CompileOptions{Hosts: noDNS()})
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
