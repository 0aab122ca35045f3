package agent

import (
	"slices"
	"testing"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/config"
)

// TestLoadRulesByTag: rules.enable_tags and rules.disable_tags select the
// default rules the agent runs.
func TestLoadRulesByTag(t *testing.T) {
	sel := config.Rules{Default: true, MinPriority: alert.PriorityDebug}
	all, err := loadRules(sel, config.RulesOnErrorFail)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range all.Rules {
		if slices.Contains(r.Tags, "mitre_execution") && !slices.Contains(r.Tags, "host") {
			want = append(want, r.Name)
		}
	}
	sel.EnableTags, sel.DisableTags = []string{"mitre_execution"}, []string{"host"}
	rs, err := loadRules(sel, config.RulesOnErrorFail)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs.Rules {
		got = append(got, r.Name)
	}
	if len(want) == 0 || len(want) == len(all.Rules) || !slices.Equal(got, want) {
		t.Fatalf("enable mitre_execution, disable host: %q, want %q (of %d)", got, want, len(all.Rules))
	}
}
