package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyValidate(t *testing.T) {
	out, err := runVigil(t, "policy", "validate", "../../internal/policy/testdata/web.yaml")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"policy web-lockdown (enforce)", "cgroup-bpf", "egress set 1 10.20.0.0/16", "exec_rules=", "defaults: egress block"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nscope: {host: true}\nnetwork:\n  egress:\n    rules: [{action: drop}]\n"), 0o644)
	out, err = runVigil(t, "policy", "validate", bad)
	if err == nil || exitCode(err) != exitFindings {
		t.Fatalf("bad policy: err %v (exit %d)", err, exitCode(err))
	}
	if want := bad + `:5:22: action "drop"`; !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
}
