package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// buildVigilForAll builds vigil into a directory every user can enter.
func buildVigilForAll(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// asNobody returns a function running bin as nobody (uid/gid 65534)
// through setpriv.
func asNobody(t *testing.T, bin string) func(args ...string) (stdout, stderr string, code int) {
	t.Helper()
	testkernel.RequireRoot(t) // to drop to another user
	if _, err := exec.LookPath("setpriv"); err != nil {
		testkernel.Skip(t, "setpriv (util-linux) not installed")
	}
	dir := filepath.Dir(bin)
	return func(args ...string) (string, string, int) {
		var so, se bytes.Buffer
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return so.String(), se.String(), 0
		case errors.As(err, &ee):
			return so.String(), se.String(), ee.ExitCode()
		}
		t.Fatal(err)
		return "", "", -1
	}
}

// testNotRoot (a subtest of TestDiagnostics): `vigil run` as an ordinary user stops at once with an error
// that says it needs root, before reading the configuration or creating
// anything; `vigil doctor` marks the probes it may not make as not checked
// instead of reporting missing kernel features.
func testNotRoot(t *testing.T, bin string) {
	run := asNobody(t, bin)
	tmp := t.TempDir()
	store := filepath.Join(tmp, "store", "alerts.db")
	_, stderr, code := run("run", "--set", "store.path="+store, "--set", "http.enabled=false")
	if code != 1 || !strings.Contains(stderr, "vigil run needs root") || !strings.Contains(stderr, "nothing was started") {
		t.Errorf("run as nobody: exit %d, stderr %q", code, stderr)
	}
	if strings.Contains(stderr, "agent running") || strings.Contains(stderr, "sensor cannot load") {
		t.Errorf("run as nobody started the agent: %q", stderr)
	}
	if _, err := os.Stat(filepath.Dir(store)); err == nil {
		t.Error("run as nobody created the store directory")
	}

	stdout, stderr, code := run("doctor")
	if code != 1 || !strings.Contains(stderr, "not running as root") {
		t.Errorf("doctor as nobody: exit %d, stderr %q", code, stderr)
	}
	for _, wrong := range []string{"tracepoint missing", "needs Linux", "cannot be enforced"} {
		if strings.Contains(stdout, wrong) {
			t.Errorf("doctor as nobody says %q, which is not true of this host:\n%s", wrong, stdout)
		}
	}
	if !strings.Contains(stdout, "SKIP  tracepoint syscalls:sys_exit_openat") || !strings.Contains(stdout, "FAIL  root") {
		t.Errorf("doctor as nobody: no SKIP line for the tracepoints or no FAIL root line:\n%s", stdout)
	}
}
