// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Vigil's sensor: one event per syscall, taken at sys_exit with the
 * arguments read from the task's saved user registers (no enter program,
 * no per-task map), plus exec/fork/exit from the sched tracepoints. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set at load time (CollectionSpec.Variables). */
volatile const __u32 self_tgid = 0;      /* never report this process */
volatile const __u8 filter_pidtree = 0;  /* only report tgids in the traced map */
volatile const __u64 filter_cgroup = 0;  /* only report this cgroup id (0: any) */
volatile const __u64 wakeup_bytes = 0;   /* wake the reader when this much is pending in events */
volatile const __u64 crit_wakeup_bytes = 0; /* the same for crit */
/* Tier shares (enum vigil_tier): an event of the normal (low) tier is shed
 * when more than shed_normal (shed_low) bytes are pending in the ring, so
 * the rest stays for the tiers above it. 0: never shed. */
volatile const __u64 shed_normal = 0;
volatile const __u64 shed_low = 0;
/* 1: the connect filter (type_conf.families) is in force; 0 when loaded
 * without in-kernel filtering (the verifier then drops its code). */
volatile const __u8 filter_families = 0;

/* The main ring: the normal and low tiers. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); /* resized from Go */
} events SEC(".maps");

/* The critical tier's own ring (process lifecycle: exec, fork, exit; the
 * security types): a flood of other events fills events, never this. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21); /* resized from Go */
} crit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_MAX_SYSNR);
	__type(key, __u32);
	__type(value, struct vigil_desc);
} sys_desc SEC(".maps");

/* Per event type: its tier (0: not reported) and filter. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_MAX_TYPES);
	__type(key, __u32);
	__type(value, struct vigil_type_conf);
} type_conf SEC(".maps");

/* The open filter's path prefixes: the value is the access modes (bit 1 <<
 * (flags & O_ACCMODE)) wanted below the prefix, folded with those of the
 * shorter prefixes it extends (a lookup returns only the longest match). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct vigil_prefix_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} open_prefix SEC(".maps");

/* Unsent fds (enum vigil_fd_track): a bitmap, in the process's (group
 * leader's) task storage, of its fds below VIGIL_FD_BITS that an open the
 * open filter dropped created. It goes with the task; exec forgets it (the
 * close-on-exec fds are closed without a close). A higher fd is not
 * recorded: its close is sent. */
#define VIGIL_FD_BITS 1024
struct unsent_fds {
	__u64 bits[VIGIL_FD_BITS / 64];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct unsent_fds);
} unsent_fds SEC(".maps");

/* tgids of the traced process tree (filter_pidtree). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_DROP_NUM_BPF * VIGIL_MAX_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Keep the shared types in BTF so that bpf2go can generate them. */
const struct vigil_hdr *unused_hdr __attribute__((unused));
const struct vigil_net *unused_net __attribute__((unused));
const struct vigil_exec *unused_exec __attribute__((unused));
const struct vigil_desc *unused_desc __attribute__((unused));
const enum vigil_drop_reason *unused_reason __attribute__((unused));
const enum vigil_rec_kind *unused_kind __attribute__((unused));
const enum vigil_addr_mode *unused_mode __attribute__((unused));
const enum vigil_type *unused_type __attribute__((unused));
const enum vigil_tier *unused_tier __attribute__((unused));
const enum vigil_sysbits_limits *unused_sysbits __attribute__((unused));
const struct vigil_type_conf *unused_conf __attribute__((unused));
const struct vigil_prefix_key *unused_prefix __attribute__((unused));
const enum vigil_fd_track *unused_fd_track __attribute__((unused));
const enum vigil_buf_mode *unused_buf_mode __attribute__((unused));
const struct vigil_snap *unused_snap __attribute__((unused));
const enum vigil_family *unused_family __attribute__((unused));
const struct vigil_file *unused_file __attribute__((unused));

struct sys_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

static __always_inline void count(__u32 reason, __u16 type)
{
	__u32 key = reason * VIGIL_MAX_TYPES + (type & (VIGIL_MAX_TYPES - 1));
	__u64 *v = bpf_map_lookup_elem(&stats, &key);
	if (v)
		(*v)++;
}

static __always_inline struct vigil_type_conf *conf_of(__u16 type)
{
	__u32 key = type;
	struct vigil_type_conf *c = bpf_map_lookup_elem(&type_conf, &key);
	if (!c || c->tier == VIGIL_TIER_OFF)
		return NULL;
	return c;
}

static __always_inline int is_enabled(__u16 type)
{
	return conf_of(type) != NULL;
}

/* shed reports (and counts) whether an event of tier must be dropped to
 * keep the rest of the ring for higher tiers, pending bytes being pending. */
static __always_inline int shed(__u8 tier, __u16 type, __u64 pending)
{
	__u64 limit = tier == VIGIL_TIER_LOW ? shed_low : tier == VIGIL_TIER_NORMAL ? shed_normal : 0;
	if (limit && pending > limit) {
		count(VIGIL_DROP_SHED, type);
		return 1;
	}
	return 0;
}

/* pass reports whether the current task passes the self, pid-tree and
 * cgroup filters. */
static __always_inline int pass(__u32 tgid)
{
	if (tgid == self_tgid)
		return 0;
	if (filter_pidtree && !bpf_map_lookup_elem(&traced, &tgid))
		return 0;
	if (filter_cgroup && bpf_get_current_cgroup_id() != filter_cgroup)
		return 0;
	return 1;
}

