/* SPDX-License-Identifier: Apache-2.0 */
/* Structs shared between tcp.bpf.c and user space (netcost/tcp-layout.ts decodes them). */
#ifndef KILN_TCP_H
#define KILN_TCP_H

#define KILN_TCP_INBOUND 1u     /* accepted by a listening socket (else: connected out) */
#define KILN_TCP_ESTABLISHED 2u /* reached ESTABLISHED while tracked */
#define KILN_TCP_CONNECTING 4u  /* seen in SYN_SENT: an outbound connect Kiln watched from the start */
#define KILN_TCP_FAILED 8u      /* a connect that closed without ever being established */

/* One TCP connection, keyed by its socket pointer. Byte counters are cumulative over its life. */
struct tcp_conn {
	__u32 tgid;       /* owner: the process that connected, or that first sent/received (inbound) */
	__u32 flags;
	__u64 cgroup_id;
	char comm[16];
	__u8 saddr[16];   /* IPv4 in the first 4 bytes when family == AF_INET */
	__u8 daddr[16];
	__u16 sport;      /* host order */
	__u16 dport;      /* host order */
	__u16 family;
	__u16 pad;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 retransmits;
	__u64 opened_ns;  /* distinguishes two connections that reused one socket address */
	__s64 egress_left; /* egress stacks: bytes to the next sample point (0: none drawn yet) */
};

/* Key of tcp_closed: one socket address can close twice between two reads by user space. */
struct tcp_closed_key {
	__u64 sk;
	__u64 opened_ns;
};

enum tcp_stat {
	TCP_STAT_CONNS_FULL = 0,  /* a connection not tracked: the connections map was full */
	TCP_STAT_CLOSED_FULL = 1, /* a closed connection's last bytes lost: the closed map was full */
	TCP_STAT_CLOSED = 2,      /* connections moved to the closed map: user space drains it only when this moved */
	TCP_STAT_MAX = 3,
};

#endif
