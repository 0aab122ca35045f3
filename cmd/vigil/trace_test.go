package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/enforce"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// buildVigil builds the vigil binary into a temporary directory.
func buildVigil(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestTraceBinary runs the built vigil binary (built once for the subtests).
func TestTraceBinary(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	bin := buildVigil(t)
	t.Run("capture", func(t *testing.T) { testTraceCapture(t, bin) })
	t.Run("exit-status", func(t *testing.T) { testTraceExitStatus(t, bin) })
}

// testTraceCapture runs `vigil trace --json -- sh -c 'cat /etc/hostname'`
// and checks the capture: the execs of sh and cat, cat's openat of
// /etc/hostname with an fd, and no event from outside the command's tree.
func testTraceCapture(t *testing.T, bin string) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "trace", "--json", "--", "sh", "-c", "cat /etc/hostname")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vigil trace: %v\n%s", err, stderr.String())
	}
	host, _ := os.ReadFile("/etc/hostname")
	out := stdout.Bytes()
	// The command's own output is interleaved with the capture.
	if len(host) > 0 {
		out = bytes.Replace(out, host, nil, 1)
	}
	r := event.NewCaptureReader(bytes.NewReader(out))
	tree := map[uint32]bool{}
	var sh, cat *event.Event
	var opened bool
	n := 0
	for {
		var ev event.Event
		err := r.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
		n++
		if n == 1 {
			tree[ev.PID] = true // the held child, which becomes sh
		}
		if !tree[ev.PID] {
			t.Errorf("event from outside the traced tree: %s", event.AppendJSON(nil, &ev))
		}
		switch ev.Type {
		case event.TypeClone, event.TypeFork, event.TypeVfork, event.TypeClone3:
			tree[uint32(ev.Arg[0])] = true
		case event.TypeExecve:
			if ev.Ret == 0 && ev.Comm == "sh" {
				e := ev
				sh = &e
			}
			if ev.Ret == 0 && ev.Comm == "cat" {
				e := ev
				cat = &e
			}
		case event.TypeOpenat:
			if ev.Comm == "cat" && ev.Path == "/etc/hostname" && ev.Ret >= 0 {
				opened = true
				if ev.FDInfo == nil || ev.FDInfo.Name != "/etc/hostname" {
					t.Errorf("openat not enriched with its fd: %s", event.AppendJSON(nil, &ev))
				}
			}
		}
	}
	if sh == nil || cat == nil || !opened {
		t.Fatalf("exec sh %v, exec cat %v, openat /etc/hostname %v; stderr %s", sh != nil, cat != nil, opened, stderr.String())
	}
	if got := strings.Join(cat.Exec.Argv, " "); got != "cat /etc/hostname" {
		t.Errorf("cat argv %q", got)
	}
	if cat.Proc == nil || cat.Proc.Parent == nil || cat.Proc.Parent.Comm != "sh" {
		t.Errorf("cat's process context lacks its parent sh: %s", event.AppendJSON(nil, cat))
	}
	if !strings.Contains(stderr.String(), " 0 lost") {
		t.Errorf("stderr summary: %q", stderr.String())
	}
}

// testTraceExitStatus checks that trace exits with the command's status.
func testTraceExitStatus(t *testing.T, bin string) {
	cmd := exec.Command(bin, "trace", "--types", "execve", "--", "sh", "-c", "exit 5")
	cmd.Stdout = io.Discard
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 5 {
		t.Fatalf("exit: %v, want status 5", err)
	}
}

