package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// retimed rewrites a recorded capture with event i at the first event's time
// plus i times gap (times unchanged when gap is 0), so the same events
// happen further apart in event time.
func retimed(t *testing.T, src string, gap time.Duration) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := event.NewCaptureReader(bufio.NewReader(f))
	var out []byte
	var first int64
	for i := 0; ; i++ {
		var ev event.Event
		err := rd.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = ev.Time
		} else if gap > 0 {
			ev.Time = first + int64(i)*int64(gap)
		}
		out = event.AppendJSON(out, &ev)
	}
	p := filepath.Join(t.TempDir(), "capture.jsonl")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplayStatefulByEventTime replays the recorded download-then-execute
// attack: the sequence rule fires, twice byte-identically; with the same
// events 11 minutes apart in event time (the window is 10 minutes) it does
// not, although the replay itself takes milliseconds either way.
func TestReplayStatefulByEventTime(t *testing.T) {
	const rule = "Vigil Download Then Execute"
	capture := filepath.Join("..", "..", "rules", "testdata", "captures", "download-then-execute", "fire.jsonl")
	args := []string{"replay", "--hostname", "h1", capture}
	out1, stderr, err := runRulesCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if n := strings.Count(out1, `"rule":"`+rule+`"`); n != 1 {
		t.Fatalf("%s fired %d times on the recorded attack:\n%s", rule, n, out1)
	}
	if !strings.Contains(out1, "downloader=wget") || !strings.Contains(out1, "file=/tmp/payload") {
		t.Errorf("output lacks the download step's fields:\n%s", out1)
	}
	out2, _, err := runRulesCLI(t, args...)
	if err != nil || out1 != out2 {
		t.Fatalf("replay of a stateful rule is not deterministic:\n%s\n---\n%s", out1, out2)
	}
	within, _, err := runRulesCLI(t, "replay", "--hostname", "h1", retimed(t, capture, 9*time.Minute))
	if err != nil || strings.Count(within, `"rule":"`+rule+`"`) != 1 {
		t.Fatalf("events 9 minutes apart (inside the window): %v\n%s", err, within)
	}
	late, _, err := runRulesCLI(t, "replay", "--hostname", "h1", retimed(t, capture, 11*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(late, `"rule":"`+rule+`"`) {
		t.Fatalf("events 11 minutes apart in event time fired the 10-minute sequence:\n%s", late)
	}
}

// TestRulesListStateful: `vigil rules list` says how a stateful default
// rule keeps state.
func TestRulesListStateful(t *testing.T) {
	out, stderr, err := runRulesCLI(t, "rules", "list")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"threshold 15 distinct evt.arg.addr by container within 10s",
		"sequence(download) by container within 10m0s", "sequence(shell) by process_tree within 1m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules list lacks %q", want)
		}
	}
}
