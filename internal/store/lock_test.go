package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

func TestQueryWhileRunStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.db")
	for round := 0; round < 5; round++ {
		s := openT(t, path, Options{Retention: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		for i := 0; i < 20; i++ {
			s.Add(mk("R", "host", alert.PriorityError, time.Now()))
			if _, err := s.Query(context.Background(), Filter{}); err != nil {
				t.Fatalf("round %d query %d: %v", round, i, err)
			}
			// A second process (vigil alerts) opening while the agent writes.
			r, err := OpenExisting(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Query(context.Background(), Filter{}); err != nil {
				t.Fatalf("round %d reader %d: %v", round, i, err)
			}
			r.Close()
		}
		cancel()
		<-done
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
