package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestDiagnostics runs the built binary: a progress line on standard error
// when it is a terminal (none with -q, none on a pipe), warnings as text or
// as JSON objects with --log-format json, and a root filesystem with
// something that cannot be read is skipped with a counted warning; and, as
// an ordinary user, run and doctor (testNotRoot).
func TestDiagnostics(t *testing.T) {
	bin := buildVigilForAll(t)
	t.Run("not-root", func(t *testing.T) { testNotRoot(t, bin) })
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	for p, s := range map[string]string{"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n", "usr/bin/tool": "x"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(s), 0o644)
	}
	// A warning every run gives: the dpkg database is a link to nowhere.
	os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
	os.Symlink("/nowhere/status", filepath.Join(root, "var/lib/dpkg/status"))

	onTTY := func(args ...string) string {
		m, s := openPTY(t)
		defer m.Close()
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = io.Discard, s
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		var buf bytes.Buffer
		io.Copy(&buf, m) // ends with EIO when the child closes the terminal
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, buf.String())
		}
		return buf.String()
	}
	out := onTTY("image", "sbom", root, "-o", filepath.Join(dir, "a.json"))
	if !strings.Contains(out, "\r\033[Ksbom "+root+": indexing files") || !strings.Contains(out, "reading files") {
		t.Errorf("no progress line on a terminal: %q", out)
	}
	if !strings.Contains(out, "warning: ") {
		t.Errorf("no warning on a terminal: %q", out)
	}
	out = onTTY("image", "sbom", "-q", root, "-o", filepath.Join(dir, "b.json"))
	if strings.Contains(out, "\033[K") || !strings.Contains(out, "warning: ") {
		t.Errorf("-q: progress shown or warning lost: %q", out)
	}

	// Not a terminal: no progress; JSON logs are one object per line.
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "image", "sbom", "--log-format", "json", root, "-o", filepath.Join(dir, "c.json"))
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "\033[") {
		t.Errorf("progress escape codes on a pipe: %q", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	warned := false
	for _, l := range lines {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Msg == "" {
			t.Errorf("--log-format json: line is not a JSON log record: %q", l)
		}
		warned = warned || rec.Level == "WARN"
	}
	if !warned {
		t.Errorf("--log-format json: no WARN record: %q", stderr.String())
	}
	if err := exec.Command(bin, "version", "--log-format", "yaml").Run(); err == nil {
		t.Error("--log-format yaml accepted")
	}

	// A pseudo-filesystem mounted inside the root is skipped with a counted
	// warning (needs root to mount).
	if os.Geteuid() != 0 {
		return
	}
	proc := filepath.Join(root, "host", "proc")
	os.MkdirAll(proc, 0o755)
	if err := unix.Mount("proc", proc, "proc", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatalf("mount proc: %v", err)
	}
	defer unix.Unmount(proc, unix.MNT_DETACH)
	stderr.Reset()
	cmd = exec.Command(bin, "image", "sbom", root, "-o", filepath.Join(dir, "d.json"))
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sbom of a root with /host/proc mounted: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "warning: 1 paths of "+root+" skipped") || !strings.Contains(stderr.String(), "/host/proc (pseudo-filesystem proc not scanned)") {
		t.Errorf("no counted warning for the proc mount: %q", stderr.String())
	}
}
