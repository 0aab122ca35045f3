package enforce

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/landlock"
)

// Probe is what this host offers for enforcement; each field is nil when
// the mechanism is available, or says why not. For `vigil doctor`.
type Probe struct {
	CgroupV2  string // mount point of the cgroup v2 hierarchy
	CgroupBPF error  // cgroup/connect4 etc. programs
	ExecKill  error  // raw tracepoint programs with bpf_send_signal (exec kill and the exec gate)
	ExecGate  error  // syscall programs (deciding a held exec in the kernel)
	Fanotify  error  // fanotify permission events (FAN_CLASS_CONTENT)
	V2Freezer error  // cgroup.freeze in v2 (kernel >= 5.2)
	Landlock  int    // the Landlock ABI version (vigil policy sandbox); 0 with LandlockErr
	// LandlockErr says why Landlock is not available.
	LandlockErr error
}

// ProbeHost checks each mechanism the way Apply uses it.
func ProbeHost() Probe {
	p := Probe{CgroupV2: CgroupV2Root}
	if err := features.HaveProgramType(ebpf.CGroupSockAddr); err != nil {
		p.CgroupBPF = fmt.Errorf("cgroup sock_addr programs: %w", err)
	}
	if err := features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnSendSignal); err != nil {
		p.ExecKill = fmt.Errorf("bpf_send_signal from raw tracepoints: %w", err)
	} else if err := features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnLoop); err != nil {
		p.ExecKill = fmt.Errorf("bpf_loop from raw tracepoints: %w", err)
	}
	if err := features.HaveProgramType(ebpf.Syscall); err != nil {
		p.ExecGate = fmt.Errorf("syscall programs: %w", err)
	}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC, unix.O_RDONLY)
	if err != nil {
		p.Fanotify = fmt.Errorf("fanotify_init(FAN_CLASS_CONTENT): %w", err)
	} else {
		unix.Close(fd)
	}
	p.Landlock, p.LandlockErr = landlock.ABI()
	var st unix.Stat_t
	if err := unix.Stat(CgroupV2Root+"/init.scope/cgroup.freeze", &st); err != nil {
		// The root has no cgroup.freeze; look for any child that has one.
		if err2 := anyChildFreeze(); err2 != nil {
			p.V2Freezer = err2
		}
	}
	return p
}

func anyChildFreeze() error {
	ents, err := readDirNames(CgroupV2Root)
	if err != nil {
		return err
	}
	for _, n := range ents {
		var st unix.Stat_t
		if unix.Stat(CgroupV2Root+"/"+n+"/cgroup.freeze", &st) == nil {
			return nil
		}
	}
	return fmt.Errorf("no cgroup.freeze under %s (needs kernel >= 5.2 and a child cgroup)", CgroupV2Root)
}
