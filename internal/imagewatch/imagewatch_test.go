package imagewatch

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/vuln"
)

// apkInstalled is /lib/apk/db/installed in apk's format with one package.
const apkInstalled = `C:Q1kX5Nb2BZf1M3h8V4d5d1l5bE9g6k=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
F:bin
R:sh
a:0:0:777
`

// osvRecord is a real-schema OSV record affecting busybox-binsh 1.36.1-r15.
const osvRecord = `{"schema_version":"1.6.0","id":"ALPINE-CVE-2099-0007","modified":"2099-01-01T00:00:00Z",
  "aliases":["CVE-2099-0007"],"summary":"test vulnerability in busybox",
  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"busybox"},
    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.36.1-r16"}]}]}]}`

// fakeImages serves OCI layouts from disk as containerd images.
type fakeImages struct {
	mu      sync.Mutex
	layouts map[string]string // ns/name -> layout dir
	running []image.RunningContainer
	opens   int
	block   chan struct{} // FileIndex waits for it when set
}

func (f *fakeImages) Running(context.Context) ([]image.RunningContainer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]image.RunningContainer(nil), f.running...), nil
}

func (f *fakeImages) Open(_ context.Context, ns, name string) (*image.Image, error) {
	f.mu.Lock()
	dir, ok := f.layouts[ns+"/"+name]
	f.opens++
	f.mu.Unlock()
	if !ok {
		return nil, os.ErrNotExist
	}
	return image.Open(dir)
}

