// SPDX-License-Identifier: GPL-2.0
/* DNS messages of every process, from syscall tracepoints (no kprobes on this kernel family).
 *
 * A socket becomes a DNS socket when its process connects it to port 53 (glibc, c-ares, dig, TCP
 * fallback) or sends to port 53 through it (sendto/sendmsg/sendmmsg with an address: musl, unconnected
 * resolvers). Every send and receive syscall on such a socket — sendto, sendmsg, sendmmsg (every
 * message), write, writev, recvfrom, recvmsg, recvmmsg (every message), read, readv — copies the bytes
 * into the ring buffer with a kernel timestamp. The cheap filter for the hot read/write syscalls is one
 * hash lookup on (tgid, fd). Parsing, matching and TCP reassembly are done in user space. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "dns.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define DNS_PORT 53
#define DNS_LEN_SUM 0xffffffffu

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dns_sock_key);
	__type(value, struct dns_sock);
} dns_socks SEC(".maps");

enum recv_kind { RK_BUF = 1, RK_MSG = 2, RK_MMSG = 3, RK_IOV = 4 };

/* a receive syscall on a DNS socket between its enter and exit */
struct recv_args {
	__u64 ptr;      /* buffer, msghdr, mmsghdr array or iovec array */
	__u64 addr;     /* recvfrom's source address out-parameter */
	__u32 fd;
	__u32 count;    /* iovcnt or vlen */
	__u32 kind;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct recv_args);
} dns_recv_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} dns_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DNS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dns_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_event);
} dns_scratch SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&dns_stats, &idx);
	if (v)
		*v += 1;
}

/* the struct file behind fd in the current task, or NULL */
static __always_inline struct file *fd_file(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *f = NULL;
	if (!fds || fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* a sockaddr in user memory: family, port and address; 0 when it is not IPv4/IPv6 */
static __always_inline int read_sockaddr(const void *uaddr, __u16 *family, __u16 *port, __u8 addr[16])
{
	struct sockaddr_in6 sa = {};
	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), uaddr))
		return 0;
	*family = sa.sin6_family;
	*port = bpf_ntohs(sa.sin6_port);
	if (sa.sin6_family == AF_INET) {
		__builtin_memset(addr, 0, 16);
		__builtin_memcpy(addr, &((struct sockaddr_in *)&sa)->sin_addr, 4);
		return 1;
	}
	if (sa.sin6_family == AF_INET6) {
		__builtin_memcpy(addr, &sa.sin6_addr, 16);
		return 1;
	}
	return 0;
}

/* Registers (tgid, fd) as a DNS socket talking to family/addr:port. */
static __always_inline struct dns_sock *register_sock(__u32 tgid, __u32 fd, __u16 family, __u16 port, const __u8 addr[16], int connected)
{
	struct file *f = fd_file(fd);
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	short type = BPF_CORE_READ(sock, type);
	struct dns_sock s = {};
	s.file = (__u64)f;
	s.family = family;
	s.proto = type == SOCK_STREAM ? IPPROTO_TCP : type == SOCK_DGRAM ? IPPROTO_UDP : 0;
	if (!s.proto)
		return NULL;
	if (connected) {
		s.port = port;
		__builtin_memcpy(s.addr, addr, 16);
	}
	struct dns_sock_key k = { .tgid = tgid, .fd = fd };
	if (bpf_map_update_elem(&dns_socks, &k, &s, BPF_ANY)) {
		stat_inc(DNS_STAT_SOCK_FAIL);
		return NULL;
	}
	return bpf_map_lookup_elem(&dns_socks, &k);
}

/* The DNS socket behind (current process, fd), checked against descriptor reuse; NULL if none. */
static __always_inline struct dns_sock *dns_sock(__u32 fd)
{
	struct dns_sock_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
	struct dns_sock *s = bpf_map_lookup_elem(&dns_socks, &k);
	if (!s)
		return NULL;
	if ((__u64)fd_file(fd) != s->file) {
		bpf_map_delete_elem(&dns_socks, &k);
		return NULL;
	}
	return s;
}