/* wake_flags wakes the reader only when this record makes the pending data
 * cross wakeup_bytes: a reader that is behind is busy reading anyway, and
 * waking it for every record would cost the traced task an irq_work each
 * time. Below the threshold the reader polls. */
static __always_inline __u64 wake_flags(__u64 before, __u64 size, __u64 wakeup)
{
	if (before < wakeup && before + size >= wakeup)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* ring_of returns the ring of an event of tier: the critical tier has its
 * own. */
#define ring_of(tier) ((tier) == VIGIL_TIER_CRITICAL ? (void *)&crit : (void *)&events)
#define wakeup_of(tier) ((tier) == VIGIL_TIER_CRITICAL ? crit_wakeup_bytes : wakeup_bytes)

/* submit commits a record of size bytes reserved in the ring of tier (the
 * reservation already counts in the pending data). */
static __always_inline void submit(void *rec, __u64 size, __u8 tier)
{
	__u64 avail = bpf_ringbuf_query(ring_of(tier), BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(rec, wake_flags(avail > size ? avail - size : 0, size, wakeup_of(tier)));
}

static __always_inline void fill_hdr(struct vigil_hdr *h, struct task_struct *task, __u64 pid_tgid, __u16 type, __u8 kind)
{
	h->ts = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	/* task is a trusted BTF pointer: direct loads (PROBE_MEM, no helper
	 * call) instead of bpf_probe_read_kernel. */
	h->ppid = task->real_parent->tgid;
	const struct cred *cred = task->cred;
	h->uid = cred->euid.val;
	h->gid = cred->egid.val;
	h->loginuid = task->loginuid.val;
	h->type = type;
	h->kind = kind;
	h->flags = 0;
	h->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* no_strings marks a record without packed strings. */
static __always_inline void no_strings(struct vigil_hdr *h)
{
	h->len[0] = h->len[1] = h->len[2] = 0;
}

static __always_inline void read_regs(struct vigil_hdr *h, struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	h->args[0] = regs->di;
	h->args[1] = regs->si;
	h->args[2] = regs->dx;
	h->args[3] = regs->r10;
	h->args[4] = regs->r8;
	h->args[5] = regs->r9;
}

/* Records with strings are built in a per-CPU scratch buffer and copied
 * into the ring with their actual size: strings are packed (each followed by
 * its NUL), so an openat of a short path takes ~150 bytes of ring instead of
 * a fixed-size slot. */
#define STR_AREA 2048 /* power of two; >= 3 * VIGIL_STR_MAX */
#define VIGIL_O_CREAT_IMPLIED (01 | 0100 | 01000) /* creat: O_WRONLY|O_CREAT|O_TRUNC */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[sizeof(struct vigil_hdr) + STR_AREA + VIGIL_STR_MAX]);
} sys_scratch SEC(".maps");

static __always_inline __u32 pack_str(struct vigil_hdr *h, char *area, __u32 off, int i, __u64 ptr)
{
	long n = -1;
	if (ptr)
		n = bpf_probe_read_user_str(area + (off & (STR_AREA - 1)), VIGIL_STR_MAX, (const void *)ptr);
	if (n <= 0) {
		if (ptr)
			count(VIGIL_DROP_READ_FAILED, h->type);
		area[off & (STR_AREA - 1)] = 0;
		n = 1;
	} else if (n >= VIGIL_STR_MAX) {
		count(VIGIL_DROP_STR_TRUNCATED, h->type);
	}
	h->len[i] = n - 1;
	return off + n;
}

/* lanes_eq returns 0x80 in each byte lane of v that equals c, 0 in the
 * others (exact: no carry crosses a lane). */
static __always_inline __u64 lanes_eq(__u64 v, __u8 c)
{
	const __u64 low7 = 0x7f7f7f7f7f7f7f7fULL;
	__u64 x = v ^ (0x0101010101010101ULL * c);
	return ~(((x & low7) + low7) | x | low7);
}

/* scan_ctx walks a packed path for "//", "/." and ".." (a path whose
 * string may not be its resolved form, or that a rule on the raw name's
 * "../" may want), eight byte pairs per bpf_loop step. */
struct scan_ctx {
	__u32 len;
	int odd;
};

static long scan_step(__u32 i, struct scan_ctx *c)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&sys_scratch, &zero);
	__u32 j = i * 8;
	if (!buf || j + 1 >= c->len || j >= VIGIL_STR_MAX)
		return 1;
	char *area = buf + sizeof(struct vigil_hdr);
	__u64 a, b;
	__builtin_memcpy(&a, area + (j & (VIGIL_STR_MAX - 1)), 8);
	__builtin_memcpy(&b, area + (j & (VIGIL_STR_MAX - 1)) + 1, 8);
	__u64 m = (lanes_eq(a, '/') & (lanes_eq(b, '/') | lanes_eq(b, '.'))) | (lanes_eq(a, '.') & lanes_eq(b, '.'));
	__u32 pairs = c->len - 1 - j; /* pairs that start in this step */
	if (pairs < 8)
		m &= (1ULL << (pairs * 8)) - 1;
	if (m) {
		c->odd = 1;
		return 1;
	}
	return 0;
}

/* open_wanted reports whether an open of the packed path (len bytes at
 * area) with flags can match a loaded rule: its access mode is wanted for
 * every path, or the path is relative, not in resolved form or holds ".."
 * (the resolved name is only known in user space: always sent), or it
 * extends a prefix that wants its access mode. */
