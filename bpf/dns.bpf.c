// SPDX-License-Identifier: GPL-2.0
/* DNS messages of every process, from the socket tracepoints sock:sock_send_length and
 * sock:sock_recv_length (BTF-typed: tp_btf), which fire once per message a socket sends or receives.
 *
 * Why these and not the syscalls: attaching any program to a syscalls:sys_enter_* tracepoint sends every
 * syscall of every task down the kernel's tracing slow path (a program doing read/write on files or pipes
 * ran 25-40% slower). fentry/fexit on udp_sendmsg and friends would be the other way in, but this kernel
 * refuses BPF trampolines (EPERM at load, with kprobes compiled out); see ARCHITECTURE.md "DNS".
 *
 * A message is DNS when its socket's peer port is 53 (connected: glibc, c-ares, Go, dig, every TCP
 * resolver), or when it is sent to port 53 by address from an unconnected UDP socket (musl); such a
 * socket is remembered by its cookie, so its answers are DNS too. The tracepoint gives the socket and the
 * byte count after the kernel moved the bytes; where they are in the program's memory comes from the
 * syscall's own arguments (the task's saved user registers): write, writev, sendto, sendmsg, sendmmsg,
 * read, readv, recvfrom, recvmsg, recvmmsg. sendmmsg/recvmmsg fire once per message: the place in the
 * call is kept per thread. The first test on each hook is the socket's family and peer port. Parsing,
 * matching and TCP reassembly are done in user space. */
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
#define MSG_PEEK 2
#define MSG_ERRQUEUE 0x2000
#define DNS_PORT 53
#define ECONNREFUSED 111

#if defined(__TARGET_ARCH_x86)
#define NR_READ 0
#define NR_WRITE 1
#define NR_READV 19
#define NR_WRITEV 20
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#define NR_RECVMMSG 299
#define NR_SENDMMSG 307
#elif defined(__TARGET_ARCH_arm64)
#define NR_READ 63
#define NR_WRITE 64
#define NR_READV 65
#define NR_WRITEV 66
#define NR_SENDTO 206
#define NR_RECVFROM 207
#define NR_SENDMSG 211
#define NR_RECVMSG 212
#define NR_RECVMMSG 243
#define NR_SENDMMSG 269
#else
#error "syscall numbers for this architecture"
#endif

/* a sendmmsg/recvmmsg call still in progress on a thread is dropped from the map after this long */
#define MMSG_STALE_NS (10ull * 1000000000ull)

/* Unconnected sockets that sent to port 53 by address, by cookie. LRU: a socket closed by a process that
 * lives on is never looked up again and goes first; user space removes those of exited processes at
 * every window, before the LRU would have to push out a live one. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct dns_sock);
} dns_socks SEC(".maps");

/* where a thread is in a sendmmsg/recvmmsg on a DNS socket: the message the next tracepoint is for */
struct mmsg_state {
	__u64 mm;    /* the mmsghdr array */
	__u64 ts_ns; /* the last message's time: a call that ended without telling is forgotten */
	__u32 nr;
	__u32 idx;
	__u32 vlen;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct mmsg_state);
} dns_mmsg SEC(".maps");

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

/* The syscall the task is in, and its arguments, from the user registers saved at its entry. */
struct sys_call {
	__u64 nr;
	__u64 a[5];
};

static __always_inline int current_syscall(struct sys_call *c)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return 0;
#if defined(__TARGET_ARCH_x86)
	c->nr = BPF_CORE_READ(regs, orig_ax);
	c->a[0] = BPF_CORE_READ(regs, di);
	c->a[1] = BPF_CORE_READ(regs, si);
	c->a[2] = BPF_CORE_READ(regs, dx);
	c->a[3] = BPF_CORE_READ(regs, r10);
	c->a[4] = BPF_CORE_READ(regs, r8);
#else
	c->nr = BPF_CORE_READ(regs, syscallno);
	c->a[0] = BPF_CORE_READ(regs, orig_x0);
	c->a[1] = BPF_CORE_READ(regs, regs[1]);
	c->a[2] = BPF_CORE_READ(regs, regs[2]);
	c->a[3] = BPF_CORE_READ(regs, regs[3]);
	c->a[4] = BPF_CORE_READ(regs, regs[4]);
#endif
	return 1;
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

/* What emit_event() copies: one message or TCP chunk, and the socket it went through. */
struct emit_req {
	__u64 ubuf;
	__u64 sock;
	__u32 len;
	__u16 family;
	__u16 port;
	__u8 addr[16];
	__u8 dir;
	__u8 flags;
	__u8 proto;
	__u8 pad[5];
};

/* Copies r->len bytes at r->ubuf (at most DNS_CAP) into an event and sends it to the ring buffer.
 * Global and out of line: the verifier checks it once per program, not again at each place the message
 * and iovec code would otherwise inline it. */