/* What emit() hands to emit_event(): one message or TCP chunk to copy. */
struct emit_req {
	__u64 ubuf;
	__u32 len;
	__u16 family; /* with has_addr: the peer from the call's own sockaddr */
	__u16 port;
	__u8 addr[16];
	__u8 dir;
	__u8 flags;
	__u8 has_addr;
	__u8 pad[5];
};

/* Copies r->len bytes at r->ubuf (at most DNS_CAP) into an event and sends it to the ring buffer.
 * Global and out of line: the verifier checks it once per program, not again at each of the dozens of
 * places the message and iovec loops would otherwise inline it (that made loading take 2 s). */
__noinline int emit_event(struct dns_sock *s, struct emit_req *r)
{
	__u32 zero = 0;
	if (!s || !r)
		return 0;
	struct dns_event *e = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!e)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 len = r->len;
	e->ts_ns = bpf_ktime_get_ns();
	e->sock = s->file;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->tgid = id >> 32;
	e->pid = (__u32)id;
	e->len = len;
	e->dir = r->dir;
	e->proto = s->proto;
	e->flags = r->flags;
	if (r->has_addr) {
		e->family = r->family;
		e->port = r->port;
		__builtin_memcpy(e->addr, r->addr, 16);
	} else {
		e->family = s->family;
		e->port = s->port;
		__builtin_memcpy(e->addr, s->addr, 16);
	}
	/* the process's name, not the thread's (dig sends from a thread named isc-net-0000) */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BPF_CORE_READ_STR_INTO(&e->comm, task, group_leader, comm);
	__u64 n = len < DNS_CAP ? len : DNS_CAP;
	barrier_var(n); /* keep the mask below: the verifier needs the bound on the register it sees */
	n &= DNS_DATA_SIZE - 1;
	if (n && bpf_probe_read_user(e->data, n, (const void *)r->ubuf))
		n = 0;
	e->caplen = n;
	barrier_var(n);
	n &= DNS_DATA_SIZE - 1;
	if (bpf_ringbuf_output(&dns_events, e, offsetof(struct dns_event, data) + n, 0))
		stat_inc(DNS_STAT_RINGBUF_FULL);
	return 0;
}

/* One message or chunk: `addr` (family, port) is the peer named by the call itself, if any. */
static __always_inline void emit(struct dns_sock *s, __u8 dir, const void *ubuf, __u32 len, __u16 family, __u16 port, const __u8 *addr, __u8 flags)
{
	struct emit_req r = { .ubuf = (__u64)ubuf, .len = len, .dir = dir, .flags = flags };
	if (addr) {
		r.has_addr = 1;
		r.family = family;
		r.port = port;
		__builtin_memcpy(r.addr, addr, 16);
	}
	emit_event(s, &r);
}

/* One message of a msghdr (user memory) of `len` bytes: UDP takes the first iovec, TCP every chunk. */
static __always_inline void emit_msg(struct dns_sock *s, __u8 dir, const struct user_msghdr *um, __u32 len, int from_name)
{
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), um))
		return;
	__u16 family = 0, port = 0;
	__u8 addr[16];
	__u8 *paddr = NULL;
	if (from_name && m.msg_name && read_sockaddr(m.msg_name, &family, &port, addr))
		paddr = addr;
	if (len == DNS_LEN_SUM) { /* a send: the message is the sum of its iovecs */
		len = 0;
		for (int i = 0; i < DNS_MAX_IOV; i++) {
			if (i >= m.msg_iovlen)
				break;
			struct iovec iov = {};
			bpf_probe_read_user(&iov, sizeof(iov), &m.msg_iov[i]);
			len += iov.iov_len;
		}
	}
	__u32 left = len;
	for (int i = 0; i < DNS_MAX_IOV; i++) {
		if (i >= m.msg_iovlen || left == 0)
			break;
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), &m.msg_iov[i]))
			break;
		__u32 n = iov.iov_len < left ? iov.iov_len : left;
		if (s->proto == IPPROTO_UDP) {
			emit(s, dir, iov.iov_base, len, family, port, paddr, m.msg_iovlen > 1 && iov.iov_len < len ? DNS_FLAG_IOV_TRUNC : 0);
			return;
		}
		emit(s, dir, iov.iov_base, n, family, port, paddr, 0);
		left -= n;
	}
}

