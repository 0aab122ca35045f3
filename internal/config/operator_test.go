package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// goTypeName matches what a Go decoder leaks into messages: "into
// time.Duration", "!!str", "config.Output", "int64".
var goTypeName = regexp.MustCompile(`time\.Duration|!!\w+|config\.\w+|alert\.\w+|\bint64\b|\binto (int|bool|string)\b|unmarshal`)

// TestEveryDecodeErrorAtOnce: a file with several wrong values and unknown
// keys gets one error per problem, each with file:line:col and the key,
// and none names a Go type.
func TestEveryDecodeErrorAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	writeFile(t, path, `log_level: loud
rules:
  watch_interval: 2x
  min_priority: sortof
outputs:
  stdout:
    queue_size: many
    colour: red
  http:
    enabled: maybe
store:
  retention: 30d
  batch_size: [1, 2]
`)
	_, err := Load(path)
	if err == nil {
		t.Fatal("accepted")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("not ErrInvalid: %v", err)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("not Errors: %T %v", err, err)
	}
	want := []string{
		path + ":1:1: log_level: unknown level \"loud\"",
		path + ":3:3: rules.watch_interval: want a duration",
		path + ":4:3: rules.min_priority: unknown priority \"sortof\"",
		path + ":7:5: outputs.stdout.queue_size: want an integer, got \"many\"",
		path + ":8:5: outputs.stdout.colour: unknown key",
		path + ":10:5: outputs.http.enabled: want true or false, got \"maybe\"",
		path + ":13:3: store.batch_size: want an integer, got a list",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q", w)
		}
	}
	if len(es) != len(want) {
		t.Errorf("%d problems reported, want %d:\n%v", len(es), len(want), err)
	}
	if m := goTypeName.FindString(err.Error()); m != "" {
		t.Errorf("error names a Go type (%q):\n%v", m, err)
	}
}

// TestDurationsWithDays: "d" is accepted wherever a duration is, alone or
// with Go's units, in the file, in --set and in the environment.
func TestDurationsWithDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "0.5d": 12 * time.Hour,
		"90s": 90 * time.Second, "0": 0, "2h30m": 150 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "3dd", "1x", "-", "1d-", "forever"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	writeFile(t, path, "store:\n  retention: 7d\ndedup:\n  rules:\n    Noisy: 1d\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Retention != 7*24*time.Hour || c.Dedup.Rules["Noisy"] != 24*time.Hour {
		t.Errorf("retention %v, dedup %v", c.Store.Retention, c.Dedup.Rules)
	}
	if err := c.Set("images.poll_interval", "2d"); err != nil || c.Images.PollInterval != 48*time.Hour {
		t.Errorf("Set 2d: %v, %v", err, c.Images.PollInterval)
	}
}

// TestEnvironmentOverrides: VIGIL_<KEY> (dots as underscores, upper case)
// overrides the file; a bad value is an error naming the variable; VIGIL_
// variables that name no key (VIGIL_REQUIRE_PRIVILEGED, a test's
// VIGIL_STORE_CRASH_DB) are not configuration.
func TestEnvironmentOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	writeFile(t, path, "outputs:\n  http:\n    url: http://file:2801/\n")
	env := []string{"VIGIL_OUTPUTS_HTTP_URL=http://env:2801/", "VIGIL_OUTPUTS_HTTP_ENABLED=true", "VIGIL_STORE_RETENTION=14d",
		"VIGIL_RULES_FILES=[/a, /b]", "VIGIL_K8S_AUDIT_MAX_BODY_BYTES=1024", "VIGIL_REQUIRE_PRIVILEGED=1", "PATH=/bin"}
	c, err := LoadWith(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Outputs.HTTP.URL != "http://env:2801/" || !c.Outputs.HTTP.Enabled || c.Store.Retention != 14*24*time.Hour ||
		len(c.Rules.Files) != 2 || c.Rules.Files[1] != "/b" || c.K8sAudit.MaxBodyBytes != 1024 {
		t.Errorf("environment not applied: %+v %+v %v %v", c.Outputs.HTTP, c.Store, c.Rules.Files, c.K8sAudit.MaxBodyBytes)
	}
	_, err = LoadWith(path, []string{"VIGIL_STORE_BATCH_SIZE=lots", "VIGIL_STORE_QUEUE_SIZE=[1]", "VIGIL_STORE_CRASH_DB=/x"})
	if err == nil {
		t.Fatal("bad environment accepted")
	}
	for _, w := range []string{"VIGIL_STORE_BATCH_SIZE: store.batch_size: want an integer, got \"lots\"", "VIGIL_STORE_QUEUE_SIZE: store.queue_size: want an integer, got a list"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "CRASH_DB") {
		t.Errorf("a VIGIL_ variable that names no key is an error: %v", err)
	}
}

// TestDropIns: config.d/*.yaml beside the file are read after it in name
// order (later wins, lists replace, maps merge); errors name the drop-in
// file and line; rules.d beside the file is added to rules.files.
func TestDropIns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yaml")
	writeFile(t, path, "hostname: main\ndedup:\n  rules:\n    A: 1s\noutputs:\n  http:\n    headers: {X-One: \"1\"}\n")
	writeFile(t, filepath.Join(dir, "config.d", "20-late.yaml"), "hostname: late\n")
	writeFile(t, filepath.Join(dir, "config.d", "10-early.yaml"), "hostname: early\ndedup:\n  rules:\n    B: 2s\noutputs:\n  http:\n    headers: {X-Two: \"2\"}\n")
	writeFile(t, filepath.Join(dir, "config.d", "README"), "not yaml: [")
	writeFile(t, filepath.Join(dir, "rules.d", "local.yaml"), "[]\n")
	c, err := LoadWith(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "late" || c.Dedup.Rules["A"] != time.Second || c.Dedup.Rules["B"] != 2*time.Second ||
		c.Outputs.HTTP.Headers["X-One"] != "1" || c.Outputs.HTTP.Headers["X-Two"] != "2" {
		t.Errorf("drop-ins not merged: %q %v %v", c.Hostname, c.Dedup.Rules, c.Outputs.HTTP.Headers)
	}
	if len(c.Rules.Files) != 1 || c.Rules.Files[0] != filepath.Join(dir, "rules.d") {
		t.Errorf("rules.files %v, want [%s]", c.Rules.Files, filepath.Join(dir, "rules.d"))
	}
	// A problem in a drop-in names it; one in the main file too: both at once.
	writeFile(t, path, "hostname: main\nlog_level: loud\n")
	writeFile(t, filepath.Join(dir, "config.d", "30-bad.yaml"), "store:\n  queue_size: -x\n")
	c, err = LoadWith(path, nil)
	if err == nil {
		err = c.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.d", "30-bad.yaml")+":2:3: store.queue_size: want an integer") {
		t.Errorf("drop-in error not positioned: %v", err)
	}
	// Validation errors of a key a drop-in set point into the drop-in.
	writeFile(t, filepath.Join(dir, "config.d", "30-bad.yaml"), "\nlog_level: loud\n")
	c, err = LoadWith(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.d", "30-bad.yaml")+":2:1: log_level: unknown level") {
		t.Errorf("validation error not in the drop-in: %v", err)
	}
}
