/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Records and enums shared by the sensor's BPF programs and its Go reader.
 * bpf2go turns the types below into Go (-type), so this header is the single
 * definition of the wire format. */
#ifndef VIGIL_H
#define VIGIL_H

#define VIGIL_STR_MAX 512   /* one string argument, with its NUL; power of two */
#define VIGIL_ARGV_MAX 1024 /* argv bytes of an exec; power of two */
#define VIGIL_ENV_MAX 1024  /* environment bytes of an exec (Falco's proc.env); power of two */
#define VIGIL_PATH_MAX 512  /* resolved path (components, leaf first); power of two */
#define VIGIL_NAME_MAX 256  /* one path component, with its NUL */
#define VIGIL_PATH_DEPTH 24 /* components walked for a resolved path */
#define VIGIL_ADDR_MAX 128  /* sockaddr bytes */
#define VIGIL_SNAP_MAX 80   /* bytes of an I/O buffer captured (evt.buffer): Falco's default snaplen */
#define VIGIL_MAX_TYPES 128 /* >= event.NumTypes; stats are indexed reason*VIGIL_MAX_TYPES+type */
#define VIGIL_MAX_SYSNR 512 /* syscall numbers covered by the descriptor table */

/* Why an event was lost or degraded. Counted per CPU, per event type. */
enum vigil_drop_reason {
	VIGIL_DROP_RINGBUF_FULL = 0,  /* lost: no room in the ring buffer */
	VIGIL_DROP_READ_FAILED = 1,   /* degraded: a string/sockaddr could not be read, field left empty */
	VIGIL_DROP_STR_TRUNCATED = 2, /* degraded: a string argument was cut at VIGIL_STR_MAX */
	VIGIL_DROP_ARGV_TRUNCATED = 3,/* degraded: exec argv was cut at VIGIL_ARGV_MAX */
	VIGIL_DROP_PATH_TRUNCATED = 4,/* degraded: a resolved path (exe, cwd) was cut */
	VIGIL_DROP_SHED = 5,          /* lost: the main ring was past the share of the event's tier (shed to keep room for the normal tier) */
	VIGIL_DROP_NUM_BPF = 6,       /* number of reasons counted in BPF */
};

/* Drop priority of an event type: the critical tier (process lifecycle,
 * security) goes through a ring of its own (crit), which the other tiers
 * never fill; in the main ring (events) the low tier is shed first (past
 * half the ring), then the normal tier (past three quarters). */
enum vigil_tier {
	VIGIL_TIER_OFF = 0,      /* not reported */
	VIGIL_TIER_CRITICAL = 1,
	VIGIL_TIER_NORMAL = 2,
	VIGIL_TIER_LOW = 3,
};

#define VIGIL_OPEN_FLAGS_CREAT 255 /* type_conf.flags_arg of creat: implied O_WRONLY|O_CREAT|O_TRUNC */

/* Per event type: whether and how it is reported. */
struct vigil_type_conf {
	__u8 tier;        /* enum vigil_tier */
	__u8 open_filter; /* 1: an open reported only when open_wanted() (the rules' path prefixes and access modes) */
	__u8 flags_arg;   /* raw argument index of the open flags, or VIGIL_OPEN_FLAGS_CREAT */
	__u8 any_access;  /* open filter: access modes (bit 1 << (flags & O_ACCMODE)) wanted whatever the path */
	__u8 fd_track;    /* enum vigil_fd_track bits: the record of fds that dropped opens created */
	__u8 snap;        /* 1: capture the first VIGIL_SNAP_MAX bytes of the I/O buffer (struct vigil_snap) */
	__u8 families;    /* connect: enum vigil_family bits of the sockets reported (0: every family) */
};

/* Address families of the connect filter (type_conf.families): the
 * family of the socket connected (what fd.typechar shows). A socket the
 * kernel cannot name (not a socket, no sock yet) is always reported. */
enum vigil_family {
	VIGIL_FAM_UNIX = 1,
	VIGIL_FAM_INET = 2,
	VIGIL_FAM_INET6 = 4,
	VIGIL_FAM_OTHER = 8,
};

