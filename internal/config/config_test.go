package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

func TestDefaultIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadGood(t *testing.T) {
	c, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "node-7" || c.Rules.Default || c.Rules.MinPriority != alert.PriorityWarning ||
		c.Dedup.Window != 30*time.Second || c.Dedup.Rules["Noisy rule"] != 0 || len(c.Dedup.Rules) != 1 ||
		!c.Outputs.File.Enabled || c.Outputs.HTTP.BatchSize != 10 || c.Outputs.HTTP.Headers["Authorization"] != "Bearer x" ||
		c.Sensor.RingSizeMB != 64 || len(c.Sensor.EventTypes) != 2 {
		t.Fatalf("decoded %+v", c)
	}
	// Keys the file does not set keep their defaults.
	if c.Store.Path != "/var/lib/vigil/alerts.db" || c.HTTP.Listen != "127.0.0.1:8765" || c.Outputs.HTTP.Timeout != 5*time.Second {
		t.Fatalf("defaults lost: %+v", c.Store)
	}
	if c.File() != "testdata/good.yaml" {
		t.Error(c.File())
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // substrings, one per expected problem
	}{
		{"unknown_key.bad.yaml", []string{"testdata/unknown_key.bad.yaml:4:5: outputs.stdout.colour: unknown key"}},
		{"bad_type.bad.yaml", []string{"testdata/bad_type.bad.yaml:2:3: store.retention: want a duration such as 10s, 5m, 12h or 7d, got \"forever\""}},
		{"bad_priority.bad.yaml", []string{"bad_priority.bad.yaml:2", "unknown priority \"loud\""}},
		{"syntax.bad.yaml", []string{"syntax.bad.yaml:2:1"}},
		{"recorder.bad.yaml", []string{"recorder.bad.yaml:1:1: recorder: window must be positive",
			"recorder.bad.yaml:1:1: recorder: max_events, max_mb", "recorder.bad.yaml:4:1: http: cert_file and key_file go together"}},
		{"on_error.bad.yaml", []string{"on_error.bad.yaml:2:3: rules.on_error: must be skip or fail, got \"ignore\""}},
		{"many.bad.yaml", []string{
			"many.bad.yaml:1:1: log_level: unknown level \"chatty\"",
			"many.bad.yaml:5:5: outputs.http.url: want an http:// or https:// URL",
			"many.bad.yaml:6:5: outputs.http.batch_size: must be at least 1",
			"many.bad.yaml:9:5: outputs.syslog.network: unknown network \"carrier-pigeon\"",
			"many.bad.yaml:10:5: outputs.syslog.facility: unknown facility \"nope\"",
			"many.bad.yaml:12:3: sensor.ring_size_mb: must be a power of two",
			"many.bad.yaml:15:7: sensor.event_types[1]: unknown event type or category \"teleport\"",
			"many.bad.yaml:17:3: http.listen:",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Load("testdata/" + tc.file)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			var es Errors
			if errors.As(err, &es) && len(es) < len(tc.want) && strings.HasPrefix(tc.file, "many") {
				t.Errorf("%d problems reported, want %d:\n%v", len(es), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load("testdata/nope.yaml"); err == nil {
		t.Fatal("missing explicit file accepted")
	}
}

func TestSet(t *testing.T) {
	c := DefaultConfig()
	for k, v := range map[string]string{
		"outputs.http.enabled": "true", "outputs.http.url": "http://127.0.0.1:1/", "dedup.window": "1m",
		"rules.files": "[/a, /b]", "outputs.stdout.min_priority": "error", "outputs.http.headers.X-Token": "abc",
	} {
		if err := c.Set(k, v); err != nil {
			t.Fatalf("%s=%s: %v", k, v, err)
		}
	}
	if !c.Outputs.HTTP.Enabled || c.Outputs.HTTP.URL != "http://127.0.0.1:1/" || c.Dedup.Window != time.Minute ||
		len(c.Rules.Files) != 2 || c.Outputs.Stdout.MinPriority != alert.PriorityError || c.Outputs.HTTP.Headers["X-Token"] != "abc" {
		t.Fatalf("%+v", c.Outputs.HTTP)
	}
	// Setting one key keeps its siblings.
	if c.Outputs.HTTP.Timeout != 5*time.Second {
		t.Fatal("sibling lost")
	}
	for k, v := range map[string]string{"outputs.nope": "1", "dedup.window": "soon", "store.batch_size": "[1"} {
		if err := c.Set(k, v); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	c, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(y, "show")
	if err != nil {
		t.Fatalf("config show output does not load back: %v\n%s", err, y)
	}
	y2, _ := d.YAML()
	if string(y) != string(y2) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", y, y2)
	}
}

func TestKeysDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if k.Doc == "" {
			t.Errorf("%s has no doc tag", k.Key)
		}
		if seen[k.Key] {
			t.Errorf("%s twice", k.Key)
		}
		seen[k.Key] = true
	}
	for _, k := range []string{"rules.files", "rules.default", "outputs.http.queue_size", "store.path", "store.retention",
		"http.listen", "http.token_file", "sensor.ring_size_mb", "sensor.event_types", "dedup.window", "policy.files",
		"dry_run", "containers.sockets"} {
		if !seen[k] {
			t.Errorf("key %s missing", k)
		}
	}
}
