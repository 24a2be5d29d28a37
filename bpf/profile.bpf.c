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
#include "profile.h"

#define PF_KTHREAD 0x00200000

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct profile_stack);
} profile_stacks SEC(".maps");

/* [PROFILE_STATE_ACTIVE] = index of the counts buffer being written (0 or 1);
 * [PROFILE_STATE_CLOCK_OFFSET] = CLOCK_REALTIME - CLOCK_BOOTTIME in ns, kept current by user space */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROFILE_STATE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} profile_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} profile_stats SEC(".maps");

/* per-CPU scratch for one stack walk (too large for the 512-byte BPF stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct profile_stack);
} profile_scratch SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&profile_stats, &idx);
	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* FNV-1a over 64-bit words, then a final avalanche (splitmix64); 0 is reserved for "no stack". */
static __always_inline __u64 hash_stack(const struct profile_stack *s, __u32 depth)
{
	__u64 h = 0xcbf29ce484222325ULL;
	for (__u32 i = 0; i < KILN_MAX_STACK_DEPTH; i++) {
		if (i >= depth)
			break;
		h ^= s->ips[i];
		h *= 0x100000001b3ULL;
	}
	h ^= depth;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h ? h : 1;
}

/* Walk one stack into scratch, store it if new, return its hash (0 when the walk failed). */
static __always_inline __u64 record_stack(struct bpf_perf_event_data *ctx, struct profile_stack *scratch,
					  __u64 flags, __u32 err_stat)
{
	long n = bpf_get_stack(ctx, scratch->ips, sizeof(scratch->ips), flags);
	if (n <= 0) {
		/* an empty stack (0 or -EFAULT: nothing to walk) is not a failure */
		if (n < 0 && n != -14 /* EFAULT */)
			stat_inc(err_stat);
		return 0;
	}
	__u32 depth = (__u32)n / sizeof(__u64);
	if (depth > KILN_MAX_STACK_DEPTH)
		depth = KILN_MAX_STACK_DEPTH;
	/* slots past depth keep stale frames: the hash covers only [0, depth) and readers stop at depth */
	scratch->depth = depth;
	scratch->pad = 0;
	__u64 h = hash_stack(scratch, depth);
	long err = bpf_map_update_elem(&profile_stacks, &h, scratch, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: already stored */) {
		stat_inc(PROFILE_STAT_STACKS_FULL);
		return 0;
	}
	return h;
}

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
		stat_inc(PROFILE_STAT_IDLE);
		return 0;
	}
	stat_inc(PROFILE_STAT_SAMPLES);

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
	bpf_get_current_comm(key.comm, sizeof(key.comm));

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned int task_flags = BPF_CORE_READ(task, flags);
	if (task_flags & PF_KTHREAD)
		key.flags |= KILN_FLAG_KTHREAD;
	else {
		key.exe_ino = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino);
		key.start_stack = BPF_CORE_READ(task, mm, start_stack);
	}

	/* a sample that interrupted user mode has no kernel stack to walk */
	if (!sampled_user_mode(ctx))
		key.kernel_stack_hash = record_stack(ctx, scratch, 0, PROFILE_STAT_KSTACK_ERR);
	if (!(key.flags & KILN_FLAG_KTHREAD))
		key.user_stack_hash = record_stack(ctx, scratch, BPF_F_USER_STACK, PROFILE_STAT_USTACK_ERR);

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
		stat_inc(PROFILE_STAT_COUNTS_FULL);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
