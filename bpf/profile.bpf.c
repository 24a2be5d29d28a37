// SPDX-License-Identifier: GPL-2.0
/* CPU sampler: runs on a perf_event cpu-clock on every CPU, records the user and kernel
 * stacks of the current task and counts (process, cgroup, stacks) in a hash map.
 *
 * Stacks live in a hash map keyed by a 64-bit hash of their frames (a real hash table, so two
 * different stacks never silently share a slot the way BPF_MAP_TYPE_STACK_TRACE buckets do).
 * Counts are double-buffered: user space flips `profile_state[0]` and drains the idle buffer
 * with one batch lookup-and-delete, then drains the whole stacks map the same way. Every stack
 * leaves the kernel map at the first drain after it was stored: a stack sampled again is stored
 * again, so nothing that recurs can pin an entry (user space keeps recent stacks in a cache). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "stacks.bpf.h"


/* Sizes are set by user space before load from the CPU count, rate and drain interval. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct profile_key);
	__type(value, __u64);
} profile_counts0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct profile_key);
	__type(value, __u64);
} profile_counts1 SEC(".maps");

static __always_inline int sampled_user_mode(struct bpf_perf_event_data *ctx)
{
#if defined(__TARGET_ARCH_x86)
	/* a full 8-byte load: the verifier refuses narrow loads of perf_event regs */
	__u64 cs = *(volatile __u64 *)&ctx->regs.cs;
	return (cs & 3) == 3;
#else
	return 0; /* elsewhere: walk, and an empty kernel stack is simply no stack */
#endif
}

SEC("perf_event")
int kiln_profile(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	if (tid == 0) {
		profile_stat_inc(PROFILE_STAT_IDLE);
		return 0;
	}
	profile_stat_inc(PROFILE_STAT_SAMPLES);

	__u32 zero = 0;
	struct profile_stack *scratch = bpf_map_lookup_elem(&profile_scratch, &zero);
	if (!scratch)
		return 0;

	struct profile_key key = {};
	key.tgid = id >> 32;
	key.cgroup_id = bpf_get_current_cgroup_id();
	__u32 clock_idx = PROFILE_STATE_CLOCK_OFFSET;
	__u64 *offset = bpf_map_lookup_elem(&profile_state, &clock_idx);
	key.unix_sec = (__u32)((bpf_ktime_get_boot_ns() + (offset ? *offset : 0)) / 1000000000ULL);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* the process's name (its thread-group leader's comm), not the sampled thread's: a process that
	 * exits before /proc is read is named by it, and one key per process, not per thread name */
	BPF_CORE_READ_STR_INTO(&key.comm, task, group_leader, comm);

	unsigned int task_flags = BPF_CORE_READ(task, flags);
	if (task_flags & PF_KTHREAD)
		key.flags |= KILN_FLAG_KTHREAD;
	else {
		key.exe_ino = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino);
		key.start_stack = BPF_CORE_READ(task, mm, start_stack);
	}

	/* a sample that interrupted user mode has no kernel stack to walk */
	int user_mode = sampled_user_mode(ctx);
	if (!user_mode)
		key.kernel_stack_hash = record_stack(ctx, scratch, 0, PROFILE_STAT_KSTACK_ERR);
	if (!(key.flags & KILN_FLAG_KTHREAD)) {
		if (unwind_with_tables) {
			struct walk user = {};
			if (user_mode) {
				user.pc = *(volatile __u64 *)&ctx->regs.ip;
				user.sp = *(volatile __u64 *)&ctx->regs.sp;
				user.bp = *(volatile __u64 *)&ctx->regs.bp;
			}
			key.user_stack_hash = unwind_user(ctx, &user, scratch, key.tgid, key.start_stack, SLOT_CPU);
		} else {
			key.user_stack_hash = record_stack(ctx, scratch, BPF_F_USER_STACK, PROFILE_STAT_USTACK_ERR);
		}
	}

	__u64 *active = bpf_map_lookup_elem(&profile_state, &zero);
	void *counts = (active && *active) ? (void *)&profile_counts1 : (void *)&profile_counts0;

	__u64 *count = bpf_map_lookup_elem(counts, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	__u64 one = 1;
	long err = bpf_map_update_elem(counts, &key, &one, BPF_NOEXIST);
	if (err == -17) { /* another CPU inserted it first */
		count = bpf_map_lookup_elem(counts, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
	} else if (err) {
		profile_stat_inc(PROFILE_STAT_COUNTS_FULL);
	}
	return 0;
}


char LICENSE[] SEC("license") = "GPL";
