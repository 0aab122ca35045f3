package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateCatchesWhatRunRejects: each configuration here passed
// `vigil config validate` but made `vigil run` fail to start. validate must
// report each, at the key's line in the file.
func TestValidateCatchesWhatRunRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	emptyToken := write("empty.token", "\n")
	brokenRules := write("broken_rules.yaml", "- required_engine_version: [\n")
	brokenPolicy := write("broken_policy.yaml", "name: p\nscope: {host: true}\nprocess:\n  default: explode\n")
	notPEM := write("ca.pem", "not a certificate\n")
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"listen port out of range", "http:\n  listen: 127.0.0.1:99999\n", "config.yaml:2:3: http.listen"},
		{"empty token file", "http:\n  token_file: " + emptyToken + "\n", "config.yaml:2:3: http.token_file"},
		{"rules that do not compile, with on_error: fail", "rules:\n  on_error: fail\n  files: [" + brokenRules + "]\n", "config.yaml:3:3: rules.files"},
		{"policy that does not parse", "policy:\n  files: [" + brokenPolicy + "]\n", "config.yaml:2:3: policy.files"},
		{"CA file that is no certificate", "outputs:\n  http:\n    enabled: true\n    url: http://127.0.0.1:9/\n    tls:\n      ca_file: " + notPEM + "\n", "config.yaml:5:5: outputs.http.tls"},
		{"file output under a regular file", "outputs:\n  file:\n    enabled: true\n    path: " + notPEM + "/alerts.json\n", "config.yaml:4:5: outputs.file.path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := write("config.yaml", c.yaml)
			_, _, err := runVigilCmd(t, "config", "validate", "--config", cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("validate: %v, want an error at %s", err, c.want)
			}
		})
	}
}
