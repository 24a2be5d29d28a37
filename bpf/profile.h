/* SPDX-License-Identifier: Apache-2.0 */
/* Structs shared between profile.bpf.c and user space (profiler/bpf-layout.ts decodes them).
 * Fixed-width fields only, explicit padding, no implicit holes. */
#ifndef KILN_PROFILE_H
#define KILN_PROFILE_H

#define KILN_MAX_STACK_DEPTH 127
#define KILN_TASK_COMM_LEN 16

/* flags in profile_key.flags */
#define KILN_FLAG_KTHREAD 1u

/* One aggregation key: a process, its cgroup, the hashes of its two stacks, the second the sample
 * was taken and the executable the process was running then.
 * A stack hash of 0 means "no stack" (kernel thread has no user stack, or the walk failed). */
struct profile_key {
	__u32 tgid;
	__u32 flags;
	__u64 cgroup_id;
	__u64 user_stack_hash;
	__u64 kernel_stack_hash;
	__u64 exe_ino;     /* inode of task->mm->exe_file at the sample (0: no mm): which binary ran */
	__u64 start_stack; /* task->mm->start_stack: differs per exec (stack ASLR), tells images of one pid apart */
	__u32 unix_sec;  /* unix second of the sample: samples are filed under the time they were taken */
	__u32 pad;
	char comm[KILN_TASK_COMM_LEN]; /* the thread-group leader's: the process's name, not a thread's */
};

/* One stack: `depth` instruction pointers, leaf first; slots past depth are garbage. */
struct profile_stack {
	__u64 ips[KILN_MAX_STACK_DEPTH];
	__u32 depth;
	__u32 pad;
};

/* Indexes into `profile_state` (u64 values). */
enum profile_state_idx {
	PROFILE_STATE_ACTIVE = 0,        /* counts buffer being written: 0 or 1 */
	PROFILE_STATE_CLOCK_OFFSET = 1,  /* CLOCK_REALTIME - CLOCK_BOOTTIME, ns */
	PROFILE_STATE_MAX = 2,
};

/* Indexes into the per-CPU `profile_stats` array. */
enum profile_stat {
	PROFILE_STAT_SAMPLES = 0,       /* samples seen (non-idle) */
	PROFILE_STAT_IDLE = 1,          /* samples on the idle task, not recorded */
	PROFILE_STAT_COUNTS_FULL = 2,   /* sample lost: the active counts map was full */
	PROFILE_STAT_STACKS_FULL = 3,   /* stack lost (sample kept without it): stacks map full */
	PROFILE_STAT_USTACK_ERR = 4,    /* user stack walk failed */
	PROFILE_STAT_KSTACK_ERR = 5,    /* kernel stack walk failed */
	/* user stacks by unwind tables (ARCHITECTURE.md, "Unwinding"): how each walk went */
	PROFILE_STAT_WALK_TABLES = 6,   /* user stacks walked with the process's unwind tables */
	PROFILE_STAT_WALK_FP = 7,       /* process not loaded yet (or exec'd): whole stack by frame pointers */
	PROFILE_STAT_FRAMES_FP = 8,     /* frames taken by a frame-pointer step (no table covers the code) */
	PROFILE_STAT_END_SIGNAL = 9,    /* walk ended at a signal frame */
	PROFILE_STAT_END_UNSUPPORTED = 10, /* walk ended at a rule it cannot follow (CFA expression, register) */
	PROFILE_STAT_END_READ = 11,     /* walk ended: the stack could not be read (paged out, bad pointer) */
	PROFILE_STAT_END_DEPTH = 12,    /* walk ended at KILN_MAX_STACK_DEPTH with frames left */
	PROFILE_STAT_END_BAD_FRAME = 13, /* walk ended: the next frame would not be above this one */
	PROFILE_STAT_REQUESTS_FULL = 14, /* a process could not ask for its tables: request map full */
	PROFILE_STAT_REQUESTS = 15,     /* requests made: user space drains the request map only when this moved */
	/* egress stacks (kiln_egress): sample points are bytes sent, one every egress_bytes_per_sample on average */
	PROFILE_STAT_EGRESS_SAMPLED_SENDS = 16, /* TCP sends that held a sample point (a walk each) */
	PROFILE_STAT_EGRESS_POINTS = 17, /* sample points recorded (a send can hold several) */
	PROFILE_STAT_EGRESS_FULL = 18,   /* sample points lost: the active egress counts map was full */
	PROFILE_STAT_MAX = 19,
};

