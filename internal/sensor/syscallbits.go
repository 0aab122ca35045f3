package sensor

import (
	"fmt"

	"github.com/cilium/ebpf/link"
)

// SyscallSet is a set of x86_64 system call numbers (bit n of word n/64),
// as the kernel fills it for a tracked cgroup.
type SyscallSet [vigilVigilSysbitsLimitsVIGIL_SYSBITS_WORDS]uint64

// MaxSyscallCgroups is how many cgroups have a syscall set at once; beyond,
// the least recently used is forgotten.
const MaxSyscallCgroups = int(vigilVigilSysbitsLimitsVIGIL_SYSBITS_CGROUPS)

// Has reports whether syscall number nr is in the set.
func (s *SyscallSet) Has(nr int) bool {
	return nr >= 0 && nr < len(s)*64 && s[nr/64]&(1<<(nr%64)) != 0
}

// Numbers returns the syscall numbers in the set, ascending.
func (s *SyscallSet) Numbers() []int {
	var out []int
	for nr := range len(s) * 64 {
		if s.Has(nr) {
			out = append(out, nr)
		}
	}
	return out
}

// attachSyscallSets attaches raw_syscalls:sys_enter for the per-cgroup
// syscall sets (Options.SyscallSets).
func (s *Sensor) attachSyscallSets() error {
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: s.objs.OnSysEnterBits})
	if err != nil {
		return fmt.Errorf("sensor: attach raw_syscalls:sys_enter: %w", err)
	}
	s.links = append(s.links, l)
	s.hooks = append(s.hooks, "raw_syscalls:sys_enter (syscall sets)")
	return nil
}

// Syscalls returns the system calls the tasks of a cgroup (v2 id) made
// since the sensor started (with Options.SyscallSets); ok is false when it
// has none (no syscall seen, evicted, or SyscallSets off).
func (s *Sensor) Syscalls(cgroupID uint64) (set SyscallSet, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return set, false
	}
	if err := s.objs.SyscallBits.Lookup(cgroupID, &set); err != nil {
		return set, false
	}
	return set, true
}

// SyscallName returns the x86_64 name of syscall number nr ("" when
// unknown).
func SyscallName(nr int) string {
	if nr < 0 || nr >= len(syscallNames) {
		return ""
	}
	return syscallNames[nr]
}

// Names returns the names of the syscalls in the set, by number.
func (s *SyscallSet) Names() []string {
	var out []string
	for _, nr := range s.Numbers() {
		if n := SyscallName(nr); n != "" {
			out = append(out, n)
		}
	}
	return out
}
