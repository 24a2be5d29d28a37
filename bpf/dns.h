/* SPDX-License-Identifier: Apache-2.0 */
/* Structs shared between dns.bpf.c and user space (dns/capture.ts decodes them). */
#ifndef KILN_DNS_H
#define KILN_DNS_H

#define DNS_CAP 512        /* bytes of each message or stream chunk copied; the rest is counted in len */
#define DNS_DATA_SIZE 1024 /* room for the masked copy length the verifier accepts */
#define DNS_MAX_MSGS 8     /* sendmmsg/recvmmsg messages looked at per call */
#define DNS_MAX_IOV 4      /* iovecs looked at per message (TCP chunks; UDP takes the first) */

#define DNS_DIR_SEND 0
#define DNS_DIR_RECV 1

#define DNS_FLAG_IOV_TRUNC 1u /* a UDP message spread over more iovecs than the first: only its first part copied */
#define DNS_FLAG_MSGS_TRUNC 2u /* more messages in one sendmmsg/recvmmsg call than DNS_MAX_MSGS */

/* One DNS socket of one process, keyed by (tgid, fd): registered when it connects to port 53 or sends
 * to port 53; the file pointer catches a descriptor number reused for something else. */
struct dns_sock_key {
	__u32 tgid;
	__u32 fd;
};

struct dns_sock {
	__u64 file;
	__u16 family;
	__u16 port;     /* the nameserver port of a connected socket (host order), 0 if unconnected */
	__u8 proto;     /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 pad[3];
	__u8 addr[16];  /* the connected nameserver's address */
};

/* A ring buffer record: a header, then caplen bytes of the message (UDP) or stream chunk (TCP). */
struct dns_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 sock;       /* the socket's struct file: identity of the socket for matching */
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
	DNS_STAT_ARGS_FULL = 1,    /* a receive lost: the in-flight syscall map was full */
	DNS_STAT_SOCK_FAIL = 2,    /* a DNS socket not registered (map update failed) */
	DNS_STAT_MSGS_TRUNC = 3,   /* messages past DNS_MAX_MSGS in one sendmmsg/recvmmsg call, not looked at */
	DNS_STAT_MAX = 4,
};

#endif
