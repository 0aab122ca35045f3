package sensor

import (
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/event"
)

// BPFFSPath is where the BPF filesystem is mounted (tracefs: host.TracefsPath).
const BPFFSPath = "/sys/fs/bpf"

// Feature is the result of one probe of the host.
type Feature struct {
	Name        string
	OK          bool
	Detail      string // what was found
	Consequence string // what does not work when !OK
	Required    bool   // the sensor cannot run without it
}

func mounted(path string, magic int64) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == magic
}

// EnsureTracefs mounts tracefs at host.TracefsPath when it is not mounted.
func EnsureTracefs() error {
	if mounted(host.TracefsPath, unix.TRACEFS_MAGIC) {
		return nil
	}
	if err := unix.Mount("tracefs", host.TracefsPath, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mount tracefs at %s: %w", host.TracefsPath, err)
	}
	return nil
}

// EnsureBPFFS mounts bpffs at BPFFSPath when it is not mounted.
func EnsureBPFFS() error {
	if mounted(BPFFSPath, unix.BPF_FS_MAGIC) {
		return nil
	}
	if err := unix.Mount("bpf", BPFFSPath, "bpf", 0, ""); err != nil {
		return fmt.Errorf("mount bpffs at %s: %w", BPFFSPath, err)
	}
	return nil
}

// Tracepoints returns every tracepoint the sensor can attach, as
// "group:name" ("raw:name" for raw tracepoints).
func Tracepoints() []string {
	var all []event.Type
	for t := event.Type(1); t < event.NumTypes; t++ {
		all = append(all, t)
	}
	var out []string
	for _, h := range hooksFor(all, true, &vigilPrograms{}) {
		if h.raw {
			out = append(out, "raw:"+h.name)
		} else {
			out = append(out, h.group+":"+h.name)
		}
	}
	return out
}

// Probe checks what the sensor needs, mounting tracefs and bpffs when they
// are missing. It never fails: each probe reports its own result.
func Probe() []Feature {
	var fs []Feature
	required := map[string]bool{"root": true, "btf": true, "tracefs": true, "ringbuf": true, "bpf_task_pt_regs": true}
	add := func(name string, err error, ok, consequence string) {
		f := Feature{Name: name, OK: err == nil, Detail: ok, Required: required[name]}
		if err != nil {
			f.Detail = err.Error()
			f.Consequence = consequence
		}
		fs = append(fs, f)
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	add("kernel", nil, unix.ByteSliceToString(u.Release[:])+" "+unix.ByteSliceToString(u.Machine[:]), "")
	var rootErr error
	if os.Geteuid() != 0 {
		rootErr = errors.New("not running as root")
	}
	add("root", rootErr, "euid 0", "the sensor cannot load BPF programs; run vigil as root")
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	add("btf", err, "/sys/kernel/btf/vmlinux", "CO-RE relocations fail: the sensor cannot load")
	add("tracefs", EnsureTracefs(), host.TracefsPath, "no tracepoint can be attached: no events")
	add("bpffs", EnsureBPFFS(), BPFFSPath, "nothing (the sensor pins nothing); other BPF tools may need it")
	add("ringbuf", features.HaveMapType(ebpf.RingBuf), "BPF_MAP_TYPE_RINGBUF", "the sensor cannot load (needs Linux 5.8+)")
	add("bpf_task_pt_regs", features.HaveProgramHelper(ebpf.TracePoint, 175 /* BPF_FUNC_task_pt_regs */),
		"helper available to tracepoints", "syscall arguments cannot be read at sys_exit: the sensor cannot load (needs Linux 5.15+)")
	_, rawErr := os.Stat(filepath.Join(host.TracefsPath, "events/raw_syscalls/sys_exit"))
	add("tracepoint raw_syscalls:sys_exit", rawErr, "present (fallback for syscalls without their own tracepoint)",
		"syscalls whose own tracepoint is missing are not reported")
	for _, tp := range Tracepoints() {
		group, name, _ := strings.Cut(tp, ":")
		var err error
		if group == "raw" {
			_, err = os.Stat(filepath.Join(host.TracefsPath, "events/sched", name))
		} else {
			_, err = os.Stat(filepath.Join(host.TracefsPath, "events", group, name))
		}
		consequence := "events of " + tpTypes(name) + " are not reported"
		if err != nil && !errors.Is(err, os.ErrPermission) {
			err = errors.New("tracepoint missing")
			if group == "syscalls" && rawErr == nil {
				consequence = tpTypes(name) + " not reported unless the raw_syscalls:sys_exit fallback is enabled (vigil trace --raw-fallback; it runs on every syscall)"
			}
		}
		add("tracepoint "+tp, err, "present", consequence)
	}
	add("in-kernel open and connect filters", ProbeOpenFilter(), "load (vigil run drops opens, and connects of address families, no rule can match in the kernel)",
		"vigil run starts without in-kernel filtering and reports every open and connect (more events to process, none lost)")
	root, err := host.Cgroup2Root()
	add("cgroup v2", err, root, "cgroup ids cannot be mapped to containers; --cgroup filters do not work")
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC, unix.O_RDONLY)
	if err == nil {
		unix.Close(fd)
	} else {
		err = fmt.Errorf("fanotify_init: %w", err)
	}
	add("fanotify", err, "fanotify_init works", "file-access blocking through fanotify is unavailable")
	return fs
}

// tpTypes names the event types a tracepoint feeds, for Probe messages.
func tpTypes(name string) string {
	switch name {
	case "sched_process_exec":
		return "successful execve"
	case "sched_process_fork":
		return "clone/fork/vfork/clone3 (and the pid-tree filter)"
	case "sched_process_exit":
		return "procexit"
	}
	sc := strings.TrimPrefix(name, "sys_exit_")
	var names []string
	for _, d := range event.Defs() {
		if d.Syscall != "" && tracepointName(d.Syscall) == sc {
			names = append(names, d.Name)
		}
	}
	return strings.Join(names, ", ")
}

// ProbeOpenFilter loads the sensor's programs with the in-kernel filters
// (the open filter's trie, the connect filter) and releases them, and
// reports the kernel's refusal, if any.
func ProbeOpenFilter() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	s := &Sensor{}
	if err := s.load(&Options{}, os.Getpagesize(), os.Getpagesize(), os.Getpagesize(), true); err != nil {
		return err
	}
	return s.objs.Close()
}