__noinline int emit_event(struct emit_req *r)
{
	__u32 zero = 0;
	if (!r)
		return 0;
	struct dns_event *e = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!e)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 len = r->len;
	e->ts_ns = bpf_ktime_get_ns();
	e->sock = r->sock;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->tgid = id >> 32;
	e->pid = (__u32)id;
	e->len = len;
	e->dir = r->dir;
	e->proto = r->proto;
	e->flags = r->flags;
	e->family = r->family;
	e->port = r->port;
	__builtin_memcpy(e->addr, r->addr, 16);
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

/* The len bytes a message moved, from an iovec array in user memory: UDP copies the first iovec (the
 * whole datagram when it is in one buffer, as resolvers send it; flagged when it is not), TCP every
 * iovec as a chunk of the stream. */
static __always_inline void emit_iov(struct emit_req *r, const struct iovec *uiov, __u64 cnt, __u32 len)
{
	__u32 left = len;
	for (int i = 0; i < DNS_MAX_IOV; i++) {
		if (i >= cnt || left == 0)
			break;
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov), &uiov[i]))
			break;
		__u32 n = iov.iov_len < left ? iov.iov_len : left;
		r->ubuf = (__u64)iov.iov_base;
		if (r->proto == IPPROTO_UDP) {
			r->len = len;
			r->flags = n < len ? DNS_FLAG_IOV_TRUNC : 0;
			emit_event(r);
			return;
		}
		r->len = n;
		emit_event(r);
		left -= n;
	}
	if (left)
		stat_inc(DNS_STAT_PARTS_TRUNC);
}

/* One message of a user msghdr; `from_name` takes the peer from its msg_name (a send's destination). */
static __always_inline void emit_msg(struct emit_req *r, const struct user_msghdr *um, __u32 len, int from_name)
{
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), um))
		return;
	if (from_name && m.msg_name)
		read_sockaddr(m.msg_name, &r->family, &r->port, r->addr);
	emit_iov(r, m.msg_iov, m.msg_iovlen, len);
}

/* Which message of the thread's sendmmsg/recvmmsg (array mm, vlen entries) this tracepoint is for: the
 * kernel sends or receives them one by one and fires once for each. A call that stops early fires with an
 * error (ret <= 0: mmsg_end), or is forgotten after MMSG_STALE_NS. */
static __always_inline __u32 mmsg_index(__u32 nr, __u64 mm, __u32 vlen)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	struct mmsg_state *st = bpf_map_lookup_elem(&dns_mmsg, &id);
	if (st && st->nr == nr && st->mm == mm && st->idx < st->vlen && now - st->ts_ns < MMSG_STALE_NS) {
		__u32 idx = st->idx;
		st->idx = idx + 1;
		st->ts_ns = now;
		if (idx + 1 >= st->vlen)
			bpf_map_delete_elem(&dns_mmsg, &id);
		return idx;
	}
	if (vlen > 1) {
		struct mmsg_state s = { .mm = mm, .ts_ns = now, .nr = nr, .idx = 1, .vlen = vlen };
		if (bpf_map_update_elem(&dns_mmsg, &id, &s, BPF_ANY))
			stat_inc(DNS_STAT_ARGS_FULL);
	} else if (st) {
		bpf_map_delete_elem(&dns_mmsg, &id);
	}
	return 0;
}

static __always_inline void mmsg_end(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&dns_mmsg, &id);
}

static __always_inline __u64 sk_cookie(struct sock *sk)
{
	return bpf_get_socket_cookie(sk);
}

/* the socket's connected peer */
static __always_inline void sk_peer(struct sock *sk, __u16 family, struct emit_req *r)
{
	r->family = family;
	r->port = bpf_ntohs(sk->__sk_common.skc_dport);
	__builtin_memset(r->addr, 0, 16);
	if (family == AF_INET)
		BPF_CORE_READ_INTO((__u32 *)r->addr, sk, __sk_common.skc_daddr);
	else
		BPF_CORE_READ_INTO((struct in6_addr *)r->addr, sk, __sk_common.skc_v6_daddr);
}

/* The destination an unconnected send names, from the syscall's arguments: sendto's address, or the
 * msg_name of sendmsg's message or of sendmmsg's first message (0: none, or not a socket send call). */