static __always_inline int open_wanted(struct vigil_type_conf *conf, char *area, __u32 len, __u64 flags)
{
	if (flags & 010000000 /* O_PATH */)
		return 1;
	__u8 acc = 1 << (flags & 3);
	if (conf->any_access & acc)
		return 1;
	if (area[0] != '/')
		return 1;
	struct scan_ctx sc = {.len = len};
	bpf_loop(VIGIL_STR_MAX / 8, scan_step, &sc, 0);
	if (sc.odd)
		return 1;
	struct vigil_prefix_key *k = (struct vigil_prefix_key *)(area + STR_AREA);
	if (len > VIGIL_PREFIX_MAX)
		len = VIGIL_PREFIX_MAX;
	__builtin_memcpy(k->path, area, VIGIL_PREFIX_MAX);
	k->prefixlen = len * 8;
	__u8 *want = bpf_map_lookup_elem(&open_prefix, k);
	return want && (*want & acc);
}

/* fd_bit returns the word and mask of fd in the unsent bitmap of the
 * current process, creating the bitmap with create (NULL when fd is out of
 * range or there is none). */
static __always_inline __u64 *fd_bit(struct task_struct *task, long fd, __u64 *mask, int create)
{
	if (fd < 0 || fd >= VIGIL_FD_BITS)
		return NULL;
	struct unsent_fds *u = bpf_task_storage_get(&unsent_fds, task->group_leader, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!u)
		return NULL;
	*mask = 1ULL << (fd & 63);
	return &u->bits[(fd >> 6) & (VIGIL_FD_BITS / 64 - 1)];
}

/* fd_record records fd as created by an open that was not sent. */
static __always_inline void fd_record(struct task_struct *task, long fd)
{
	__u64 mask;
	__u64 *w = fd_bit(task, fd, &mask, 1);
	if (w && !(*w & mask))
		__sync_fetch_and_or(w, mask);
}

/* fd_clear forgets fd: a reported event made it a new, sent object. */
static __always_inline void fd_clear(struct task_struct *task, long fd)
{
	__u64 mask;
	__u64 *w = fd_bit(task, fd, &mask, 0);
	if (w && (*w & mask))
		__sync_fetch_and_and(w, ~mask);
}

/* fd_unsent reports whether fd was created by an open that was not sent.
 * The bit stays: the next open of a loop that closes it usually gets the
 * same fd, and a reported event that creates the fd again clears it (an
 * fd made by a syscall the sensor does not trace, such as pipe, was never
 * seen by the consumer either). */
static __always_inline int fd_unsent(struct task_struct *task, long fd)
{
	__u64 mask;
	__u64 *w = fd_bit(task, fd, &mask, 0);
	return w && (*w & mask);
}

#define VIGIL_FMODE_CREATED 0x100000 /* include/linux/fs.h FMODE_CREATED (1 << 20) */

/* file_of returns the struct file behind fd in the task's fd table, or
 * NULL. */
static __always_inline struct file *file_of(struct task_struct *task, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if ((unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* read_file fills x from the file fd (just returned by an open) refers to,
 * as Falco's drivers do: the device of its filesystem, new_encode_dev'd, its
 * inode number, and whether the open created it. */
static __always_inline void read_file(struct vigil_file *x, struct task_struct *task, long fd)
{
	x->ino = 0;
	x->dev = 0;
	x->created = 0;
	struct file *f = file_of(task, fd);
	if (!f)
		return;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	__u32 kdev = BPF_CORE_READ(ino, i_sb, s_dev);
	__u32 major = kdev >> 20, minor = kdev & 0xfffff;
	x->dev = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
	x->ino = BPF_CORE_READ(ino, i_ino);
	x->created = (BPF_CORE_READ(f, f_mode) & VIGIL_FMODE_CREATED) != 0;
}

static __always_inline int sys_strings(struct vigil_desc *d, struct vigil_type_conf *conf, struct task_struct *task, __u64 pid_tgid, long ret)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&sys_scratch, &zero);
	if (!buf)
		return 0;
	struct vigil_hdr *h = (struct vigil_hdr *)buf;
	/* The header is filled after the open filter: a dropped open costs
	 * only its arguments. */
	h->type = d->type;
	no_strings(h);
	read_regs(h, task);
	char *area = buf + sizeof(*h);
	__u32 off = 0;
	__u8 nstr = d->nstr;
	if (nstr > 0)
		off = pack_str(h, area, off, 0, h->args[d->str_arg[0] & 7]);
	if (nstr > 1)
		off = pack_str(h, area, off, 1, h->args[d->str_arg[1] & 7]);
	if (nstr > 2)
		off = pack_str(h, area, off, 2, h->args[d->str_arg[2] & 7]);
	if (d->flags & VIGIL_DESC_OPEN_HOW) {
		struct open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (const void *)h->args[2]);
		h->args[3] = how.flags;
		h->args[4] = how.mode;
		h->args[5] = how.resolve;
	}
	if (conf->open_filter) {
		__u64 oflags = VIGIL_O_CREAT_IMPLIED;
		if (conf->flags_arg != VIGIL_OPEN_FLAGS_CREAT)
			oflags = h->args[conf->flags_arg & 7];
		if (!open_wanted(conf, area, h->len[0], oflags)) {
			if ((conf->fd_track & VIGIL_FD_RECORD) && ret >= 0)
				fd_record(task, ret);
			return 0;
		}
	}
	if ((conf->fd_track & VIGIL_FD_CLEAR) && ret >= 0)
		fd_clear(task, ret);
	fill_hdr(h, task, pid_tgid, d->type, VIGIL_REC_SYS);
	h->ret = ret;
	if ((d->flags & VIGIL_DESC_FILE) && ret >= 0) {
		/* off is at most 3 * VIGIL_STR_MAX: the record stays in the
		 * scratch buffer, which has VIGIL_STR_MAX bytes past STR_AREA. */
		read_file((struct vigil_file *)(area + (off & (STR_AREA - 1))), task, ret);
		off += sizeof(struct vigil_file);
		h->flags |= VIGIL_HDR_F_FILE;
	}
	__u64 size = sizeof(*h) + off;
	if (size > sizeof(*h) + STR_AREA)
		size = sizeof(*h) + STR_AREA;
	__u8 tier = conf->tier;
	__u64 pending = bpf_ringbuf_query(ring_of(tier), BPF_RB_AVAIL_DATA);
	if (shed(tier, d->type, pending))
		return 0;
	__u64 flags = wake_flags(pending, size, wakeup_of(tier));
	if (bpf_ringbuf_output(ring_of(tier), buf, size, flags))
		count(VIGIL_DROP_RINGBUF_FULL, d->type);
	return 0;
}

