package deploy

import (
	"fmt"
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

// bootedSystem is this machine's own OS booted with systemd as PID 1 in a
// systemd-nspawn container, over a throwaway overlay of the host's root:
// what the package does to /etc, /usr and /var stays in the overlay.
type bootedSystem struct {
	root  string // the container's root as the host sees it
	init  int    // host pid of the container's systemd
	spawn *exec.Cmd
	log   string
}

// bootSystem boots the host's OS to basic.target (no multi-user services:
// the host's own daemons do not start twice) with the capabilities and
// system calls an agent needs (nspawn filters bpf, perf_event_open and
// fanotify by default), in its own network namespace so that nothing in it
// binds the host's ports.
func bootSystem(t *testing.T) *bootedSystem {
	t.Helper()
	testkernel.RequireRoot(t)
	for _, tool := range []string{"systemd-nspawn", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (Debian's systemd-container, util-linux): %v", tool, err)
		}
	}
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		t.Fatalf("systemd not installed: %v", err)
	}
	dir := t.TempDir()
	layers, root := filepath.Join(dir, "layers"), filepath.Join(dir, "root")
	for _, d := range []string{layers, root} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The upper layer on its own tmpfs: never inside the lower one.
	if err := syscall.Mount("tmpfs", layers, "tmpfs", 0, "mode=0700,size=512m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(layers, syscall.MNT_DETACH) })
	up, work := filepath.Join(layers, "up"), filepath.Join(layers, "work")
	for _, d := range []string{up, work} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("overlay", root, "overlay", 0, "lowerdir=/,upperdir="+up+",workdir="+work); err != nil {
		t.Fatalf("mount overlay of /: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(root, syscall.MNT_DETACH) })

	b := &bootedSystem{root: root, log: filepath.Join(dir, "console")}
	console, err := os.Create(b.log)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	b.spawn = exec.Command("systemd-nspawn", "--quiet", "--directory", root, "--machine", "vigil-systemd-test",
		"--register=no", "--keep-unit", "--link-journal=no", "--private-network", "--capability=all",
		"--system-call-filter=bpf perf_event_open fanotify_init fanotify_mark",
		"--boot", "systemd.unit=basic.target")
	b.spawn.Stdout, b.spawn.Stderr = console, console
	b.spawn.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := b.spawn.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { b.spawn.Wait(); close(exited) }()
	t.Cleanup(func() {
		b.spawn.Process.Signal(syscall.SIGTERM) // nspawn asks the container's systemd to power off
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			b.spawn.Process.Kill()
			<-exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(b.log)
			t.Logf("container console:\n%s", tail(string(out), 3000))
		}
	})
	waitFor(t, 60*time.Second, "systemd as PID 1 of the container", func() bool {
		b.init = descendantNamed(b.spawn.Process.Pid, "systemd")
		return b.init != 0
	})
	waitFor(t, 90*time.Second, "the container's boot to finish", func() bool {
		out, _ := b.exec("systemctl", "is-system-running")
		s := strings.TrimSpace(out)
		return s == "running" || s == "degraded"
	})
	return b
}

// exec runs a command in the booted system's namespaces.
func (b *bootedSystem) exec(name string, args ...string) (string, error) {
	c := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(b.init), "-a", name}, args...)...)
	out, err := c.CombinedOutput()
	return string(out), err
}

// descendantNamed returns the pid of the first process named comm in the
// process tree below pid, or 0.
func descendantNamed(pid int, comm string) int {
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", p, task.Name()))
			for _, f := range strings.Fields(string(b)) {
				c, err := strconv.Atoi(f)
				if err != nil {
					continue
				}
				if name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); strings.TrimSpace(string(name)) == comm {
					return c
				}
				queue = append(queue, c)
			}
		}
	}
	return 0
}

