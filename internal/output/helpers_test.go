package output

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

func testAlert(i int) *alert.Alert {
	return &alert.Alert{
		UUID: alert.NewUUID(), Time: time.Now(), Rule: "Read sensitive file", Priority: alert.PriorityWarning,
		Source: alert.SourceSyscall, Hostname: "h1",
		Output:       "Sensitive file opened (file=/etc/shadow proc=cat\n)",
		OutputFields: []alert.Field{{Name: "fd.name", Value: "/etc/shadow"}, {Name: "proc.pid", Value: int64(i)}, {Name: "container.id", Value: nil}},
		Tags:         []string{"filesystem"},
		Vigil:        alert.Context{Count: 1, Process: []alert.Process{{PID: uint32(i), Comm: "cat", ExePath: "/usr/bin/cat"}}},
	}
}

// checkFalcoShape asserts that body is one Falco JSON alert.
func checkFalcoShape(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, body)
	}
	for _, k := range []string{"uuid", "time", "rule", "priority", "source", "hostname", "output"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("key %q: want a string, got %#v", k, m[k])
		}
	}
	if _, ok := m["output_fields"].(map[string]any); !ok {
		t.Errorf("output_fields: want an object, got %#v", m["output_fields"])
	}
	if _, ok := m["tags"].([]any); !ok {
		t.Errorf("tags: want an array, got %#v", m["tags"])
	}
	if ts, _ := m["time"].(string); ts != "" {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
			t.Errorf("time %q: not RFC 3339 UTC: %v", ts, err)
		}
	}
	if _, err := alert.ParsePriority(m["priority"].(string)); err != nil {
		t.Error(err)
	}
	return m
}

// lines returns the lines of a file.
func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
