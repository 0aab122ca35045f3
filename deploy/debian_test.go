package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// unitLine returns the value of key= in the unit file.
func unitLine(t *testing.T, unit, key string) string {
	t.Helper()
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	t.Fatalf("%s: no %s=", unit, key)
	return ""
}

// TestDebianPackage installs the .deb, checks its files, runs the unit's
// ExecStart command line as systemd would, sees an alert in the file
// output, sends the unit's ExecReload signal, then removes and purges the
// package. TestDebianPackageUnderSystemd does the same through systemctl,
// with systemd as PID 1.
func TestDebianPackage(t *testing.T) {
	testkernel.RequireRoot(t)
	for _, tool := range []string{"dpkg", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: %v", tool, err)
		}
	}
	if out, err := run(repoRoot, nil, "dpkg-query", "-W", "-f=${Status}", "vigil"); err == nil && strings.Contains(out, "installed") {
		t.Fatalf("a vigil package is already installed here (%s): not touching it", out)
	}
	deb := filepath.Join(workDir, "vigil.deb")
	if _, err := run(repoRoot, []string{"VIGIL_DEB_VERSION=0.0.1~test"}, "deploy/debian/build.sh", deb, release(t)); err != nil {
		t.Fatal(err)
	}
	purge := func() { run(repoRoot, nil, "dpkg", "--purge", "vigil") }
	t.Cleanup(purge)
	if out, err := run(repoRoot, nil, "dpkg", "-i", deb); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}

	for path, want := range map[string]os.FileMode{
		"/usr/bin/vigil":                    0o755,
		"/etc/vigil":                        os.ModeDir | 0o750,
		"/etc/vigil/vigil.yaml":             0o640,
		"/etc/vigil/rules.d":                os.ModeDir | 0o750,
		"/etc/vigil/policies.d":             os.ModeDir | 0o750,
		"/var/lib/vigil":                    os.ModeDir | 0o700,
		"/var/log/vigil":                    os.ModeDir | 0o750,
		"/lib/systemd/system/vigil.service": 0o644,
		"/etc/logrotate.d/vigil":            0o644,
	} {
		st, err := os.Lstat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
		if s := st.Sys().(*syscall.Stat_t); s.Uid != 0 || s.Gid != 0 {
			t.Errorf("%s: owner %d:%d, want root", path, s.Uid, s.Gid)
		}
	}
	unit := "/lib/systemd/system/vigil.service"
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := run(repoRoot, nil, "systemd-analyze", "verify", unit); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	if _, err := exec.LookPath("logrotate"); err == nil {
		if out, err := run(repoRoot, nil, "logrotate", "--debug", "/etc/logrotate.d/vigil"); err != nil {
			t.Errorf("logrotate --debug: %v\n%s", err, out)
		}
	}
	if out, err := run(repoRoot, nil, "/usr/bin/vigil", "config", "validate", "--config", "/etc/vigil/vigil.yaml"); err != nil {
		t.Errorf("packaged configuration: %v\n%s", err, out)
	}

	// ExecStart, as the unit says (the dirs systemd would create exist:
	// the package ships them).
	argv := strings.Fields(unitLine(t, unit, "ExecStart"))
	agent := exec.Command(argv[0], argv[1:]...)
	agent.Dir = "/"
	logPath := filepath.Join(t.TempDir(), "journal")
	journal, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer journal.Close()
	agent.Stdout, agent.Stderr = journal, journal
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			agent.Process.Kill()
			agent.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("agent output:\n%s", tail(string(b), 4000))
		}
	}()
	waitFor(t, 60*time.Second, "the packaged agent's /healthz on 127.0.0.1:8765", func() bool {
		code, _, err := getURL("http://127.0.0.1:8765/healthz")
		return err == nil && code == 200
	})

	reader := filepath.Join(t.TempDir(), "vigil-deb-reader")
	cat, err := os.ReadFile("/bin/cat")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(reader, cat, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "Vigil Sensitive File Read in /var/log/vigil/alerts.json", func() bool {
		_ = exec.Command(reader, "/etc/shadow").Run()
		b, _ := os.ReadFile("/var/log/vigil/alerts.json")
		return strings.Contains(string(b), `"rule":"Vigil Sensitive File Read"`) && strings.Contains(string(b), "vigil-deb-reader")
	})
	if st, err := os.Stat("/var/log/vigil/alerts.json"); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("alerts.json: %v, mode %v: want no group or other access", err, st.Mode())
	}
	if _, err := os.Stat("/var/lib/vigil/alerts.db"); err != nil {
		t.Errorf("alert store: %v", err)
	}

	// ExecReload, with $MAINPID substituted as systemd does.
	reload := strings.Fields(strings.ReplaceAll(unitLine(t, unit, "ExecReload"), "$MAINPID", strconv.Itoa(agent.Process.Pid)))
	if out, err := run("/", nil, reload[0], reload[1:]...); err != nil {
		t.Fatalf("ExecReload: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "rules reloaded after ExecReload", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), `msg="rules reloaded"`)
	})
	agent.Process.Signal(syscall.SIGTERM)
	if err := agent.Wait(); err != nil {
		t.Errorf("agent exit after SIGTERM: %v", err)
	}
	stopped = true

	if out, err := run(repoRoot, nil, "dpkg", "-r", "vigil"); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	for _, gone := range []string{"/usr/bin/vigil", unit} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s still there after dpkg -r (%v)", gone, err)
		}
	}
	if _, err := os.Stat("/etc/vigil/vigil.yaml"); err != nil {
		t.Errorf("dpkg -r removed the configuration: %v", err)
	}
	if out, err := run(repoRoot, nil, "dpkg", "--purge", "vigil"); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	for _, gone := range []string{"/etc/vigil", "/var/lib/vigil", "/var/log/vigil"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s still there after purge (%v)", gone, err)
		}
	}
}
