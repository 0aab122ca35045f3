package enforce

import (
	"os"
	"runtime"
	"testing"

	"github.com/vigilsec/vigil/internal/policy"
	"golang.org/x/sys/unix"
)

func TestAccessOfFlags(t *testing.T) {
	for _, c := range []struct {
		flags uint64
		want  policy.Access
	}{
		{unix.O_RDONLY, policy.AccessRead},
		{unix.O_WRONLY | unix.O_APPEND, policy.AccessWrite},
		{unix.O_RDWR, policy.AccessAny},
		{unix.O_RDONLY | unix.O_TRUNC, policy.AccessAny},
		{unix.O_RDONLY | unix.O_CREAT, policy.AccessAny},
		{unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, policy.AccessWrite},
	} {
		if got := accessOfFlags(c.flags); got != c.want {
			t.Errorf("flags %#x: %v, want %v", c.flags, got, c.want)
		}
	}
}

// A thread that is not in an open system call has no known access.
func TestOpenAccessNotInOpen(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, ok := openAccess(int32(unix.Gettid())); ok {
		t.Error("a running thread's access is known")
	}
	if _, ok := openAccess(int32(os.Getpid()) + 1<<22); ok {
		t.Error("a missing thread's access is known")
	}
}

func TestSectionReachesMount(t *testing.T) {
	s := &fileSection{Rules: []fileRule{
		{Dirs: []string{"/etc/"}, Paths: map[string]bool{}},
		{Paths: map[string]bool{"/data/db/secret": true}},
	}}
	for m, want := range map[string]bool{
		"/etc/hosts": true, "/etc": true, "/data": true, "/data/db": true,
		"/etcetera": false, "/proc": false, "/dev/shm": false, "/data/other": false,
	} {
		if got := s.reaches(m); got != want {
			t.Errorf("reaches(%s) = %v, want %v", m, got, want)
		}
	}
}
