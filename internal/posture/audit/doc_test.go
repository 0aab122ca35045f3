package audit

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/posture.md")

const docPath = "../../../docs/posture.md"

// TestPostureDoc keeps the check table of docs/posture.md in sync with the
// catalogue.
func TestPostureDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("| id | severity | profile | title | fix |\n|---|---|---|---|---|\n")
	for _, c := range Catalog() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", c.ID, c.Severity, c.Profile, c.Title, strings.ReplaceAll(c.Fix, "|", "\\|"))
	}
	const begin = "<!-- BEGIN GENERATED: checks (go test ./internal/posture/audit -run TestPostureDoc -update) -->\n"
	const end = "<!-- END GENERATED -->"
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-section markers", docPath)
	}
	want := append(append(append([]byte{}, doc[:i+len(begin)]...), b.String()...), doc[j:]...)
	if bytes.Equal(doc, want) {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale: run go test ./internal/posture/audit -run TestPostureDoc -update", docPath)
}
