/* SPDX-License-Identifier: Apache-2.0 */
/* Structs shared between runq.bpf.c and user space (profiler/runq-layout.ts decodes them). */
#ifndef KILN_RUNQ_H
#define KILN_RUNQ_H

/* Run-queue latency histogram buckets: slot 0 holds waits under 1 us; after it, four slots per power
 * of two of microseconds (each power split in quarters), up to 2^30 us. Slot s >= 1 covers
 * [2^l * (1 + q/4), 2^l * (1 + (q+1)/4)) us with l = (s-1)/4, q = (s-1)%4; the last slot is open. */
#define RUNQ_SLOTS 121

struct runq_hist {
	__u64 slots[RUNQ_SLOTS];
	__u64 total_ns; /* sum of all waits */
	__u64 count;
};

enum runq_stat {
	RUNQ_STAT_START_FULL = 0, /* a wakeup not recorded: the start map was full */
	RUNQ_STAT_HIST_FULL = 1,  /* a wait not counted: the histogram map was full */
	RUNQ_STAT_MAX = 2,
};

#endif