/* fd_sock returns the struct sock behind fd in the current task, or NULL
 * (not a socket). */
static __always_inline struct sock *fd_sock(struct task_struct *task, long fd)
{
	struct file *f = file_of(task, fd);
	if (!f)
		return NULL;
	/* private_data is a struct socket only when fd is a socket: its
	 * back pointer to the file says so. */
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != f)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

static __always_inline void read_local(struct vigil_net *n, struct sock *sk)
{
	if (!sk)
		return;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == 2 /* AF_INET */) {
		__u32 ip = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(n->local_ip, &ip, 4);
	} else if (family == 10 /* AF_INET6 */) {
		BPF_CORE_READ_INTO(&n->local_ip, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	} else {
		return;
	}
	n->local_family = family;
	n->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
}

/* read_snap copies the first bytes an I/O call moved (ret of them) into s. */
static __always_inline void read_snap(struct vigil_snap *s, struct vigil_desc *d, struct vigil_hdr *h, long ret)
{
	__u64 ptr = 0;
	s->len = 0;
	if (d->buf_mode == VIGIL_BUF_PTR) {
		ptr = h->args[d->buf_arg & 7];
	} else if (d->buf_mode == VIGIL_BUF_MSGHDR) {
		struct user_msghdr m = {};
		struct iovec iov = {};
		__u64 mp = h->args[d->buf_arg & 7];
		if (mp && bpf_probe_read_user(&m, sizeof(m), (const void *)mp) == 0 && m.msg_iovlen > 0 &&
		    bpf_probe_read_user(&iov, sizeof(iov), (const void *)m.msg_iov) == 0) {
			ptr = (__u64)iov.iov_base;
			if ((__u64)ret > iov.iov_len)
				ret = iov.iov_len;
		}
	} else if (d->buf_mode == VIGIL_BUF_IOVEC) {
		struct iovec iov = {};
		__u64 ip = h->args[d->buf_arg & 7];
		if (ip && bpf_probe_read_user(&iov, sizeof(iov), (const void *)ip) == 0) {
			ptr = (__u64)iov.iov_base;
			if ((__u64)ret > iov.iov_len)
				ret = iov.iov_len;
		}
	}
	if (!ptr || ret <= 0)
		return;
	__u32 n = ret > VIGIL_SNAP_MAX ? VIGIL_SNAP_MAX : (__u32)ret;
	/* The barrier makes the bound checked below the one on the register
	 * passed (clang would otherwise pass ret itself on one path). */
	asm volatile("" : "+r"(n));
	if (n == 0 || n > VIGIL_SNAP_MAX)
		return;
	if (bpf_probe_read_user(s->data, n, (const void *)ptr) == 0)
		s->len = n;
	else
		count(VIGIL_DROP_READ_FAILED, d->type);
}

#define NET_SIZE (sizeof(struct vigil_hdr) + sizeof(struct vigil_net))
#define NET_SNAP_SIZE (NET_SIZE + sizeof(struct vigil_snap))

/* net_rec builds a REC_NET record; snap is a constant at each call site, so
 * the verifier sees one reserved size per inlined copy. */
