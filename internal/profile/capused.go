package profile

import (
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
)

// CapabilityUsed returns the capability a successful system call of ev
// needed ("" when none can be told for certain), inferred from the call
// and its arguments, since the kernel's capability checks (cap_capable)
// cannot be hooked here (no kprobes, no BPF-LSM):
//
//   - bind of an IPv4/IPv6 port below net.ipv4.ip_unprivileged_port_start
//     of the caller's network namespace (portStart; nil: binds infer
//     nothing): CAP_NET_BIND_SERVICE
//   - socket of AF_PACKET, or SOCK_RAW of AF_INET/AF_INET6: CAP_NET_RAW
//   - mount, umount2, setns, and unshare of any namespace but a user
//     namespace (unshare with CLONE_NEWUSER gets its capabilities in the new
//     namespace): CAP_SYS_ADMIN
//   - init_module, finit_module: CAP_SYS_MODULE
//
// The capability is the one the kernel checks in the user namespace that
// owns the resource: in a container without a user namespace, the host's.
// Not inferred, since the events do not carry what decides it: setuid and
// setgid (the ids before the call), ptrace (the target's ids), chown
// (no event), bpf (depends on the command and kernel.unprivileged_bpf_disabled),
// and every check a call makes beyond its main one (CAP_DAC_OVERRIDE on an
// open, CAP_KILL on a kill, ...).
func CapabilityUsed(ev *event.Event, portStart func(pid uint32) (int, error)) string {
	switch ev.Type {
	case event.TypeBind:
		if ev.Ret != 0 || portStart == nil || ev.Addr.Port == 0 ||
			(ev.Addr.Family != unix.AF_INET && ev.Addr.Family != unix.AF_INET6) {
			return ""
		}
		start, err := portStart(ev.PID)
		if err != nil || int(ev.Addr.Port) >= start {
			return ""
		}
		return "CAP_NET_BIND_SERVICE"
	case event.TypeSocket:
		domain, typ := ev.Arg[0], ev.Arg[1]&0xf // the type without SOCK_NONBLOCK, SOCK_CLOEXEC
		if ev.Ret < 0 {
			return ""
		}
		if domain == unix.AF_PACKET || (domain == unix.AF_INET || domain == unix.AF_INET6) && typ == unix.SOCK_RAW {
			return "CAP_NET_RAW"
		}
	case event.TypeMount, event.TypeUmount2, event.TypeSetns:
		if ev.Ret == 0 {
			return "CAP_SYS_ADMIN"
		}
	case event.TypeUnshare:
		const namespaces = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET |
			unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME
		if ev.Ret == 0 && ev.Flags&unix.CLONE_NEWUSER == 0 && ev.Flags&namespaces != 0 {
			return "CAP_SYS_ADMIN"
		}
	case event.TypeInitModule, event.TypeFinitModule:
		if ev.Ret == 0 {
			return "CAP_SYS_MODULE"
		}
	}
	return ""
}
