package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// The child side of TestLandlockRuleset: restricted by the ruleset in
// VIGIL_TEST_LANDLOCK, it becomes the command in VIGIL_TEST_LANDLOCK_ARGS.
func init() {
	f := os.Getenv("VIGIL_TEST_LANDLOCK")
	if f == "" {
		return
	}
	data, err := os.ReadFile(f)
	var rs LandlockRuleset
	if err == nil {
		err = json.Unmarshal(data, &rs)
	}
	if err == nil {
		err = rs.ExecRestricted(strings.Split(os.Getenv("VIGIL_TEST_LANDLOCK_ARGS"), "\x1f"))
	}
	fmt.Fprintln(os.Stderr, "landlock child:", err)
	os.Exit(126)
}

// TestLandlockRuleset: a program run under the Landlock ruleset of a
// profile (the host's static busybox; a read file, a written file) does
// what the profile holds (reads its file, writes its output) and is denied
// the rest (another file read, a write elsewhere, another program).
func TestLandlockRuleset(t *testing.T) {
	const bb = "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		testkernel.Skip(t, "no static busybox (apt-get install busybox-static): "+err.Error())
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); e != 0 {
		testkernel.Skip(t, "Landlock not available: "+e.Error())
	}
	dir := t.TempDir()
	in, outDir, other := filepath.Join(dir, "in", "allowed.txt"), filepath.Join(dir, "out"), filepath.Join(dir, "other")
	for _, d := range []string{filepath.Dir(in), outDir, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(in, []byte("landlock-ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "secret.txt"), []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := New("image:test", Limits{}, time.Now(), time.Minute)
	for _, it := range []Item{{KindProgram, bb}, {KindRead, in}, {KindWrite, filepath.Join(outDir, "copy.txt")}} {
		if err := p.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	js, err := Landlock(p).JSON()
	if err != nil {
		t.Fatal(err)
	}
	rsFile := filepath.Join(dir, "landlock.json")
	if err := os.WriteFile(rsFile, js, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "VIGIL_TEST_LANDLOCK="+rsFile, "VIGIL_TEST_LANDLOCK_ARGS="+strings.Join(args, "\x1f"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(bb, "cat", in); err != nil || out != "landlock-ok\n" {
		t.Fatalf("reading the profile's file: %v %q", err, out)
	}
	if out, err := run(bb, "cp", in, filepath.Join(outDir, "copy.txt")); err != nil {
		t.Fatalf("writing the profile's output: %v %q", err, out)
	}
	for _, c := range [][]string{
		{bb, "cat", filepath.Join(other, "secret.txt")},
		{bb, "cp", in, filepath.Join(other, "evil.txt")},
		{"/usr/bin/id"},
	} {
		out, err := run(c...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(out, "ermission denied") {
			t.Errorf("%q under the ruleset: %v %q, want permission denied", c, err, out)
		}
	}
}