static __always_inline int net_rec(struct vigil_desc *d, struct vigil_type_conf *conf, struct task_struct *task, __u64 pid_tgid, long ret, const int snap)
{
	__u8 tier = conf->tier;
	struct vigil_hdr *h = bpf_ringbuf_reserve(ring_of(tier), snap ? NET_SNAP_SIZE : NET_SIZE, 0);
	if (!h) {
		count(VIGIL_DROP_RINGBUF_FULL, d->type);
		return 0;
	}
	if ((conf->fd_track & VIGIL_FD_CLEAR) && ret >= 0)
		fd_clear(task, ret);
	fill_hdr(h, task, pid_tgid, d->type, VIGIL_REC_NET);
	no_strings(h);
	h->ret = ret;
	read_regs(h, task);
	struct vigil_net *n = (struct vigil_net *)(h + 1);
	n->addr_len = 0;
	n->local_family = 0;
	n->local_port = 0;
	n->pad = 0;
	__builtin_memset(n->local_ip, 0, sizeof(n->local_ip));

	__u64 ptr = 0;
	__s64 len = 0;
	switch (d->addr_mode) {
	case VIGIL_ADDR_PTR_LEN:
		ptr = h->args[d->addr_arg & 7];
		len = (int)h->args[d->len_arg & 7];
		break;
	case VIGIL_ADDR_PTR_LENPTR: {
		int l = 0;
		ptr = h->args[d->addr_arg & 7];
		__u64 lp = h->args[d->len_arg & 7];
		if (lp && bpf_probe_read_user(&l, sizeof(l), (const void *)lp) == 0)
			len = l;
		break;
	}
	case VIGIL_ADDR_MSGHDR: {
		struct user_msghdr m = {};
		__u64 mp = h->args[d->addr_arg & 7];
		if (mp && bpf_probe_read_user(&m, sizeof(m), (const void *)mp) == 0) {
			ptr = (__u64)m.msg_name;
			len = m.msg_namelen;
		}
		break;
	}
	}
	if (ptr && len > 0) {
		if (len > VIGIL_ADDR_MAX)
			len = VIGIL_ADDR_MAX;
		if (bpf_probe_read_user(n->addr, len & (VIGIL_ADDR_MAX * 2 - 1) & 0xff, (const void *)ptr) == 0)
			n->addr_len = len;
		else
			count(VIGIL_DROP_READ_FAILED, d->type);
	}
	if (d->local != VIGIL_LOCAL_NONE) {
		long fd = d->local == VIGIL_LOCAL_RET ? ret : (int)h->args[d->local & 7];
		if (ret >= 0)
			read_local(n, fd_sock(task, fd));
	}
	if (snap) {
		read_snap((struct vigil_snap *)(n + 1), d, h, ret);
		submit(h, NET_SNAP_SIZE, tier);
	} else {
		submit(h, NET_SIZE, tier);
	}
	return 0;
}

/* family_wanted reports whether a connect on fd passes the connect filter
 * (wanted: enum vigil_family bits): the socket's own family decides, as
 * it does fd.typechar. */
static __always_inline int family_wanted(struct task_struct *task, long fd, __u8 wanted)
{
	struct sock *sk = fd_sock(task, fd);
	if (!sk)
		return 1;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 bit = VIGIL_FAM_OTHER;
	if (family == 1 /* AF_UNIX */)
		bit = VIGIL_FAM_UNIX;
	else if (family == 2 /* AF_INET */)
		bit = VIGIL_FAM_INET;
	else if (family == 10 /* AF_INET6 */)
		bit = VIGIL_FAM_INET6;
	return (wanted & bit) != 0;
}

static __always_inline int sys_net(struct vigil_desc *d, struct vigil_type_conf *conf, struct task_struct *task, __u64 pid_tgid, long ret)
{
	if (filter_families && conf->families) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (!family_wanted(task, (int)regs->di, conf->families))
			return 0;
	}
	if (shed(conf->tier, d->type, bpf_ringbuf_query(ring_of(conf->tier), BPF_RB_AVAIL_DATA)))
		return 0;
	if (conf->snap && d->buf_mode != VIGIL_BUF_NONE && ret > 0)
		return net_rec(d, conf, task, pid_tgid, ret, 1);
	return net_rec(d, conf, task, pid_tgid, ret, 0);
}

static __always_inline int handle_sys_exit(struct sys_exit_ctx *ctx, __u8 raw)
{
	__u32 nr = ctx->nr;
	long ret = ctx->ret;
	if (nr >= VIGIL_MAX_SYSNR)
		return 0;
	struct vigil_desc *d = bpf_map_lookup_elem(&sys_desc, &nr);
	if (!d || !d->type || (d->flags & VIGIL_DESC_RAW) != raw)
		return 0;
	struct vigil_type_conf *conf = conf_of(d->type);
	if (!conf)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!pass(pid_tgid >> 32))
		return 0;
	if ((d->flags & VIGIL_DESC_FAIL_ONLY) && ret >= 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if ((conf->fd_track & VIGIL_FD_CLOSE) && ret == 0) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (fd_unsent(task, (int)regs->di))
			return 0;
	}
	if (d->addr_mode != VIGIL_ADDR_NONE || d->buf_mode != VIGIL_BUF_NONE)
		return sys_net(d, conf, task, pid_tgid, ret);
	return sys_strings(d, conf, task, pid_tgid, ret);
}

/* Scratch space for resolving a path (per CPU, so no locking). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[VIGIL_PATH_MAX + VIGIL_NAME_MAX]);
} path_scratch SEC(".maps");

struct walk_ctx {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 off;
	int trunc;
};

/* walk_step adds one component (or crosses one mount) per bpf_loop
 * iteration, so the verifier checks the body once. */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!buf)
		return 1;
	struct dentry *dentry = c->dentry;
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;
	struct dentry *root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == root) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
		if (mp == mnt) {
			c->trunc = 0;
			return 1;
		}
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mp;
		c->vfsmnt = &mp->mnt;
		return 0;
	}
	/* A dentry that is its own parent without being the mount's root is a
	 * pseudo file (memfd, pipe, ...): its name is the whole path. */
	int last = dentry == parent;
	if (last)
		c->trunc = 0;
	__u32 off = c->off;
	if (off >= VIGIL_PATH_MAX)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(buf + (off & (VIGIL_PATH_MAX - 1)), VIGIL_NAME_MAX, name);
	if (n <= 0)
		return 1;
	c->off = off + n;
	c->dentry = parent;
	return last;
}

