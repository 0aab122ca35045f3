package container

import (
	"encoding/binary"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestCgroupMapRealTree creates a cgroup v2 directory, finds it by id
// (its inode), checks the id is the kernel's cgroup id (the one
// bpf_get_current_cgroup_id returns, read back through the cgroupfs file
// handle), and checks that removal evicts it.
func TestCgroupMapRealTree(t *testing.T) {
	testkernel.RequireRoot(t)
	root, err := host.Cgroup2Root()
	testkernel.SkipIfErr(t, err)
	m := NewCgroupMap(root)
	if err := m.Refresh(); err != nil {
		t.Fatal(err)
	}
	rootID, err := CgroupID(root, "/")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.Path(rootID); !ok || p != "/" {
		t.Fatalf("root id %d -> %q, %v", rootID, p, ok)
	}
	rel := "/vigil-cgmap-" + idA[:8]
	dir := filepath.Join(root, rel, "inner")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir); os.Remove(filepath.Join(root, rel)) })
	id, err := CgroupID(root, rel+"/inner")
	if err != nil {
		t.Fatal(err)
	}
	walks := m.Walks()
	if p, ok := m.Path(id); !ok || p != rel+"/inner" {
		t.Fatalf("new cgroup id %d -> %q, %v", id, p, ok)
	}
	if m.Walks() != walks+1 {
		t.Fatalf("a new cgroup (id above every known one) must trigger one walk: %d -> %d", walks, m.Walks())
	}
	// The cgroupfs file handle carries the kernel's 64-bit cgroup id.
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, dir, 0)
	if err != nil {
		testkernel.Skip(t, "name_to_handle_at on cgroupfs: "+err.Error())
	}
	if b := h.Bytes(); len(b) < 8 || binary.LittleEndian.Uint64(b) != id {
		t.Fatalf("file handle %x, inode %d", h.Bytes(), id)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Lookup(id); ok {
		t.Fatal("removed cgroup still cached after a walk")
	}
}