func TestTraceBadTypes(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetArgs([]string{"trace", "--types", "file,bogus"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestDoctor(t *testing.T) {
	testkernel.RequireRoot(t)
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"doctor"})
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("doctor: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if want := len(sensor.Probe()) + 5 + 6 + 1; len(lines) != want {
		t.Errorf("%d lines, want %d (sensor probes, 5 runtimes, 6 prevention probes, capability checks):\n%s", len(lines), want, out.String())
	}
	// Whether kprobes or BPF-LSM load (not on the CI kernel), the line
	// says what profiles do about capabilities used.
	if !strings.Contains(out.String(), " capability checks (cap_capable) ") || !strings.Contains(out.String(), "capabilities used are inferred from system calls") &&
		!strings.Contains(out.String(), "profiles infer the capabilities used from system calls") {
		t.Errorf("doctor output lacks the capability-checks line:\n%s", out.String())
	}
	for _, want := range []string{"ok    tracefs", "ok    btf", "tracepoint syscalls:sys_exit_openat",
		"runtime containerd", "runtime docker", "runtime podman", "runtime cri-o", "runtime runc",
		"prevention cgroup-bpf", "prevention exec-kill", "prevention exec-gate", "prevention fanotify", "prevention cgroup freezer", "prevention landlock"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}
	// Each runtime line says what was found, and a missing one what
	// does not work.
	for _, l := range lines {
		if !strings.Contains(l, " runtime ") {
			continue
		}
		switch {
		case strings.HasPrefix(l, "ok "):
			if !strings.Contains(l, "connected, version ") || !strings.Contains(l, " containers") {
				t.Errorf("connected runtime line lacks version/containers: %q", l)
			}
		case strings.HasPrefix(l, "MISS "):
			if !strings.Contains(l, "get their id only") {
				t.Errorf("missing runtime line lacks its consequence: %q", l)
			}
		default:
			t.Errorf("runtime line is neither ok nor MISS: %q", l)
		}
	}
}

// TestDoctorRuntimeConnected: with containerd running (CI starts it), its
// line reports the connection and the version the runtime answered.
func TestDoctorRuntimeConnected(t *testing.T) {
	testkernel.RequireRoot(t)
	if _, err := os.Stat("/run/containerd/containerd.sock"); err != nil {
		testkernel.Skip(t, "containerd is not running: "+err.Error())
	}
	var containerd *sensor.Feature
	fs := runtimeFeatures(context.Background(), 10*time.Second)
	for i := range fs {
		if fs[i].Name == "runtime containerd" {
			containerd = &fs[i]
		}
	}
	if containerd == nil {
		t.Fatalf("no containerd line in %+v", fs)
	}
	if !containerd.OK || !strings.Contains(containerd.Detail, "connected, version ") || strings.Contains(containerd.Detail, "version unknown") {
		t.Fatalf("containerd line: %+v", *containerd)
	}
}

// TestPreventionFeatures maps each probe result to one line, with the
// consequence of a missing mechanism.
func TestPreventionFeatures(t *testing.T) {
	fs := preventionFeatures(enforce.Probe{CgroupV2: "/sys/fs/cgroup", Fanotify: errors.New("fanotify_init: EPERM")})
	if len(fs) != 6 {
		t.Fatalf("%d lines, want 6", len(fs))
	}
	for _, f := range fs {
		wantOK := f.Name != "prevention fanotify"
		if f.OK != wantOK {
			t.Errorf("%s: OK %v, want %v", f.Name, f.OK, wantOK)
		}
		if !f.OK && (!strings.Contains(f.Detail, "EPERM") || f.Consequence == "") {
			t.Errorf("%s: %+v", f.Name, f)
		}
	}
}

// TestTraceFlushesWhileRunning: a quiet trace writes its events while it
// runs, not only when its buffer fills or it exits. The traced cat blocks
// on stdin until the test has read its execve line.
func TestTraceFlushesWhileRunning(t *testing.T) {
	testkernel.RequireRoot(t)
	bin := buildVigil(t)
	cmd := exec.Command(bin, "trace", "--json", "--types", "execve", "--", "cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line := make(chan string, 1)
	go func() {
		r := event.NewCaptureReader(stdout)
		var ev event.Event
		if err := r.Next(&ev); err != nil {
			line <- "error: " + err.Error()
		} else {
			line <- ev.Type.String() + " " + ev.Exec.Filename
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case got := <-line:
		if !strings.HasPrefix(got, "execve ") || !strings.HasSuffix(got, "cat") {
			t.Fatalf("first event while cat runs: %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no event written while the traced command runs\n%s", stderr.String())
	}
}
