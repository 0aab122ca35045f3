package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/progress"
)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStartupProgress: Run shows its start-up steps on the progress line
// and erases it before it logs "agent running"; log lines written during
// start-up never share the bar's line.
func TestStartupProgress(t *testing.T) {
	s := newSinks(t)
	p := filepath.Join(t.TempDir(), "rules.yaml")
	_ = os.WriteFile(p, []byte(shadowRule), 0o600)
	cfg := s.config(t, p)
	var out syncBuffer
	bar := progress.Start(&out, "vigil run", true)
	log := slog.New(slog.NewTextHandler(bar.Wrap(&out), nil))
	a, err := New(cfg, &Options{Source: &fakeSource{ch: make(chan struct{})}, NoSignals: true, Logger: log, Progress: bar})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, "agent running", func() bool { return strings.Contains(out.String(), "agent running") })
	cancel()
	<-done
	text := out.String()
	for _, stage := range []string{"vigil run: starting", "vigil run: connecting to container runtimes", "vigil run: reading the process table"} {
		if !strings.Contains(text, stage) {
			t.Errorf("no %q on the progress line: %q", stage, text)
		}
	}
	j := strings.Index(text, "msg=\"agent running\"")
	k := strings.LastIndex(text[:max(j, 0)], "time=")
	if j < 0 || k < 4 || text[k-4:k] != "\r\033[K" {
		t.Errorf("agent running not on a cleared line of its own: %q", text)
	}
	if strings.Contains(text[j:], "vigil run:") {
		t.Errorf("progress drawn after the agent runs: %q", text[j:])
	}
}
