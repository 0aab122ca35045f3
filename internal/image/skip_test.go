package image

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestRootFSSkipsPseudoFilesystems: a live root has proc, sysfs and cgroup
// trees mounted below its top (container roots, /host/proc in a
// DaemonSet); indexing does not enter them and says so in Skipped.
func TestRootFSSkipsPseudoFilesystems(t *testing.T) {
	testkernel.RequireRoot(t) // to mount
	dir := t.TempDir()
	write(t, dir, "etc/os-release", "ID=debian\n")
	for _, m := range []struct{ at, fstype string }{{"host/proc", "proc"}, {"run/ctr/rootfs/sys", "sysfs"}} {
		p := filepath.Join(dir, m.at)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(m.fstype, p, m.fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			testkernel.Skip(t, "mount "+m.fstype+": "+err.Error())
		}
		t.Cleanup(func() { unix.Unmount(p, unix.MNT_DETACH) })
	}
	img, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, ok := img.Files.Lookup("host/proc/self"); ok {
		t.Error("indexed the proc mount")
	}
	if _, ok := img.Files.Lookup("run/ctr/rootfs/sys/kernel"); ok {
		t.Error("indexed the sysfs mount")
	}
	if _, ok := img.Files.Lookup("etc/os-release"); !ok {
		t.Error("lost etc/os-release")
	}
	got := map[string]string{}
	for _, s := range img.Skipped() {
		got[s.Path] = s.Reason
	}
	if !strings.Contains(got["host/proc"], "pseudo-filesystem proc") || !strings.Contains(got["run/ctr/rootfs/sys"], "pseudo-filesystem sysfs") {
		t.Errorf("skipped %v", got)
	}
}

// TestRootFSUnreadableFileSkipped: a file that cannot be opened when its
// content is wanted (gone from a live root, or not readable) is left out
// and counted; the other files are read and no error stops the scan.
func TestRootFSUnreadableFileSkipped(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a/one", "1")
	write(t, dir, "a/two", "2")
	write(t, dir, "a/three", "3")
	img, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := os.Remove(filepath.Join(dir, "a/two")); err != nil { // gone since indexing
		t.Fatal(err)
	}
	read := map[string]string{}
	err = img.ReadFiles(func(*File) bool { return true }, func(f *File, r io.Reader) error {
		b, err := io.ReadAll(r)
		read[f.Path] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("one vanished file stopped the scan: %v", err)
	}
	if read["a/one"] != "1" || read["a/three"] != "3" || len(read) != 2 {
		t.Errorf("read %v", read)
	}
	sk := img.Skipped()
	if len(sk) != 1 || sk[0].Path != "a/two" || !strings.Contains(sk[0].Reason, "no such file") {
		t.Errorf("skipped %+v", sk)
	}
}

func write(t *testing.T, dir, p, s string) {
	t.Helper()
	full := filepath.Join(dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