/* TCP chunks from an iovec array (writev/readv) carrying `len` bytes. */
static __always_inline void emit_iov(struct dns_sock *s, __u8 dir, const struct iovec *uiov, __u32 cnt, __u32 len)
{
	__u32 left = len;
	for (int i = 0; i < DNS_MAX_IOV; i++) {
		if (i >= cnt || left == 0)
			break;
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), &uiov[i]))
			break;
		__u32 n = iov.iov_len < left ? iov.iov_len : left;
		if (s->proto == IPPROTO_UDP) {
			emit(s, dir, iov.iov_base, len, 0, 0, NULL, cnt > 1 && iov.iov_len < len ? DNS_FLAG_IOV_TRUNC : 0);
			return;
		}
		emit(s, dir, iov.iov_base, n, 0, 0, NULL, 0);
		left -= n;
	}
}

/* ---------- connect: the usual way a resolver's socket becomes a DNS socket ---------- */

SEC("tracepoint/syscalls/sys_enter_connect")
int dns_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u16 family = 0, port = 0;
	__u8 addr[16];
	if (!read_sockaddr((const void *)ctx->args[1], &family, &port, addr) || port != DNS_PORT)
		return 0;
	register_sock(bpf_get_current_pid_tgid() >> 32, (__u32)ctx->args[0], family, port, addr, 1);
	return 0;
}

/* ---------- sends: copied at entry (the first send's time is the query's start) ---------- */

