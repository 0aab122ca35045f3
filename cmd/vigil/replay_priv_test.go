package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/shareddata"

	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestTraceThenReplay records a real capture of `cat /etc/shadow` with the
// sensor and replays Falco's stable rules over it: "Read sensitive file
// untrusted" must fire, with the fields the sensor and enrichment filled.
func TestTraceThenReplay(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	bin := buildVigil(t)
	var capture, stderr bytes.Buffer
	cmd := exec.Command(bin, "trace", "--json", "--", "sh", "-c", "cat /etc/shadow > /dev/null")
	cmd.Stdout, cmd.Stderr = &capture, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vigil trace: %v\n%s", err, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	if err := os.WriteFile(path, capture.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runRulesCLI(t, "replay", "--no-default-rules", "-r", shareddata.FalcoRules(t), "--hostname", "h", path)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut)
	}
	var found map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a map[string]any
		if json.Unmarshal([]byte(line), &a) == nil && a["rule"] == "Read sensitive file untrusted" {
			found = a
		}
	}
	if found == nil {
		t.Fatalf("no alert for cat /etc/shadow; alerts:\n%s\ncapture:\n%s", out, capture.String())
	}
	of := found["output_fields"].(map[string]any)
	if of["fd.name"] != "/etc/shadow" || of["proc.name"] != "cat" || of["proc.pname"] != "sh" || of["evt.type"] != "openat" {
		t.Fatalf("output fields %v", of)
	}
}
