// SPDX-License-Identifier: GPL-2.0
/* TCP bytes per connection and owner, from tracepoints (no kprobes on this kernel family):
 * - inet_sock_set_state: outbound connections at SYN_SENT (owner = the connecting task), accepted ones at
 *   SYN_RECV -> ESTABLISHED (softirq: owner bound later), closes at CLOSE (moved to tcp_closed);
 * - sock_send_length / sock_recv_length: bytes, in process context, so the owner is at hand;
 * - tcp_retransmit_skb: retransmits.
 * Counters are cumulative; user space reads tcp_conns without deleting (long-lived connections are
 * counted as they go) and drains tcp_closed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tcp.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* the walk and the egress sample points, shared with the profile object (ARCHITECTURE.md, "Egress stacks") */
#include "stacks.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tcp_conn);
} tcp_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tcp_closed_key);
	__type(value, struct tcp_conn);
} tcp_closed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tcp_stats SEC(".maps");

/* scratch for building a new entry (too large for the BPF stack next to everything else) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcp_conn);
} tcp_scratch SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&tcp_stats, &idx);
	if (v)
		*v += 1;
}

/* Every program here is tp_btf: `sk` is a typed kernel pointer, so its fields are read with direct
 * (CO-RE relocated) loads instead of bpf_probe_read_kernel calls; on the send/recv path that is most
 * of the program's cost. */
static __always_inline int is_tcp(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD(sk, sk_protocol) == IPPROTO_TCP;
}

static __always_inline void set_owner(struct tcp_conn *c)
{
	c->tgid = bpf_get_current_pid_tgid() >> 32;
	c->cgroup_id = bpf_get_current_cgroup_id();
	/* the process's name, not the sending thread's */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BPF_CORE_READ_STR_INTO(&c->comm, task, group_leader, comm);
}