/* One program for every sys_exit_<name> tracepoint: the syscall number in
 * the context selects the descriptor. */
SEC("tracepoint/syscalls/sys_exit")
int on_sys_exit(struct sys_exit_ctx *ctx)
{
	return handle_sys_exit(ctx, 0);
}

/* raw_syscalls:sys_exit, attached only when a syscall's own tracepoint is
 * missing: it handles just the descriptors marked VIGIL_DESC_RAW. */
SEC("tracepoint/raw_syscalls/sys_exit")
int on_raw_sys_exit(struct sys_exit_ctx *ctx)
{
	return handle_sys_exit(ctx, VIGIL_DESC_RAW);
}

/* walk_path writes the components of p into dst (VIGIL_PATH_MAX +
 * VIGIL_NAME_MAX bytes), leaf first, each with its NUL, and returns the
 * byte count. *trunc is set when the walk stopped before the root. */
static __always_inline __u16 walk_path(struct path *p, char *dst, int *trunc)
{
	struct walk_ctx c = {};
	c.dentry = BPF_CORE_READ(p, dentry);
	c.vfsmnt = BPF_CORE_READ(p, mnt);
	c.mnt = container_of(c.vfsmnt, struct mount, mnt);
	c.trunc = 1;
	bpf_loop(VIGIL_PATH_DEPTH, walk_step, &c, 0);
	*trunc = c.trunc;
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&path_scratch, &zero);
	__u32 off = c.off;
	if (!buf)
		return 0;
	if (off > VIGIL_PATH_MAX + VIGIL_NAME_MAX)
		off = VIGIL_PATH_MAX + VIGIL_NAME_MAX;
	bpf_probe_read_kernel(dst, off, buf);
	return off;
}

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* pid_nr_at returns pid's number at namespace level (0 when pid is not
 * visible there). */
static __always_inline __u32 pid_nr_at(struct pid *pid, unsigned int level)
{
	if (!pid || level > 31 || BPF_CORE_READ(pid, level) < level)
		return 0;
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), &pid->numbers[level]);
	return up.nr;
}

/* fill_ids records the ids in the task's own pid namespace (proc.vpid,
 * thread.vtid) and its process group and session (Falco's proc.vpgid,
 * proc.sid). */
static __always_inline void fill_ids(struct vigil_exec *x, struct task_struct *task)
{
	struct pid *tp = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	struct pid *gp = BPF_CORE_READ(task, group_leader, thread_pid);
	struct pid *pg = BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]);
	struct pid *ss = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]);
	x->vtid = pid_nr_at(tp, level);
	x->vpid = pid_nr_at(gp, level);
	x->pgid = pid_nr_at(pg, 0);
	x->vpgid = pid_nr_at(pg, level);
	x->sid = pid_nr_at(ss, 0);
	x->vsid = pid_nr_at(ss, level);
	x->pidns_start = 0;
	if (tp && level <= 31) {
		struct upid up = {};
		bpf_probe_read_kernel(&up, sizeof(up), &tp->numbers[level]);
		struct task_struct *reaper = BPF_CORE_READ(up.ns, child_reaper);
		if (reaper)
			x->pidns_start = BPF_CORE_READ(reaper, start_boottime);
	}
}

/* mm_rss_old is mm_struct before Linux 6.2, whose rss counters were
 * atomics (CO-RE picks the layout the kernel has). */
struct mm_struct___old {
	struct {
		atomic_long_t count[4];
	} rss_stat;
};

/* fill_usage records the memory, page faults and fd limit at exec (Falco
 * refreshes them at exec and clone). */