/* One egress aggregation key: the sender as a profile_key (its kernel_stack_hash is 0: the send path
 * in the kernel is always the same) and the connection's peer. Value: sample points (u64). */
struct egress_key {
	struct profile_key k;
	__u8 daddr[16];  /* IPv4 in the first 4 bytes when family == AF_INET */
	__u16 dport;     /* host order */
	__u16 family;
	__u32 pad;
};

/* Sampling by bytes (ARCHITECTURE.md, "Egress stacks"): egress_gaps holds EGRESS_GAPS quantiles of an
 * exponential distribution with the mean bytes per sample; each socket counts down a gap drawn from it. */
#define KILN_EGRESS_GAPS 1024

/* ---- unwind tables (filled by profiler/unwind/, read by the walk in profile.bpf.c) ---- */

/* What a row tells the walk to do (profiler/unwind/cfi.ts UnwindKind). */
enum unwind_kind {
	UNWIND_NONE = 0,        /* no information: frame-pointer step */
	UNWIND_CFA_RSP = 1,     /* CFA = rsp + cfa_off8 * 8 */
	UNWIND_CFA_RBP = 2,     /* CFA = rbp + cfa_off8 * 8 */
	UNWIND_PLT = 3,         /* CFA = rsp + cfa_off8 * 8, + 8 when (pc & 15) >= rbp_off8 */
	UNWIND_OUTERMOST = 4,   /* return address undefined: the first frame */
	UNWIND_SIGNAL = 5,
	UNWIND_UNSUPPORTED = 6,
};

/* One row: from ELF address `pc` on (until the next row), the rule. The return address is at CFA - 8;
 * the caller's rbp at CFA + rbp_off8 * 8, or unchanged when rbp_off8 is 0. 8 bytes. */
struct unwind_row {
	__u32 pc;
	__u16 cfa_off8;
	__u8 kind;
	__s8 rbp_off8;
};

/* A binary's rows: unwind_rows[first, first + rows), sorted by pc. Index: table id. */
struct unwind_table {
	__u32 first;
	__u32 rows;
};

#define KILN_UNWIND_MAX_MAPPINGS 128

/* One executable mapping with a table: pc in [start, end) uses table `table` at ELF address pc - bias. */
struct unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;
	__u32 table;
	__u32 pad;
};

/* A process's executable mappings with tables, sorted by start; keyed by tgid. */
struct unwind_proc {
	__u64 image;        /* mm->start_stack of the image they were read from: another value, it exec'd */
	__u64 refresh_after_ns; /* CLOCK_MONOTONIC: a pc outside every mapping asks for a re-read only after this;
				 * user space backs off while re-reads find nothing new (JIT code, not dlopen) */
	__u32 count;
	__u32 pad;
	struct unwind_mapping maps[KILN_UNWIND_MAX_MAPPINGS];
};

/* A process's request for its tables (unwind_requests, keyed by tgid): why, and how many samples asked
 * since the last drain, so that user space serves the busiest processes first. */
struct unwind_request_value {
	__u32 reason;
	__u32 samples;
};

/* Why a process asks user space for its tables. */
enum unwind_request {
	UNWIND_REQ_NEW = 1,     /* never loaded */
	UNWIND_REQ_EXEC = 2,    /* a new image */
	UNWIND_REQ_REFRESH = 3, /* a pc outside every known mapping (dlopen, or JIT code) */
};

#endif