/* Unsent fds: the fd of an open dropped by the open filter is recorded, so
 * that its close, which no rule wants, is dropped in the kernel too. */
enum vigil_fd_track {
	VIGIL_FD_RECORD = 1, /* open: a dropped open's fd is recorded */
	VIGIL_FD_CLEAR = 2,  /* ret is a new fd: when reported, its record (if any) is cleared */
	VIGIL_FD_CLOSE = 4,  /* close: dropped when its fd is recorded */
};


#define VIGIL_PREFIX_MAX 64 /* bytes of a path prefix in the open filter */

/* Per-cgroup syscall sets (syscall_bits): words of 64 syscall numbers,
 * and cgroups tracked at most (least recently used evicted). */
enum vigil_sysbits_limits {
	VIGIL_SYSBITS_WORDS = 8,
	VIGIL_SYSBITS_CGROUPS = 4096,
};

/* Key of the open filter's longest-prefix-match trie. */
struct vigil_prefix_key {
	__u32 prefixlen; /* bits */
	char path[VIGIL_PREFIX_MAX];
};

/* Layout of what follows the header. */
enum vigil_rec_kind {
	VIGIL_REC_SYS = 0,  /* header + hdr.nstr packed strings, each hdr.len[i] bytes and a NUL */
	VIGIL_REC_NET = 1,  /* header + struct vigil_net */
	VIGIL_REC_EXEC = 2, /* header + struct vigil_exec */
	VIGIL_REC_FORK = 3, /* header only: args[0] child tid, args[1] child tgid */
	VIGIL_REC_EXIT = 4, /* header only: args[0] exit code */
};

/* The event types the sched programs emit; they must equal event.Type's
 * values (checked by a Go test). */
enum vigil_type {
	VIGIL_T_EXECVE = 1,
	VIGIL_T_CLONE = 53,
	VIGIL_T_FORK = 54,
	VIGIL_T_VFORK = 55,
	VIGIL_T_CLONE3 = 56,
	VIGIL_T_PROCEXIT = 57,
};

/* How a syscall's sockaddr is found. */
enum vigil_addr_mode {
	VIGIL_ADDR_NONE = 0,
	VIGIL_ADDR_PTR_LEN = 1,    /* args[addr_arg] points to it, args[len_arg] is its length */
	VIGIL_ADDR_PTR_LENPTR = 2, /* args[len_arg] points to its length (set by the kernel at exit) */
	VIGIL_ADDR_MSGHDR = 3,     /* args[addr_arg] points to a struct user_msghdr */
};

/* Where an I/O call's data buffer is. */
enum vigil_buf_mode {
	VIGIL_BUF_NONE = 0,
	VIGIL_BUF_PTR = 1,    /* args[buf_arg] points to it */
	VIGIL_BUF_MSGHDR = 2, /* args[buf_arg] points to a struct user_msghdr: its first iovec */
	VIGIL_BUF_IOVEC = 3,  /* args[buf_arg] points to a struct iovec array: its first iovec */
};

#define VIGIL_DESC_FAIL_ONLY 1 /* report only when ret < 0 (execve: success comes from sched_process_exec) */
#define VIGIL_DESC_OPEN_HOW 2  /* args[2] points to struct open_how: copied into args[3..5] */
#define VIGIL_DESC_RAW 4       /* taken from raw_syscalls:sys_exit (the syscall's own tracepoint is missing) */
#define VIGIL_DESC_FILE 8      /* ret is the new fd of an opened file: struct vigil_file follows the strings */

#define VIGIL_LOCAL_NONE 255
#define VIGIL_LOCAL_RET 6

/* Per syscall number: what to capture. Filled from Go's layout table. */
struct vigil_desc {
	__u16 type;       /* event.Type; 0 = not a traced syscall */
	__u8 nstr;        /* string arguments (0..3) */
	__u8 str_arg[3];  /* raw argument index of each string */
	__u8 addr_mode;   /* enum vigil_addr_mode */
	__u8 addr_arg;
	__u8 len_arg;
	__u8 local;       /* fd whose local address to report: arg index, VIGIL_LOCAL_RET, or VIGIL_LOCAL_NONE */
	__u8 flags;       /* VIGIL_DESC_* */
	__u8 buf_mode;    /* enum vigil_buf_mode */
	__u8 buf_arg;
	__u8 pad;
};