static __always_inline void fill_usage(struct vigil_exec *x, struct task_struct *task, struct mm_struct *mm)
{
	long c[4] = {};
	if (bpf_core_field_size(mm->rss_stat) == sizeof(((struct mm_struct___old *)0)->rss_stat)) {
		struct mm_struct___old *o = (void *)mm;
		for (int i = 0; i < 4; i++)
			c[i] = BPF_CORE_READ(o, rss_stat.count[i].counter);
	} else {
		for (int i = 0; i < 4; i++)
			c[i] = BPF_CORE_READ(mm, rss_stat[i].count);
	}
	for (int i = 0; i < 4; i++)
		if (c[i] < 0)
			c[i] = 0;
	/* MM_FILEPAGES 0, MM_ANONPAGES 1, MM_SWAPENTS 2, MM_SHMEMPAGES 3; 4 KiB pages */
	x->vm_size = BPF_CORE_READ(mm, total_vm) * 4;
	x->vm_rss = (c[0] + c[1] + c[3]) * 4;
	x->vm_swap = c[2] * 4;
	x->pf_major = BPF_CORE_READ(task, maj_flt);
	x->pf_minor = BPF_CORE_READ(task, min_flt);
	x->fd_limit = BPF_CORE_READ(task, signal, rlim[7 /* RLIMIT_NOFILE */].rlim_cur);
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	/* The close-on-exec fds are gone without a close. */
	bpf_task_storage_delete(&unsent_fds, bpf_get_current_task_btf());
	if (!is_enabled(VIGIL_T_EXECVE))
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!pass(pid_tgid >> 32))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct vigil_hdr *h = bpf_ringbuf_reserve(&crit, sizeof(*h) + sizeof(struct vigil_exec), 0);
	if (!h) {
		count(VIGIL_DROP_RINGBUF_FULL, VIGIL_T_EXECVE);
		return 0;
	}
	fill_hdr(h, task, pid_tgid, VIGIL_T_EXECVE, VIGIL_REC_EXEC);
	no_strings(h);
	h->ret = 0;
	__builtin_memset(h->args, 0, sizeof(h->args));
	struct vigil_exec *x = (struct vigil_exec *)(h + 1);

	const struct cred *cred = task->cred;
	x->cap_eff = BPF_CORE_READ(cred, cap_effective.val);
	x->cap_prm = BPF_CORE_READ(cred, cap_permitted.val);
	x->cap_inh = BPF_CORE_READ(cred, cap_inheritable.val);

	x->tty = 0;
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	if (tty) {
		int index = BPF_CORE_READ(tty, index);
		int major = BPF_CORE_READ(tty, driver, major);
		int minor = BPF_CORE_READ(tty, driver, minor_start) + index;
		x->tty = (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
	}

	unsigned short loc = ctx->__data_loc_filename & 0xffff;
	long n = bpf_probe_read_kernel_str(x->filename, VIGIL_STR_MAX, (void *)ctx + loc);
	if (n >= VIGIL_STR_MAX)
		count(VIGIL_DROP_STR_TRUNCATED, VIGIL_T_EXECVE);
	x->filename_len = n > 0 ? n - 1 : 0;

	struct mm_struct *mm = task->mm;
	unsigned long as = BPF_CORE_READ(mm, arg_start);
	unsigned long ae = BPF_CORE_READ(mm, arg_end);
	unsigned long alen = ae - as;
	x->argv_len = 0;
	if (ae > as) {
		if (alen > VIGIL_ARGV_MAX) {
			alen = VIGIL_ARGV_MAX;
			h->flags |= VIGIL_HDR_F_ARGV_TRUNC;
			count(VIGIL_DROP_ARGV_TRUNCATED, VIGIL_T_EXECVE);
		}
		if (bpf_probe_read_user(x->argv, alen, (const void *)as) == 0)
			x->argv_len = alen;
		else
			count(VIGIL_DROP_READ_FAILED, VIGIL_T_EXECVE);
	}

	unsigned long es = BPF_CORE_READ(mm, env_start);
	unsigned long ee = BPF_CORE_READ(mm, env_end);
	unsigned long elen = ee - es;
	x->env_len = 0;
	x->pad = 0;
	if (ee > es) {
		if (elen > VIGIL_ENV_MAX) {
			elen = VIGIL_ENV_MAX;
			h->flags |= VIGIL_HDR_F_ENV_TRUNC;
		}
		if (bpf_probe_read_user(x->env, elen, (const void *)es) == 0)
			x->env_len = elen;
		else
			count(VIGIL_DROP_READ_FAILED, VIGIL_T_EXECVE);
	}
	fill_ids(x, task);
	fill_usage(x, task, mm);

	struct file *exe = BPF_CORE_READ(mm, exe_file);
	int trunc = 0;
	x->exe_len = 0;
	x->exe_ino = 0;
	x->exe_ctime = x->exe_mtime = 0;
	if (exe) {
		struct path p = BPF_CORE_READ(exe, f_path);
		x->exe_len = walk_path(&p, x->exe, &trunc);
		if (trunc) {
			h->flags |= VIGIL_HDR_F_EXE_TRUNC;
			count(VIGIL_DROP_PATH_TRUNCATED, VIGIL_T_EXECVE);
		}
		char pre[6] = {};
		bpf_probe_read_kernel(pre, sizeof(pre), BPF_CORE_READ(p.dentry, d_name.name));
		if (pre[0] == 'm' && pre[1] == 'e' && pre[2] == 'm' && pre[3] == 'f' && pre[4] == 'd' && pre[5] == ':')
			h->flags |= VIGIL_HDR_F_MEMFD;
		struct inode *ino = BPF_CORE_READ(exe, f_inode);
		x->exe_ino = BPF_CORE_READ(ino, i_ino);
		x->exe_ctime = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000LL +
			       (BPF_CORE_READ(ino, i_ctime_nsec) & 0x7fffffff); /* bit 31: I_CTIME_QUERIED (multigrain timestamps) */
		x->exe_mtime = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000LL + BPF_CORE_READ(ino, i_mtime_nsec);
		/* Writable by the (new) effective user: root unless the
		 * filesystem is read-only, else the mode bits for owner, group,
		 * others. */
		__u16 imode = BPF_CORE_READ(ino, i_mode);
		__u32 iuid = BPF_CORE_READ(ino, i_uid.val);
		__u32 igid = BPF_CORE_READ(ino, i_gid.val);
		unsigned long sbflags = BPF_CORE_READ(ino, i_sb, s_flags);
		int w = 0;
		if (!(sbflags & 1 /* SB_RDONLY */)) {
			if (h->uid == 0)
				w = 1;
			else if (iuid == h->uid)
				w = imode & 0200;
			else if (igid == h->gid)
				w = imode & 0020;
			else
				w = imode & 0002;
		}
		if (w)
			h->flags |= VIGIL_HDR_F_WRITABLE;
		if (BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
			struct ovl_inode *oi = container_of(ino, struct ovl_inode, vfs_inode);
			if (BPF_CORE_READ(oi, __upperdentry))
				h->flags |= VIGIL_HDR_F_UPPER;
		}
	}
	struct path pwd = BPF_CORE_READ(task, fs, pwd);
	x->cwd_len = walk_path(&pwd, x->cwd, &trunc);
	if (trunc) {
		h->flags |= VIGIL_HDR_F_CWD_TRUNC;
		count(VIGIL_DROP_PATH_TRUNCATED, VIGIL_T_EXECVE);
	}
	submit(h, sizeof(*h) + sizeof(struct vigil_exec), VIGIL_TIER_CRITICAL);
	return 0;
}