/* A new entry for sk with its addresses; owner set when `owned`. Returns the map's entry or NULL. */
static __always_inline struct tcp_conn *track(struct sock *sk, __u32 flags, int owned)
{
	__u32 zero = 0;
	struct tcp_conn *c = bpf_map_lookup_elem(&tcp_scratch, &zero);
	if (!c)
		return NULL;
	__builtin_memset(c, 0, sizeof(*c));
	__u16 family = sk->__sk_common.skc_family;
	c->family = family;
	if (family == AF_INET) {
		__builtin_memcpy(c->saddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(c->daddr, &sk->__sk_common.skc_daddr, 4);
	} else if (family == AF_INET6) {
		__builtin_memcpy(c->saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(c->daddr, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		return NULL;
	}
	c->sport = sk->__sk_common.skc_num;
	c->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	c->flags = flags;
	c->opened_ns = bpf_ktime_get_ns();
	if (owned)
		set_owner(c);
	__u64 key = (__u64)sk;
	if (bpf_map_update_elem(&tcp_conns, &key, c, BPF_NOEXIST) && !bpf_map_lookup_elem(&tcp_conns, &key)) {
		stat_inc(TCP_STAT_CONNS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&tcp_conns, &key);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, struct sock *sk, int oldstate, int newstate)
{
	if (!is_tcp(sk))
		return 0;
	__u64 key = (__u64)sk;
	if (newstate == BPF_TCP_SYN_SENT) {
		track(sk, KILN_TCP_CONNECTING, 1);
	} else if (newstate == BPF_TCP_ESTABLISHED) {
		struct tcp_conn *c = bpf_map_lookup_elem(&tcp_conns, &key);
		if (!c)
			c = track(sk, (oldstate == BPF_TCP_SYN_RECV ? KILN_TCP_INBOUND : 0) | KILN_TCP_ESTABLISHED, 0);
		else { /* the source port is final now (the address was chosen before SYN_SENT) */
			c->sport = sk->__sk_common.skc_num;
			c->flags |= KILN_TCP_ESTABLISHED;
		}
	} else if (newstate == BPF_TCP_CLOSE) {
		struct tcp_conn *c = bpf_map_lookup_elem(&tcp_conns, &key);
		if (!c)
			return 0;
		if ((c->flags & (KILN_TCP_CONNECTING | KILN_TCP_ESTABLISHED)) == KILN_TCP_CONNECTING)
			c->flags |= KILN_TCP_FAILED;
		/* bytes that never passed sock_sendmsg/recvmsg (sendfile, splice, zero-copy) are in the
		 * socket's own counters: at close they are final, and the larger figure wins. Only for a
		 * connection watched since it was established: else they include bytes from before Kiln */
		if (c->flags & KILN_TCP_ESTABLISHED) {
			struct tcp_sock *tp = (struct tcp_sock *)sk;
			__u64 acked = BPF_CORE_READ(tp, bytes_acked);
			__u64 rcvd = BPF_CORE_READ(tp, bytes_received);
			/* both count the SYN and FIN sequence numbers too (up to 2 sent, 1 received):
			 * only a larger gap is payload that bypassed the socket calls */
			if (acked > c->bytes_sent + 2)
				c->bytes_sent = acked - 2;
			if (rcvd > c->bytes_received + 1)
				c->bytes_received = rcvd - 1;
		}
		if (c->bytes_sent || c->bytes_received || c->retransmits || (c->flags & KILN_TCP_FAILED)) {
			struct tcp_closed_key ck = { .sk = key, .opened_ns = c->opened_ns };
			if (bpf_map_update_elem(&tcp_closed, &ck, c, BPF_ANY))
				stat_inc(TCP_STAT_CLOSED_FULL);
			else
				stat_inc(TCP_STAT_CLOSED);
		}
		bpf_map_delete_elem(&tcp_conns, &key);
	}
	return 0;
}

/* Egress stacks: the connection counts down bytes to its next sample point, gaps drawn from an
 * exponential distribution (a Poisson process over the bytes it sends), so every byte is a sample point
 * with the same chance 1/N whatever the pattern of sends; where a send crosses it, the sender's user stack
 * is walked and counted with the number of points the send held. One subtraction per send otherwise. */
static __always_inline void egress_countdown(void *ctx, struct sock *sk, struct tcp_conn *c, int ret)
{
	/* a new connection starts a whole gap away: memoryless, so its first bytes are as likely as any */
	__s64 l = (c->egress_left > 0 ? c->egress_left : egress_gap()) - ret;
	if (l > 0) {
		c->egress_left = l;
		return;
	}
	__u64 points = 0;
	for (int i = 0; i < 16 && l <= 0; i++) {
		points++;
		l += egress_gap();
	}
	if (l <= 0) { /* a send of many mean gaps: the rest counted at the mean */
		points += (__u64)(-l) / egress_bytes_per_sample + 1;
		l = egress_gap();
	}
	c->egress_left = l;
	egress_record(ctx, sk, c->family, points);
}

static __always_inline void count(void *ctx, struct sock *sk, int ret, int sent)
{
	if (ret <= 0 || !is_tcp(sk))
		return;
	/* reads after the socket closed (data left in the receive queue when it went to TIME_WAIT):
	 * the close handler already took them from the socket's own byte counters */
	if (sk->__sk_common.skc_state == BPF_TCP_CLOSE)
		return;
	__u64 key = (__u64)sk;
	struct tcp_conn *c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!c) /* opened before Kiln started */
		c = track(sk, 0, 1);
	if (!c)
		return;
	if (c->tgid == 0) /* accepted in softirq: the first process to use it owns it */
		set_owner(c);
	if (sent)
		__sync_fetch_and_add(&c->bytes_sent, ret);
	else
		__sync_fetch_and_add(&c->bytes_received, ret);
	if (sent && egress_bytes_per_sample)
		egress_countdown(ctx, sk, c, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tcp_send, struct sock *sk, int ret, int flags)
{
	count(ctx, sk, ret, 1);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tcp_recv, struct sock *sk, int ret, int flags)
{
	count(ctx, sk, ret, 0);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct tcp_conn *c = bpf_map_lookup_elem(&tcp_conns, &key);
	if (c)
		__sync_fetch_and_add(&c->retransmits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
