/* SPDX-License-Identifier: Apache-2.0 */
/* Structs shared between dns.bpf.c and user space (dns/capture.ts decodes them). */
#ifndef KILN_DNS_H
#define KILN_DNS_H

#define DNS_CAP 512        /* bytes of each message or stream chunk copied; the rest is counted in len */
#define DNS_DATA_SIZE 1024 /* room for the masked copy length the verifier accepts */
#define DNS_MAX_IOV 4      /* iovecs looked at per message (TCP chunks; UDP takes the first) */

#define DNS_DIR_SEND 0
#define DNS_DIR_RECV 1
#define DNS_DIR_UNREACHABLE 2 /* a receive on a connected UDP socket failed with ECONNREFUSED: the
                               * nameserver's host answered ICMP port unreachable (no data) */

#define DNS_FLAG_IOV_TRUNC 1u /* a UDP message spread over more iovecs than the first: only its first part copied */

/* An unconnected UDP socket that sent to port 53 by address (musl, unconnected resolvers), keyed by its
 * socket cookie: its receives are DNS too. A connected socket needs no entry (its peer port says it). */
struct dns_sock {
	__u32 tgid; /* the process that registered it: the entry leaves when that process is gone */
	__u32 pad;
};

/* A ring buffer record: a header, then caplen bytes of the message (UDP) or stream chunk (TCP). */
struct dns_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 sock;       /* the socket's cookie: identity of the socket for matching */
	__u64 cgroup_id;
	__u32 tgid;
	__u32 pid;
	__u32 len;        /* bytes of the message or chunk as the syscall moved them */
	__u16 caplen;     /* bytes copied below */
	__u8 dir;         /* DNS_DIR_* */
	__u8 proto;
	__u16 family;
	__u16 port;       /* the peer's (nameserver's) port, host order */
	__u8 flags;       /* DNS_FLAG_* */
	__u8 pad[7];
	__u8 addr[16];    /* the peer's address (IPv4 in the first 4 bytes) */
	char comm[16];
	__u8 data[DNS_DATA_SIZE];
};

enum dns_stat {
	DNS_STAT_RINGBUF_FULL = 0, /* an event lost: the ring buffer was full */
	DNS_STAT_ARGS_FULL = 1,    /* a sendmmsg/recvmmsg's place lost: the in-flight call map was full */
	DNS_STAT_SOCK_FAIL = 2,    /* an unconnected DNS socket not registered (map update failed) */
	DNS_STAT_PARTS_TRUNC = 3,  /* DNS bytes not read: past DNS_MAX_IOV iovecs, or moved by a call the
	                            * program cannot read (io_uring, sendfile, splice) */
	DNS_STAT_MAX = 4,
};

#endif
