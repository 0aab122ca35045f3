package enforce

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hostFSRoot is the host's root directory as the agent reaches it: "/"
// when the agent runs in the host's mount namespace; when it runs in a
// container of its own (with the host's PID namespace, as the DaemonSet
// runs it), the root of its nearest ancestor in another mount namespace —
// the runtime's shim, in the host's — as /proc/PID/root: host-scope file
// marks and exec rule paths are placed and resolved there, not in the
// agent container's root filesystem. (PID 1's root is not used: a node's
// init may refuse even root's ptrace access to it.)
func hostFSRoot() string {
	if p := hostProcess(); p != "self" {
		return "/proc/" + p + "/root"
	}
	return "/"
}

// hostProcess names a process in the host's mount namespace as /proc
// does: "self" when the agent runs in it, else the agent's nearest
// ancestor in another mount namespace (see hostFSRoot).
func hostProcess() string {
	self, err := mntnsOf("self")
	if err != nil {
		return "self"
	}
	for pid, n := os.Getppid(), 0; pid > 0 && n < 64; pid, n = parentOf(pid), n+1 {
		p := strconv.Itoa(pid)
		if ns, err := mntnsOf(p); err == nil && ns != self {
			return p
		}
	}
	return "self"
}

// mntnsOf identifies the mount namespace of process p ("self" or a pid).
func mntnsOf(p string) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+p+"/ns/mnt", &st); err != nil {
		return [2]uint64{}, err
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}

// parentOf returns the parent pid of pid (0 when unknown).
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}