#define VIGIL_HDR_F_ARGV_TRUNC 1
#define VIGIL_HDR_F_UPPER 2
#define VIGIL_HDR_F_MEMFD 4
#define VIGIL_HDR_F_EXE_TRUNC 8
#define VIGIL_HDR_F_CWD_TRUNC 16
#define VIGIL_HDR_F_WRITABLE 32 /* the executable is writable by the new effective user */
#define VIGIL_HDR_F_ENV_TRUNC 64 /* the environment was cut at VIGIL_ENV_MAX */
#define VIGIL_HDR_F_FILE 128     /* REC_SYS: a struct vigil_file follows the packed strings */

struct vigil_hdr {
	__u64 ts;        /* bpf_ktime_get_boot_ns */
	__u64 cgroup_id;
	__s64 ret;
	__u64 args[6];   /* raw syscall arguments (di, si, dx, r10, r8, r9) */
	__u32 pid;       /* tgid */
	__u32 tid;
	__u32 ppid;      /* real_parent's tgid */
	__u32 uid;       /* euid */
	__u32 gid;       /* egid */
	__u32 loginuid;
	__u16 type;      /* event.Type */
	__u8 kind;       /* enum vigil_rec_kind */
	__u8 flags;      /* VIGIL_HDR_F_* */
	__u16 len[3];    /* string lengths without NUL (REC_SYS) */
	__u16 cpu;       /* CPU the event happened on (evt.cpu) */
	char comm[16];
};

struct vigil_net {
	__u16 addr_len;
	__u16 local_family;
	__u16 local_port;   /* host order */
	__u16 pad;
	__u8 local_ip[16];
	__u8 addr[VIGIL_ADDR_MAX];
};

/* Follows struct vigil_net when the type's conf asks for the buffer
 * (type_conf.snap) and the call moved data: the first bytes it moved. */
struct vigil_snap {
	__u16 len;
	__u8 data[VIGIL_SNAP_MAX];
};

/* What an open's new fd refers to, read from the fd table at open exit
 * (Falco's open exit parameters dev and ino, and its PPM_O_F_CREATED). */
struct vigil_file {
	__u64 ino;     /* the file's inode number */
	__u32 dev;     /* new_encode_dev of its filesystem's device (i_sb->s_dev) */
	__u32 created; /* 1: the open created the file (FMODE_CREATED) */
};

struct vigil_exec {
	__u64 cap_eff;
	__u64 cap_prm;
	__u64 cap_inh;
	__u32 tty;          /* new_encode_dev(major, minor) */
	__u16 filename_len;
	__u16 argv_len;
	__u16 exe_len;      /* bytes of exe: components leaf first, each NUL-terminated */
	__u16 cwd_len;
	__u16 env_len;      /* bytes of env (NUL-separated, cut at VIGIL_ENV_MAX) */
	__u16 pad;
	__u32 vpid;         /* tgid in the task's own pid namespace */
	__u32 vtid;
	__u32 pgid;         /* process group and session, host and task-namespace ids */
	__u32 vpgid;
	__u32 sid;
	__u32 vsid;
	__u64 exe_ino;      /* inode of the executable */
	__s64 exe_ctime;    /* its ctime and mtime, ns since the epoch */
	__s64 exe_mtime;
	__u64 vm_size;      /* KiB of the new image at exec: total_vm, */
	__u64 vm_rss;       /* resident (file, anon and shmem pages) */
	__u64 vm_swap;      /* and swapped out */
	__u64 pf_major;     /* the task's page faults */
	__u64 pf_minor;
	__s64 fd_limit;     /* RLIMIT_NOFILE soft limit */
	__u64 pidns_start;  /* boot ns at which the init of the task's pid namespace started */
	char filename[VIGIL_STR_MAX];
	char argv[VIGIL_ARGV_MAX];
	char exe[VIGIL_PATH_MAX + VIGIL_NAME_MAX];
	char cwd[VIGIL_PATH_MAX + VIGIL_NAME_MAX];
	char env[VIGIL_ENV_MAX];
};

#endif