func (f *fakeImages) FileIndex(ctx context.Context, ns, name string) (*image.FileIndex, error) {
	if f.block != nil {
		<-f.block
	}
	img, err := f.Open(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	img.Close()
	return img.Files, nil
}

func (f *fakeImages) setRunning(rs ...image.RunningContainer) {
	f.mu.Lock()
	f.running = rs
	f.mu.Unlock()
}

// alpineLayout writes an Alpine-like image (busybox, /bin/sh, an apk db).
func alpineLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	layer := it.Layer(
		it.Dir("bin/"), it.Dir("tmp/"), it.Dir("etc/"),
		it.File("etc/os-release", 0o644, []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n")),
		it.File("bin/busybox", 0o755, []byte("\x7fELF not really")), it.Symlink("bin/sh", "busybox"),
		it.File("lib/apk/db/installed", 0o644, []byte(apkInstalled)),
	)
	if _, err := it.WriteOCILayout(dir, "docker.io/test/alpine:1", it.Config{}, layer); err != nil {
		t.Fatal(err)
	}
	return dir
}

const ctID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func execIn(ct *event.Container, path string) *event.Event {
	return &event.Event{Type: event.TypeExecve, Time: time.Now().UnixNano(), PID: 42, Comm: "x",
		Container: ct, Exec: &event.Exec{ExePath: path, Argv: []string{path}}}
}

func newFake(t *testing.T) (*fakeImages, *event.Container) {
	f := &fakeImages{layouts: map[string]string{"ns1/docker.io/test/alpine:1": alpineLayout(t)}}
	f.setRunning(image.RunningContainer{ID: ctID, Namespace: "ns1", Image: "docker.io/test/alpine:1", PID: 1})
	return f, &event.Container{ID: ctID[:12], FullID: ctID, Type: "containerd"}
}

// runWatcher runs w until the test ends.
func runWatcher(t *testing.T, w *Watcher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type driftSink struct {
	mu sync.Mutex
	ds []*Drift
}

func (s *driftSink) add(d *Drift) { s.mu.Lock(); s.ds = append(s.ds, d); s.mu.Unlock() }
func (s *driftSink) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.ds {
		out = append(out, d.ExePath)
	}
	return out
}

// TestDriftQueuedThenChecked: execs seen before the index is ready are
// queued and evaluated when it is; later ones are checked at once. Only
// files absent from the image are drift.
func TestDriftQueuedThenChecked(t *testing.T) {
	f, ct := newFake(t)
	f.block = make(chan struct{})
	var sink driftSink
	w := New(Options{Images: f, Drift: true, MaxPending: 2, OnDrift: sink.add})
	runWatcher(t, w)

	w.CheckExec(execIn(ct, "/bin/sh"))   // in the image (symlink to busybox)
	w.CheckExec(execIn(ct, "/tmp/x"))    // not in the image
	w.CheckExec(execIn(ct, "/tmp/over")) // queue full: unchecked
	if st := w.Stats(); st.Queued != 2 || st.Unchecked != 1 || st.Drift != 0 {
		t.Fatalf("before the index: %+v", st)
	}
	close(f.block)
	waitFor(t, "queued checks", func() bool { return w.Stats().ExecChecked == 2 })
	if got := sink.paths(); len(got) != 1 || got[0] != "/tmp/x" {
		t.Fatalf("drift %v, want [/tmp/x]", got)
	}
	d := sink.ds[0]
	if d.Namespace != "ns1" || d.Image != "docker.io/test/alpine:1" || d.Container != ct || d.Procs[0].PID != 42 {
		t.Errorf("drift %+v", d)
	}

	// Ready: checked on the spot.
	w.CheckExec(execIn(ct, "/bin/busybox"))
	w.CheckExec(execIn(ct, "/usr/bin/evil"))
	if got := sink.paths(); len(got) != 2 || got[1] != "/usr/bin/evil" {
		t.Fatalf("drift %v", got)
	}
	if st := w.Stats(); st.ExecChecked != 4 || st.Drift != 2 || st.Indexes != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDriftIgnores: failed execs, other events, host processes and
// disabled drift are not checked.
func TestDriftIgnores(t *testing.T) {
	f, ct := newFake(t)
	var sink driftSink
	w := New(Options{Images: f, Drift: true, OnDrift: sink.add})
	failed := execIn(ct, "/tmp/x")
	failed.Ret = -2
	open := execIn(ct, "/tmp/x")
	open.Type = event.TypeOpenat
	host := execIn(&event.Container{ID: "host", Type: "host"}, "/tmp/x")
	runcInit := execIn(ct, "/memfd:runc_cloned:/proc/self/exe (deleted)")
	runcInit.Exec.Argv = []string{"runc", "init"}
	for _, ev := range []*event.Event{failed, open, host, execIn(nil, "/tmp/x"), runcInit} {
		w.CheckExec(ev)
	}
	if st := w.Stats(); st != (Stats{}) {
		t.Errorf("stats %+v", st)
	}
	// A file outside the container's mount namespace resolves to "/".
	w.CheckExec(execIn(ct, "/"))
	// Docker's images are not in containerd's content store.
	w.CheckExec(execIn(&event.Container{ID: "abcdefabcdef", FullID: "abcdefabcdef01", Type: "docker"}, "/tmp/x"))
	if st := w.Stats(); st.Unchecked != 2 || st.Queued != 0 || len(w.states) != 0 {
		t.Errorf("exe outside the namespace: %+v", st)
	}
	off := New(Options{Images: f, OnDrift: sink.add})
	off.CheckExec(execIn(ct, "/tmp/x"))
	if st := off.Stats(); st != (Stats{}) || len(sink.paths()) != 0 {
		t.Errorf("disabled: %+v", st)
	}
}

// TestDriftUnknownContainer: a container containerd does not list is
// counted unchecked, not reported.
func TestDriftUnknownContainer(t *testing.T) {
	f, _ := newFake(t)
	var sink driftSink
	w := New(Options{Images: f, Drift: true, OnDrift: sink.add})
	w.retryBase = time.Millisecond
	runWatcher(t, w)
	other := &event.Container{ID: "fedcba987654", FullID: "fedcba9876543210", Type: "containerd"}
	w.CheckExec(execIn(other, "/tmp/x"))
	waitFor(t, "resolution", func() bool { return w.Stats().IndexErrors == 1 })
	w.CheckExec(execIn(other, "/tmp/y"))
	if st := w.Stats(); st.Unchecked != 2 || st.Drift != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestDriftContainerListedLate: an exec seen before containerd lists the
// container as running (the first exec races the task's start) is queued
// and checked once a retry finds the container.
func TestDriftContainerListedLate(t *testing.T) {
	f, ct := newFake(t)
	rc := f.running[0]
	f.setRunning()
	var sink driftSink
	w := New(Options{Images: f, Drift: true, OnDrift: sink.add})
	w.retryBase = 20 * time.Millisecond
	runWatcher(t, w)
	w.CheckExec(execIn(ct, "/tmp/x"))
	f.setRunning(rc)
	waitFor(t, "drift after a retry", func() bool { return len(sink.paths()) == 1 })
	if st := w.Stats(); st.Indexes != 1 || st.IndexErrors != 0 || st.Unchecked != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCheckExecNoAlloc: a check against a ready index does not allocate.
func TestCheckExecNoAlloc(t *testing.T) {
	f, ct := newFake(t)
	w := New(Options{Images: f, Drift: true})
	runWatcher(t, w)
	ev := execIn(ct, "/bin/busybox")
	w.CheckExec(ev)
	waitFor(t, "index", func() bool { return w.Stats().ExecChecked == 1 })
	if n := testing.AllocsPerRun(1000, func() { w.CheckExec(ev) }); n != 0 {
		t.Errorf("CheckExec allocates %v times per exec", n)
	}
}

func BenchmarkCheckExec(b *testing.B) {
	dir := b.TempDir()
	layer := it.Layer(it.Dir("bin/"), it.File("bin/busybox", 0o755, []byte("x")), it.Symlink("bin/sh", "busybox"))
	if _, err := it.WriteOCILayout(dir, "docker.io/test/b:1", it.Config{}, layer); err != nil {
		b.Fatal(err)
	}
	f := &fakeImages{layouts: map[string]string{"ns/docker.io/test/b:1": dir}}
	f.setRunning(image.RunningContainer{ID: ctID, Namespace: "ns", Image: "docker.io/test/b:1"})
	ct := &event.Container{ID: ctID[:12], FullID: ctID}
	w := New(Options{Images: f, Drift: true})
	w.CheckExec(execIn(ct, "/bin/busybox"))
	w.resolve(context.Background(), <-w.req)
	ev := execIn(ct, "/bin/busybox")
	other := &event.Event{Type: event.TypeOpenat, Container: ct}
	b.Run("baseline-nonexec", func(b *testing.B) {
		for b.Loop() {
			w.CheckExec(other)
		}
	})
	b.Run("exec-in-image", func(b *testing.B) {
		for b.Loop() {
			w.CheckExec(ev)
		}
	})
}

type vulnSink struct {
	mu sync.Mutex
	fs []*VulnFinding
}

func (s *vulnSink) add(f *VulnFinding) { s.mu.Lock(); s.fs = append(s.fs, f); s.mu.Unlock() }
func (s *vulnSink) len() int           { s.mu.Lock(); defer s.mu.Unlock(); return len(s.fs) }

// TestVulnRescanOnDBChange: an empty database reports nothing; importing a
// record makes the next poll report it once for the running container;
// further polls and a second container of the same image report nothing
// new; the SBOM is catalogued once.
func TestVulnRescanOnDBChange(t *testing.T) {
	f, _ := newFake(t)
	db := t.TempDir()
	var sink vulnSink
	w := New(Options{Images: f, DBDir: db, OnVuln: sink.add})
	ctx := context.Background()
	w.scanRunning(ctx)
	if sink.len() != 0 || w.Stats().DBReloads != 0 {
		t.Fatalf("empty db: %d findings, %+v", sink.len(), w.Stats())
	}
	src := filepath.Join(t.TempDir(), "rec.json")
	if err := os.WriteFile(src, []byte(osvRecord), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, warns, err := vuln.Import(src, db); err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	w.scanRunning(ctx)
	if sink.len() != 1 {
		t.Fatalf("after import: %d findings", sink.len())
	}
	got := sink.fs[0]
	if got.Finding.ID != "ALPINE-CVE-2099-0007" || got.Finding.Package.Name != "busybox-binsh" ||
		got.Finding.Package.Version != "1.36.1-r15" || len(got.Finding.FixedVersions) != 1 ||
		got.Finding.FixedVersions[0] != "1.36.1-r16" || got.ContainerID != ctID || got.Digest == "" {
		t.Errorf("finding %+v", got)
	}
	f.setRunning(f.running[0], image.RunningContainer{ID: "second", Namespace: "ns1", Image: "docker.io/test/alpine:1"})
	w.scanRunning(ctx)
	if sink.len() != 1 {
		t.Errorf("rescan without change: %d findings", sink.len())
	}
	if f.opens != 1 || w.Stats().ImageScans != 1 {
		t.Errorf("opens %d, scans %d: want the cached SBOM and findings", f.opens, w.Stats().ImageScans)
	}
	// Severity filter: HIGH only does not report the critical record.
	w2 := New(Options{Images: f, DBDir: db, Severities: []string{"HIGH"}, OnVuln: sink.add})
	w2.scanRunning(ctx)
	if sink.len() != 1 {
		t.Errorf("HIGH filter reported the critical finding")
	}
}

func TestDBSignature(t *testing.T) {
	dir := t.TempDir()
	if s := DBSignature(dir); s != "" {
		t.Errorf("empty dir: %q", s)
	}
	if s := DBSignature(filepath.Join(dir, "missing")); s != "" {
		t.Errorf("missing dir: %q", s)
	}
	src := filepath.Join(t.TempDir(), "rec.json")
	os.WriteFile(src, []byte(osvRecord), 0o644)
	if _, _, err := vuln.Import(src, dir); err != nil {
		t.Fatal(err)
	}
	s1 := DBSignature(dir)
	if s1 == "" {
		t.Fatal("no signature after import")
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, vuln.IndexFile), later, later); err != nil {
		t.Fatal(err)
	}
	if s2 := DBSignature(dir); s2 == s1 {
		t.Error("signature unchanged after the index changed")
	}
}