static __always_inline int send_destination(struct sys_call *c, struct emit_req *r)
{
	const void *uaddr = NULL;
	if (c->nr == NR_SENDTO) {
		uaddr = (const void *)c->a[4];
	} else if (c->nr == NR_SENDMSG || c->nr == NR_SENDMMSG) {
		const struct user_msghdr *um = (const void *)c->a[1];
		bpf_probe_read_user(&uaddr, sizeof(uaddr), &um->msg_name);
	}
	return uaddr && read_sockaddr(uaddr, &r->family, &r->port, r->addr);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(dns_send, struct sock *sk, int ret, int flags)
{
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct emit_req r = { .dir = DNS_DIR_SEND };
	struct sys_call c = {};
	int connected = sk->__sk_common.skc_dport == bpf_htons(DNS_PORT);
	r.proto = BPF_CORE_READ(sk, sk_protocol);
	if (connected) {
		if (r.proto != IPPROTO_UDP && r.proto != IPPROTO_TCP)
			return 0;
	} else {
		/* unconnected UDP: DNS when the call names port 53 */
		if (r.proto != IPPROTO_UDP || sk->__sk_common.skc_dport != 0)
			return 0;
		if (!current_syscall(&c) || !send_destination(&c, &r) || r.port != DNS_PORT)
			return 0;
	}
	if (ret <= 0) {
		mmsg_end();
		/* an ICMP port unreachable is reported on the socket's next call, a send as well as a receive */
		if (ret == -ECONNREFUSED && connected && r.proto == IPPROTO_UDP) {
			r.sock = sk_cookie(sk);
			sk_peer(sk, family, &r);
			r.dir = DNS_DIR_UNREACHABLE;
			emit_event(&r);
		}
		return 0;
	}
	r.sock = sk_cookie(sk);
	if (connected) {
		sk_peer(sk, family, &r);
		if (!current_syscall(&c))
			return 0;
	} else if (!bpf_map_lookup_elem(&dns_socks, &r.sock)) {
		struct dns_sock s = { .tgid = bpf_get_current_pid_tgid() >> 32 };
		if (bpf_map_update_elem(&dns_socks, &r.sock, &s, BPF_ANY))
			stat_inc(DNS_STAT_SOCK_FAIL);
	}
	switch (c.nr) {
	case NR_WRITE:
	case NR_SENDTO:
		r.ubuf = c.a[1];
		r.len = ret;
		emit_event(&r);
		break;
	case NR_WRITEV:
		emit_iov(&r, (const struct iovec *)c.a[1], c.a[2], ret);
		break;
	case NR_SENDMSG:
		emit_msg(&r, (const struct user_msghdr *)c.a[1], ret, 1);
		break;
	case NR_SENDMMSG: {
		struct mmsghdr *mm = (struct mmsghdr *)c.a[1];
		__u32 i = mmsg_index(NR_SENDMMSG, c.a[1], c.a[2]);
		emit_msg(&r, (const struct user_msghdr *)&mm[i & 0xffff].msg_hdr, ret, 1);
		break;
	}
	default:
		stat_inc(DNS_STAT_PARTS_TRUNC);
	}
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(dns_recv, struct sock *sk, int ret, int flags)
{
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (flags & (MSG_PEEK | MSG_ERRQUEUE)) /* a peek is read again; the error queue holds no DNS */
		return 0;
	struct emit_req r = { .dir = DNS_DIR_RECV };
	r.proto = BPF_CORE_READ(sk, sk_protocol);
	if (r.proto != IPPROTO_UDP && r.proto != IPPROTO_TCP)
		return 0;
	if (sk->__sk_common.skc_dport == bpf_htons(DNS_PORT)) {
		r.sock = sk_cookie(sk);
		sk_peer(sk, family, &r);
	} else {
		/* an unconnected socket that asked port 53 by address (a cookie never taken: not one) */
		if (r.proto != IPPROTO_UDP || !sk->__sk_common.skc_cookie.counter)
			return 0;
		r.sock = sk_cookie(sk);
		if (!bpf_map_lookup_elem(&dns_socks, &r.sock))
			return 0;
	}
	if (ret <= 0) {
		mmsg_end();
		/* ICMP port unreachable on a connected UDP socket: the call fails at once with ECONNREFUSED
		 * and the client gives up on this server: not a timeout */
		if (ret == -ECONNREFUSED && r.proto == IPPROTO_UDP && sk->__sk_common.skc_dport == bpf_htons(DNS_PORT)) {
			r.dir = DNS_DIR_UNREACHABLE;
			emit_event(&r);
		}
		return 0;
	}
	struct sys_call c = {};
	if (!current_syscall(&c))
		return 0;
	/* the sender's address reaches the caller only after this point (recvfrom, recvmsg): the answer is
	 * matched to its query by socket and id in user space, and the query names the nameserver */
	switch (c.nr) {
	case NR_READ:
	case NR_RECVFROM:
		r.ubuf = c.a[1];
		r.len = ret;
		emit_event(&r);
		break;
	case NR_READV:
		emit_iov(&r, (const struct iovec *)c.a[1], c.a[2], ret);
		break;
	case NR_RECVMSG:
		emit_msg(&r, (const struct user_msghdr *)c.a[1], ret, 0);
		break;
	case NR_RECVMMSG: {
		struct mmsghdr *mm = (struct mmsghdr *)c.a[1];
		__u32 i = mmsg_index(NR_RECVMMSG, c.a[1], c.a[2]);
		emit_msg(&r, (const struct user_msghdr *)&mm[i & 0xffff].msg_hdr, ret, 0);
		break;
	}
	default:
		stat_inc(DNS_STAT_PARTS_TRUNC);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
