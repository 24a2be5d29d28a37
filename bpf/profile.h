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
	char comm[KILN_TASK_COMM_LEN];
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
	PROFILE_STAT_MAX = 6,
};

#endif
