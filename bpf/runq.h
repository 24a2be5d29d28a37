/* SPDX-License-Identifier: Apache-2.0 */
/* Structs shared between runq.bpf.c and user space (runq/layout.ts decodes them). */
#ifndef KILN_RUNQ_H
#define KILN_RUNQ_H

/* Run-queue latency histogram buckets: slot 0 holds waits under 1 us; after it, four slots per power
 * of two of microseconds (each power split in quarters), up to 2^30 us. Slot s >= 1 covers
 * [2^l * (1 + q/4), 2^l * (1 + (q+1)/4)) us with l = (s-1)/4, q = (s-1)%4; the last slot is open. */
#define RUNQ_SLOTS 121

/* flags in runq_key.flags */
#define RUNQ_FLAG_KTHREAD 1u

/* Whose waits a histogram holds: the process (thread group) that waited, in its cgroup. User space
 * names it as every collector names a process (a container or unit by its cgroup, anything else by its
 * executable) and sums the histograms of one application. */
struct runq_key {
	__u64 cgroup_id;
	__u32 tgid;
	__u32 flags;
	char comm[16]; /* the thread-group leader's: the process's name, not a thread's */
};

struct runq_hist {
	__u64 slots[RUNQ_SLOTS];
	__u64 total_ns; /* sum of all waits */
	__u64 count;
};

enum runq_stat {
	RUNQ_STAT_START_FULL = 0, /* a wakeup not recorded: the thread's storage could not be allocated */
	RUNQ_STAT_HIST_FULL = 1,  /* a wait not counted: the histogram map was full */
	RUNQ_STAT_MAX = 2,
};

#endif