// TestDebianPackageUnderSystemd installs the .deb on this machine's own OS
// booted with systemd as PID 1 (systemd-nspawn over an overlay of /): the
// package's postinst enables and starts the unit, the agent raises an alert
// for a sensitive read, `systemctl reload` reloads its rules, `systemctl
// stop` stops it, and dpkg removes and purges it.
func TestDebianPackageUnderSystemd(t *testing.T) {
	deb := filepath.Join(workDir, "vigil-systemd.deb")
	if _, err := run(repoRoot, []string{"VIGIL_DEB_VERSION=0.0.1~test"}, "deploy/debian/build.sh", deb, release(t)); err != nil {
		t.Fatal(err)
	}
	sys := bootSystem(t)
	// /tmp in the container is its own tmpfs: the package goes to /var/tmp.
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys.root, "var/tmp/vigil.deb"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := sys.exec("dpkg", "-i", "/var/tmp/vigil.deb"); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	journal := func() string {
		out, _ := sys.exec("journalctl", "--no-pager", "-o", "cat", "-u", "vigil.service")
		return out
	}
	defer func() {
		if t.Failed() {
			t.Logf("journal of vigil.service:\n%s", tail(journal(), 4000))
		}
	}()
	if out, _ := sys.exec("systemctl", "is-enabled", "vigil.service"); strings.TrimSpace(out) != "enabled" {
		t.Errorf("after dpkg -i the unit is %q, want enabled", strings.TrimSpace(out))
	}
	waitFor(t, 60*time.Second, "the agent started by the package to run with its sensor", func() bool {
		j := journal()
		return strings.Contains(j, `msg="agent running"`) && strings.Contains(j, `msg="sensor interest"`)
	})
	if j := journal(); strings.Contains(j, "sensor cannot load") {
		t.Fatalf("the agent runs without its sensor under systemd:\n%s", tail(j, 3000))
	}
	if out, _ := sys.exec("systemctl", "show", "-p", "MainPID", "--value", "vigil.service"); strings.TrimSpace(out) == "0" {
		t.Fatal("vigil.service has no main process")
	}

	alerts := filepath.Join(sys.root, "var/log/vigil/alerts.json")
	waitFor(t, 30*time.Second, "Vigil Sensitive File Read in the unit's /var/log/vigil/alerts.json", func() bool {
		sys.exec("sh", "-c", "cp /bin/cat /var/tmp/vigil-unit-reader && /var/tmp/vigil-unit-reader /etc/shadow >/dev/null")
		b, _ := os.ReadFile(alerts)
		return strings.Contains(string(b), `"rule":"Vigil Sensitive File Read"`) && strings.Contains(string(b), "vigil-unit-reader")
	})
	if st, err := os.Stat(alerts); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("alerts.json: %v, mode %v: want no group or other access (the unit's UMask)", err, st.Mode())
	}

	if out, err := sys.exec("systemctl", "reload", "vigil.service"); err != nil {
		t.Fatalf("systemctl reload: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "rules reloaded after systemctl reload", func() bool {
		return strings.Contains(journal(), `msg="rules reloaded"`)
	})
	if out, err := sys.exec("systemctl", "stop", "vigil.service"); err != nil {
		t.Fatalf("systemctl stop: %v\n%s", err, out)
	}
	if out, _ := sys.exec("systemctl", "is-active", "vigil.service"); strings.TrimSpace(out) != "inactive" {
		t.Errorf("after systemctl stop the unit is %q, want inactive (a clean exit, not failed)", strings.TrimSpace(out))
	}

	if out, err := sys.exec("dpkg", "-r", "vigil"); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	for _, gone := range []string{"usr/bin/vigil", "lib/systemd/system/vigil.service"} {
		if _, err := os.Stat(filepath.Join(sys.root, gone)); !os.IsNotExist(err) {
			t.Errorf("/%s still there after dpkg -r (%v)", gone, err)
		}
	}
	if out, err := sys.exec("dpkg", "--purge", "vigil"); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	for _, gone := range []string{"etc/vigil", "var/lib/vigil", "var/log/vigil"} {
		if _, err := os.Stat(filepath.Join(sys.root, gone)); !os.IsNotExist(err) {
			t.Errorf("/%s still there after purge (%v)", gone, err)
		}
	}
}
