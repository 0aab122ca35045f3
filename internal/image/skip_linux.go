package image

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// pseudoFS names the kernel and virtual filesystems a root filesystem scan
// does not enter (a live root has them mounted at /proc, /sys, and inside
// container roots, cgroup trees and the like): their files are not
// software and reading some of them blocks or fails.
var pseudoFS = map[int64]string{
	unix.PROC_SUPER_MAGIC:    "proc",
	unix.SYSFS_MAGIC:         "sysfs",
	unix.CGROUP_SUPER_MAGIC:  "cgroup",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2",
	unix.DEVPTS_SUPER_MAGIC:  "devpts",
	unix.DEBUGFS_MAGIC:       "debugfs",
	unix.TRACEFS_MAGIC:       "tracefs",
	unix.SECURITYFS_MAGIC:    "securityfs",
	unix.BPF_FS_MAGIC:        "bpf",
	unix.PSTOREFS_MAGIC:      "pstore",
	unix.BINFMTFS_MAGIC:      "binfmt_misc",
	unix.NSFS_MAGIC:          "nsfs",
	0x65735543:               "fusectl", // FUSE_CTL_SUPER_MAGIC
	unix.SELINUX_MAGIC:       "selinuxfs",
	unix.EFIVARFS_MAGIC:      "efivarfs",
	unix.AUTOFS_SUPER_MAGIC:  "autofs",
	0x62656570:               "configfs", // CONFIGFS_MAGIC
	unix.HUGETLBFS_MAGIC:     "hugetlbfs",
	0x19800202:               "mqueue", // MQUEUE_MAGIC
}

// deviceOf is the device a file lives on.
func deviceOf(info fs.FileInfo) (uint64, bool) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Dev, true
	}
	return 0, false
}

// pseudoFSAt names the pseudo-filesystem mounted at the host path p, or "".
func pseudoFSAt(p string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return ""
	}
	return pseudoFS[int64(st.Type)]
}
