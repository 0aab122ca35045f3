package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"runtime"
	"testing"
)

// TestVersionNamesEmbeddedObjects checks `vigil version --json` against the
// committed BPF object files: the hashes are of the bytes in the binary.
func TestVersionNamesEmbeddedObjects(t *testing.T) {
	out, err := runVigil(t, "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Version, Commit, Date string
		GoVersion             string                          `json:"go_version"`
		Objects               []struct{ Name, SHA256 string } `json:"bpf_objects"`
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if in.GoVersion != runtime.Version() || in.Version == "" || in.Commit == "" || in.Date == "" {
		t.Errorf("incomplete: %+v", in)
	}
	want := map[string]string{
		"vigil_x86_bpfel.o": "../../internal/sensor/vigil_x86_bpfel.o",
		"empty_x86_bpfel.o": "../../internal/sensor/empty_x86_bpfel.o",
		"enforce_bpfel.o":   "../../internal/enforce/enforce_bpfel.o",
	}
	if len(in.Objects) != len(want) {
		t.Fatalf("objects %+v, want %d", in.Objects, len(want))
	}
	for _, o := range in.Objects {
		b, err := os.ReadFile(want[o.Name])
		if err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		sum := sha256.Sum256(b)
		if o.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: sha256 %s, file has %x", o.Name, o.SHA256, sum)
		}
	}
	text, err := runVigil(t, "version")
	if err != nil || len(text) == 0 {
		t.Fatalf("text form: %v %q", err, text)
	}
}
