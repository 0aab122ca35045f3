package config

import (
	"os"
	"testing"
)

// TestDocs checks that docs/config.md is the rendering of the struct.
func TestDocs(t *testing.T) {
	const path = "../../docs/config.md"
	want := Markdown()
	if os.Getenv("VIGIL_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run VIGIL_UPDATE_DOCS=1 go test ./internal/config/ -run TestDocs)", err)
	}
	if string(got) != want {
		t.Fatal("docs/config.md is stale: run VIGIL_UPDATE_DOCS=1 go test ./internal/config/ -run TestDocs")
	}
}
