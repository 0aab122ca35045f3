package sensor

import (
	"errors"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// ProbeCapabilityHooks reports whether the kernel's capability checks
// (cap_capable) could be hooked: a kprobe on cap_capable attaches, or the
// BPF LSM is active. Vigil uses neither yet: profiles infer the
// capabilities a workload uses from its system calls (docs/profiles.md).
func ProbeCapabilityHooks() Feature {
	f := Feature{Name: "capability checks (cap_capable)",
		Consequence: "exact capability checks are not seen; profiles infer the capabilities used from system calls (docs/profiles.md)"}
	var errs []error
	lsm, err := os.ReadFile("/sys/kernel/security/lsm")
	if err == nil && slices.Contains(strings.Split(strings.TrimSpace(string(lsm)), ","), "bpf") {
		f.OK, f.Detail = true, "BPF LSM active (not used yet: capabilities used are inferred from system calls)"
		return f
	}
	if err != nil {
		errs = append(errs, errors.New("BPF LSM: "+err.Error()))
	} else {
		errs = append(errs, errors.New("BPF LSM not active (lsm="+strings.TrimSpace(string(lsm))+")"))
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err == nil {
		defer prog.Close()
		var l link.Link
		if l, err = link.Kprobe("cap_capable", prog, nil); err == nil {
			l.Close()
			f.OK, f.Detail = true, "kprobe on cap_capable attaches (not used yet: capabilities used are inferred from system calls)"
			return f
		}
	}
	errs = append(errs, errors.New("kprobe on cap_capable: "+err.Error()))
	f.Detail = errors.Join(errs...).Error()
	f.Detail = strings.ReplaceAll(f.Detail, "\n", "; ")
	return f
}
