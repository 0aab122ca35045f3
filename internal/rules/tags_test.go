package rules

import (
	"os"
	"slices"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"
)

// TestTagSelection runs Falco's stable rules with rules enabled and
// disabled by tag, as falco -t and -T do.
func TestTagSelection(t *testing.T) {
	data, err := os.ReadFile(shareddata.FalcoRules(t))
	if err != nil {
		t.Fatal(err)
	}
	disabledRule := []byte(`
- rule: Tagged But Disabled
  desc: a rule disabled in its file
  condition: evt.type = openat and fd.name = /etc/shadow
  output: shadow opened (proc=%proc.name)
  priority: WARNING
  enabled: false
  tags: [host, mitre_credential_access]
- rule: Tagged Broken
  desc: a rule left out by its tag is still checked
  condition: evt.type = openat and fd.nme = /etc/shadow
  output: shadow opened
  priority: WARNING
  tags: [broken_rule]
`)
	files := []File{{Name: "falco_rules.yaml", Data: data}, {Name: "local.yaml", Data: disabledRule}}
	compile := func(o *CompileOptions) (names []string, rs *Ruleset) {
		o.Hosts = noDNS()
		rs = LoadAndCompile(o, files...)
		for _, r := range rs.Rules {
			names = append(names, r.Name)
		}
		return names, rs
	}
	all, rs := compile(&CompileOptions{})
	if len(all) != 25 || rs.Disabled != 1 || len(rs.Broken) != 1 {
		t.Fatalf("without selection: %d rules, %d disabled, broken %v; want Falco's 25, 1, the broken one", len(all), rs.Disabled, rs.Broken)
	}

	// -T host: the 8 stable rules not tagged host (the container-only ones).
	names, rs := compile(&CompileOptions{DisableTags: []string{"host"}})
	if len(names) != 8 || rs.Disabled != 1+17 {
		t.Fatalf("disable host: %d rules, %d disabled; want 8 and 18: %q", len(names), rs.Disabled, names)
	}
	for _, r := range rs.Rules {
		if slices.Contains(r.Tags, "host") {
			t.Errorf("rule %q tagged host still runs", r.Name)
		}
	}
	if !slices.Contains(names, "Contact K8S API Server From Container") || slices.Contains(names, "Read sensitive file untrusted") {
		t.Errorf("disable host: %q", names)
	}

	// -t mitre_credential_access: only the 8 tagged so; the rule disabled in
	// its file stays disabled; a rule left out by tag is still checked.
	names, rs = compile(&CompileOptions{EnableTags: []string{"mitre_credential_access"}})
	if len(names) != 8 {
		t.Fatalf("enable mitre_credential_access: %d rules, want 8: %q", len(names), names)
	}
	for _, r := range rs.Rules {
		if !slices.Contains(r.Tags, "mitre_credential_access") {
			t.Errorf("rule %q without the tag runs", r.Name)
		}
	}
	if slices.Contains(names, "Tagged But Disabled") || len(rs.Broken) != 1 || rs.Broken[0].Name != "Tagged Broken" {
		t.Errorf("enable mitre_credential_access: %q, broken %v", names, rs.Broken)
	}

	// Several tags: any of them selects; disable wins over enable.
	_, full := compile(&CompileOptions{})
	var want []string
	for _, r := range full.Rules {
		if (slices.Contains(r.Tags, "network") || slices.Contains(r.Tags, "mitre_credential_access")) && !slices.Contains(r.Tags, "host") {
			want = append(want, r.Name)
		}
	}
	names, _ = compile(&CompileOptions{EnableTags: []string{"network", "mitre_credential_access"}, DisableTags: []string{"host"}})
	if len(want) == 0 || !slices.Equal(names, want) {
		t.Errorf("enable network or credential access, disable host: %q, want %q", names, want)
	}
	names, _ = compile(&CompileOptions{EnableTags: []string{"no_such_tag"}})
	if len(names) != 0 {
		t.Errorf("enable a tag no rule has: %q run", names)
	}
}
