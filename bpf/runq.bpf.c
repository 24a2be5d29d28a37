// SPDX-License-Identifier: GPL-2.0
/* Run-queue latency per process and cgroup: the time from a task becoming runnable (woken, new, or
 * preempted while still runnable) to running, attributed to the process and cgroup of the task that
 * starts running (`next`), read from the task itself: at sched_switch `current` is still `prev`. The
 * idle task is excluded. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.bpf.h"
#include "runq.h"

#define TASK_RUNNING 0
#define PF_KTHREAD 0x00200000

/* When each thread became runnable (0: not waiting), in the thread's own task storage: no hash update and
 * delete per wake-up and switch (a context-switch-heavy program paid ~0.3 us for those per round trip),
 * nothing to size, and freed by the kernel with the thread, so an exit leaves nothing behind. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} runq_start SEC(".maps");

/* (cgroup, process) -> histogram, drained (looked up and deleted) by user space every window */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct runq_key);
	__type(value, struct runq_hist);
} runq_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RUNQ_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} runq_stats SEC(".maps");

static const struct runq_hist zero_hist;

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&runq_stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline void enqueue(struct task_struct *p)
{
	if (!p->pid)
		return;
	__u64 *ts = bpf_task_storage_get(&runq_start, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts) {
		stat_inc(RUNQ_STAT_START_FULL); /* the kernel could not allocate the thread's storage */
		return;
	}
	*ts = bpf_ktime_get_ns();
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

static __always_inline __u32 slot_of(__u64 us)
{
	if (us == 0)
		return 0;
	__u32 l = log2_u64(us);
	__u32 q = l >= 2 ? (us >> (l - 2)) & 3 : (us << (2 - l)) & 3;
	__u32 s = 1 + 4 * l + q;
	return s < RUNQ_SLOTS ? s : RUNQ_SLOTS - 1;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runq_wakeup, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runq_wakeup_new, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runq_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	/* preempted while still runnable: waiting again from now */
	if (get_task_state(prev) == TASK_RUNNING)
		enqueue(prev);

	if (!next->pid)
		return 0; /* the idle task */
	__u64 *tsp = bpf_task_storage_get(&runq_start, next, 0, 0);
	if (!tsp || !*tsp)
		return 0; /* became runnable before we attached */
	__u64 now = bpf_ktime_get_ns();
	__u64 delta = now > *tsp ? now - *tsp : 0;
	*tsp = 0;

	struct runq_key key = {};
	key.cgroup_id = BPF_CORE_READ(next, cgroups, dfl_cgrp, kn, id);
	key.tgid = BPF_CORE_READ(next, tgid);
	if (BPF_CORE_READ(next, flags) & PF_KTHREAD)
		key.flags = RUNQ_FLAG_KTHREAD;
	BPF_CORE_READ_STR_INTO(&key.comm, next, group_leader, comm);
	struct runq_hist *h = bpf_map_lookup_elem(&runq_hists, &key);
	if (!h) {
		bpf_map_update_elem(&runq_hists, &key, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&runq_hists, &key);
		if (!h) {
			stat_inc(RUNQ_STAT_HIST_FULL);
			return 0;
		}
	}
	__u32 s = slot_of(delta / 1000);
	__sync_fetch_and_add(&h->slots[s], 1);
	__sync_fetch_and_add(&h->total_ns, delta);
	__sync_fetch_and_add(&h->count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