/* the DNS socket for a send to uaddr (which may be NULL: a connected socket) */
static __always_inline struct dns_sock *send_sock(__u32 fd, const void *uaddr, __u16 *family, __u16 *port, __u8 addr[16], int *has_addr)
{
	*has_addr = uaddr && read_sockaddr(uaddr, family, port, addr);
	struct dns_sock *s = dns_sock(fd);
	if (s)
		return s;
	if (*has_addr && *port == DNS_PORT)
		return register_sock(bpf_get_current_pid_tgid() >> 32, fd, *family, *port, addr, 0);
	return NULL;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int dns_sendto(struct trace_event_raw_sys_enter *ctx)
{
	__u16 family = 0, port = 0;
	__u8 addr[16];
	int has_addr;
	struct dns_sock *s = send_sock(ctx->args[0], (const void *)ctx->args[4], &family, &port, addr, &has_addr);
	if (s)
		emit(s, DNS_DIR_SEND, (const void *)ctx->args[1], ctx->args[2], family, port, has_addr ? addr : NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int dns_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	const struct user_msghdr *um = (const void *)ctx->args[1];
	void *name = NULL;
	bpf_probe_read_user(&name, sizeof(name), &um->msg_name);
	__u16 family = 0, port = 0;
	__u8 addr[16];
	int has_addr;
	struct dns_sock *s = send_sock(ctx->args[0], name, &family, &port, addr, &has_addr);
	if (!s)
		return 0;
	emit_msg(s, DNS_DIR_SEND, um, DNS_LEN_SUM, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int dns_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct mmsghdr *mm = (void *)ctx->args[1];
	__u32 vlen = ctx->args[2];
	void *name = NULL;
	bpf_probe_read_user(&name, sizeof(name), &mm[0].msg_hdr.msg_name);
	__u16 family = 0, port = 0;
	__u8 addr[16];
	int has_addr;
	struct dns_sock *s = send_sock(ctx->args[0], name, &family, &port, addr, &has_addr);
	if (!s)
		return 0;
	for (int i = 0; i < DNS_MAX_MSGS; i++) {
		if (i >= vlen)
			break;
		emit_msg(s, DNS_DIR_SEND, (const struct user_msghdr *)&mm[i].msg_hdr, DNS_LEN_SUM, 1);
	}
	if (vlen > DNS_MAX_MSGS)
		stat_inc(DNS_STAT_MSGS_TRUNC);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int dns_write(struct trace_event_raw_sys_enter *ctx)
{
	struct dns_sock *s = dns_sock(ctx->args[0]);
	if (s)
		emit(s, DNS_DIR_SEND, (const void *)ctx->args[1], ctx->args[2], 0, 0, NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_writev")
int dns_writev(struct trace_event_raw_sys_enter *ctx)
{
	struct dns_sock *s = dns_sock(ctx->args[0]);
	if (!s)
		return 0;
	const struct iovec *uiov = (const void *)ctx->args[1];
	__u32 cnt = ctx->args[2];
	__u32 len = 0;
	for (int i = 0; i < DNS_MAX_IOV; i++) {
		if (i >= cnt)
			break;
		struct iovec iov = {};
		bpf_probe_read_user(&iov, sizeof(iov), &uiov[i]);
		len += iov.iov_len;
	}
	emit_iov(s, DNS_DIR_SEND, uiov, cnt, len);
	return 0;
}

/* ---------- receives: arguments kept at entry, bytes copied at exit ---------- */

static __always_inline int recv_enter(__u32 fd, __u32 kind, __u64 ptr, __u64 addr, __u32 count)
{
	if (!dns_sock(fd))
		return 0;
	struct recv_args a = { .ptr = ptr, .addr = addr, .fd = fd, .count = count, .kind = kind };
	__u64 id = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&dns_recv_args, &id, &a, BPF_ANY))
		stat_inc(DNS_STAT_ARGS_FULL);
	return 0;
}

static __always_inline int recv_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct recv_args *ap = bpf_map_lookup_elem(&dns_recv_args, &id);
	if (!ap)
		return 0;
	struct recv_args a = *ap;
	bpf_map_delete_elem(&dns_recv_args, &id);
	if (ret <= 0)
		return 0;
	struct dns_sock *s = dns_sock(a.fd);
	if (!s)
		return 0;
	if (a.kind == RK_BUF) {
		__u16 family = 0, port = 0;
		__u8 addr[16];
		int has = a.addr && read_sockaddr((const void *)a.addr, &family, &port, addr);
		emit(s, DNS_DIR_RECV, (const void *)a.ptr, ret, family, port, has ? addr : NULL, 0);
	} else if (a.kind == RK_MSG) {
		emit_msg(s, DNS_DIR_RECV, (const void *)a.ptr, ret, 1);
	} else if (a.kind == RK_IOV) {
		emit_iov(s, DNS_DIR_RECV, (const void *)a.ptr, a.count, ret);
	} else if (a.kind == RK_MMSG) {
		struct mmsghdr *mm = (void *)a.ptr;
		for (int i = 0; i < DNS_MAX_MSGS; i++) {
			if (i >= ret)
				break;
			__u32 n = 0;
			if (bpf_probe_read_user(&n, sizeof(n), &mm[i].msg_len))
				break;
			emit_msg(s, DNS_DIR_RECV, (const struct user_msghdr *)&mm[i].msg_hdr, n, 1);
		}
		if (ret > DNS_MAX_MSGS)
			stat_inc(DNS_STAT_MSGS_TRUNC);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int dns_recvfrom_enter(struct trace_event_raw_sys_enter *ctx)
{
	return recv_enter(ctx->args[0], RK_BUF, ctx->args[1], ctx->args[4], 0);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int dns_recvfrom_exit(struct trace_event_raw_sys_exit *ctx)
{
	return recv_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_read")
int dns_read_enter(struct trace_event_raw_sys_enter *ctx)
{
	return recv_enter(ctx->args[0], RK_BUF, ctx->args[1], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_read")
int dns_read_exit(struct trace_event_raw_sys_exit *ctx)
{
	return recv_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int dns_recvmsg_enter(struct trace_event_raw_sys_enter *ctx)
{
	return recv_enter(ctx->args[0], RK_MSG, ctx->args[1], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int dns_recvmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	return recv_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int dns_recvmmsg_enter(struct trace_event_raw_sys_enter *ctx)
{
	return recv_enter(ctx->args[0], RK_MMSG, ctx->args[1], 0, ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int dns_recvmmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	return recv_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int dns_readv_enter(struct trace_event_raw_sys_enter *ctx)
{
	return recv_enter(ctx->args[0], RK_IOV, ctx->args[1], 0, ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int dns_readv_exit(struct trace_event_raw_sys_exit *ctx)
{
	return recv_exit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