/* The syscall numbers that create tasks, to name fork events. */
#define NR_CLONE 56
#define NR_FORK 57
#define NR_VFORK 58
#define NR_CLONE3 435
#define TYPE_CLONE VIGIL_T_CLONE
#define TYPE_FORK VIGIL_T_FORK
#define TYPE_VFORK VIGIL_T_VFORK
#define TYPE_CLONE3 VIGIL_T_CLONE3
#define TYPE_PROCEXIT VIGIL_T_PROCEXIT

SEC("raw_tracepoint/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (filter_pidtree && ctgid != tgid && bpf_map_lookup_elem(&traced, &tgid)) {
		__u8 one = 1;
		bpf_map_update_elem(&traced, &ctgid, &one, BPF_ANY);
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u16 type = TYPE_CLONE;
	switch (regs->orig_ax) {
	case NR_FORK:
		type = TYPE_FORK;
		break;
	case NR_VFORK:
		type = TYPE_VFORK;
		break;
	case NR_CLONE3:
		type = TYPE_CLONE3;
		break;
	}
	if (!is_enabled(type) || !pass(tgid))
		return 0;
	struct vigil_hdr *h = bpf_ringbuf_reserve(&crit, sizeof(*h), 0);
	if (!h) {
		count(VIGIL_DROP_RINGBUF_FULL, type);
		return 0;
	}
	fill_hdr(h, task, pid_tgid, type, VIGIL_REC_FORK);
	no_strings(h);
	__builtin_memset(h->args, 0, sizeof(h->args));
	h->args[0] = BPF_CORE_READ(child, pid);
	h->args[1] = ctgid;
	h->ret = h->args[0];
	submit(h, sizeof(*h), VIGIL_TIER_CRITICAL);
	return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	int report = is_enabled(TYPE_PROCEXIT) && pass(tgid);
	if (filter_pidtree && BPF_CORE_READ(task, signal, live.counter) == 0)
		bpf_map_delete_elem(&traced, &tgid);
	if (!report)
		return 0;
	struct vigil_hdr *h = bpf_ringbuf_reserve(&crit, sizeof(*h), 0);
	if (!h) {
		count(VIGIL_DROP_RINGBUF_FULL, TYPE_PROCEXIT);
		return 0;
	}
	fill_hdr(h, task, pid_tgid, TYPE_PROCEXIT, VIGIL_REC_EXIT);
	no_strings(h);
	__builtin_memset(h->args, 0, sizeof(h->args));
	h->args[0] = BPF_CORE_READ(task, exit_code);
	h->ret = 0;
	submit(h, sizeof(*h), VIGIL_TIER_CRITICAL);
	return 0;
}

/* Per-cgroup system call sets, for workload profiles: sys_enter sets the
 * bit of each syscall number a task makes in the set of its cgroup (v2
 * id), created at the cgroup's first syscall (runc's namespace setup
 * excepted, see below); the least recently used
 * cgroup is evicted when the map is full. Attached only when asked for
 * (Options.SyscallSets). */
struct vigil_sysbits {
	__u64 bits[VIGIL_SYSBITS_WORDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VIGIL_SYSBITS_CGROUPS);
	__type(key, __u64);
	__type(value, struct vigil_sysbits);
} syscall_bits SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int on_sys_enter_bits(struct bpf_raw_tracepoint_args *ctx)
{
	long id = (long)ctx->args[1];
	if (id < 0 || id >= VIGIL_SYSBITS_WORDS * 64)
		return 0;
	__u64 cg = bpf_get_current_cgroup_id();
	struct vigil_sysbits *b = bpf_map_lookup_elem(&syscall_bits, &cg);
	if (!b) {
		struct vigil_sysbits zero = {};
		bpf_map_update_elem(&syscall_bits, &cg, &zero, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&syscall_bits, &cg);
		if (!b)
			return 0;
	}
	__u64 bit = 1ULL << (id & 63);
	__u64 *w = &b->bits[(id >> 6) & (VIGIL_SYSBITS_WORDS - 1)];
	if (*w & bit)
		return 0;
	/* runc's first two init stages (runc:[0:PARENT], runc:[1:CHILD]) make
	 * or join the container's namespaces; their syscalls are not the
	 * workload's, and a seccomp profile never applies to them. The third
	 * (runc:[2:INIT]) loads the seccomp profile and execs the container's
	 * program: its syscalls count, a profile must allow them. Checked only
	 * for a bit not yet set. */
	char comm[8] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	if (comm[0] == 'r' && comm[1] == 'u' && comm[2] == 'n' && comm[3] == 'c' && comm[4] == ':' && comm[5] == '[' &&
	    (comm[6] == '0' || comm[6] == '1'))
		return 0;
	__sync_fetch_and_or(w, bit);
	return 0;
}
