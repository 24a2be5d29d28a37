/* SPDX-License-Identifier: GPL-2.0 */
/* What the CPU sampler (profile.bpf.c) and the egress stacks (tcp.bpf.c) share: the stacks map, the state
 * and statistics, the unwind tables and the walk (ARCHITECTURE.md, "Unwinding"), and the egress sample
 * points (ARCHITECTURE.md, "Egress stacks"). Both objects declare these maps; with egress stacks on, the
 * TCP object is loaded with the profile object's own maps (libbpf's map reuse), so one walk serves both. */
#ifndef KILN_STACKS_BPF_H
#define KILN_STACKS_BPF_H
#include "profile.h"

#ifndef PF_KTHREAD
#define PF_KTHREAD 0x00200000
#endif
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

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

/* ---- unwind tables: sizes set by user space before load (profiler/unwind/unwind-maps.ts) ---- */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_row);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_table);
} unwind_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct unwind_proc);
} unwind_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct unwind_request_value);
} unwind_requests SEC(".maps");

/* set before load: 1 = walk user stacks with unwind tables, 0 = frame pointers only (the kernel's walk) */
const volatile __u32 unwind_with_tables = 0;

/* per-CPU scratch for one stack walk (too large for the 512-byte BPF stack). Two slots: the sampler's
 * (SLOT_CPU) and the egress program's (SLOT_EGRESS): a cpu-clock sample can interrupt a send's walk */
#define SLOT_CPU 0
#define SLOT_EGRESS 1
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct profile_stack);
} profile_scratch SEC(".maps");

static __always_inline void profile_stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&profile_stats, &idx);
	if (v)
		*v += n; /* per-CPU slot: no other writer */
}

static __always_inline void profile_stat_inc(__u32 idx)
{
	profile_stat_add(idx, 1);
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

/* Stores scratch's first `depth` frames if new; returns their hash (0 when the map is full). */
static __always_inline __u64 store_stack(struct profile_stack *scratch, __u32 depth)
{
	scratch->depth = depth;
	scratch->pad = 0;
	__u64 h = hash_stack(scratch, depth);
	long err = bpf_map_update_elem(&profile_stacks, &h, scratch, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: already stored */) {
		profile_stat_inc(PROFILE_STAT_STACKS_FULL);
		return 0;
	}
	return h;
}

/* Walk one stack into scratch, store it if new, return its hash (0 when the walk failed). */
static __always_inline __u64 record_stack(void *ctx, struct profile_stack *scratch,
					  __u64 flags, __u32 err_stat)
{
	long n = bpf_get_stack(ctx, scratch->ips, sizeof(scratch->ips), flags);
	if (n <= 0) {
		/* an empty stack (0 or -EFAULT: nothing to walk) is not a failure */
		if (n < 0 && n != -14 /* EFAULT */)
			profile_stat_inc(err_stat);
		return 0;
	}
	__u32 depth = (__u32)n / sizeof(__u64);
	if (depth > KILN_MAX_STACK_DEPTH)
		depth = KILN_MAX_STACK_DEPTH;
	/* slots past depth keep stale frames: the hash covers only [0, depth) and readers stop at depth */
	return store_stack(scratch, depth);
}

/* ---- the walk by unwind tables ----
 * One bpf_loop whose every iteration is one small step of a state machine: start a frame, halve the
 * search among the process's mappings, halve the search among the binary's rows, apply the rule. The
 * verifier checks the step once, whatever the table sizes (nested bounded loops made it walk every
 * combination of search paths). */

enum walk_end {
	WALK_GOING = 0,
	WALK_DONE,       /* outermost frame, or a zero return address / frame pointer */
	WALK_SIGNAL,
	WALK_UNSUPPORTED,
	WALK_READ,
	WALK_DEPTH,
	WALK_BAD_FRAME,
};

enum walk_phase {
	PHASE_FRAME = 0, /* record pc, start the mapping search */
	PHASE_MAPPING,   /* binary search over the process's mappings: [lo, hi) */
	PHASE_ROW,       /* binary search over the table's rows: [lo, hi), first row `first` */
};

struct walk {
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u64 lookup; /* pc, or pc - 1 for a return address: the call is the byte before */
	__u64 rel;    /* lookup as an ELF address of the binary */
	__u32 tgid;
	__u32 depth;
	__u32 end;
	__u32 outside; /* a pc fell outside every mapping with a table */
	__u32 phase;
	__u32 lo;
	__u32 hi;
	__u32 first;
};

/* The walk's state lives in a per-CPU map value, not on the stack: the verifier tracks stack values
 * exactly, so each bpf_loop iteration's bounds (lo, hi, depth) made a new state and newer verifiers
 * (6.18.44) gave up after a million instructions; a map value's contents are unknown to it, so every
 * iteration looks alike. One walk per slot at a time per CPU: perf_event programs do not nest, nor does
 * a tracing program with itself, and a sample interrupting a send's walk uses the other slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct walk);
} unwind_walk SEC(".maps");

/* Moves to the caller by the rule `row` (NULL: no rule covers pc, take a frame-pointer step).
 * Returns 1 when the walk ends. */
static __always_inline long apply_rule(struct walk *w, struct unwind_row *row)
{
	__u8 kind = row ? row->kind : UNWIND_NONE;
	__u64 cfa, ra, bp = w->bp;
	if (kind == UNWIND_NONE) {
		/* frame pointers: [bp] = caller's bp, [bp + 8] = return address */
		profile_stat_inc(PROFILE_STAT_FRAMES_FP);
		if (w->bp == 0) {
			w->end = WALK_DONE;
			return 1;
		}
		__u64 frame[2];
		if (w->bp < w->sp) {
			w->end = WALK_BAD_FRAME;
			return 1;
		}
		if (bpf_probe_read_user(frame, sizeof(frame), (void *)w->bp)) {
			w->end = WALK_READ;
			return 1;
		}
		cfa = w->bp + 16;
		bp = frame[0];
		ra = frame[1];
	} else if (kind == UNWIND_CFA_RSP || kind == UNWIND_CFA_RBP || kind == UNWIND_PLT) {
		cfa = (kind == UNWIND_CFA_RBP ? w->bp : w->sp) + (__u64)row->cfa_off8 * 8;
		if (kind == UNWIND_PLT && (w->pc & 15) >= (__u64)(__u8)row->rbp_off8)
			cfa += 8;
		if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8))) {
			w->end = WALK_READ;
			return 1;
		}
		if (kind != UNWIND_PLT && row->rbp_off8 != 0 &&
		    bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + (__s64)row->rbp_off8 * 8))) {
			w->end = WALK_READ;
			return 1;
		}
	} else {
		w->end = kind == UNWIND_OUTERMOST ? WALK_DONE : kind == UNWIND_SIGNAL ? WALK_SIGNAL : WALK_UNSUPPORTED;
		return 1;
	}
	/* the caller's frame lies above this one on the stack */
	if (cfa <= w->sp) {
		w->end = WALK_BAD_FRAME;
		return 1;
	}
	if (ra == 0) {
		w->end = WALK_DONE;
		return 1;
	}
	w->pc = ra;
	w->sp = cfa;
	w->bp = bp;
	w->phase = PHASE_FRAME;
	return 0;
}

/* arg: the slot (SLOT_CPU, SLOT_EGRESS) whose walk and scratch this is */
static long unwind_step(__u32 i, void *arg)
{
	__u32 slot = *(__u32 *)arg;
	struct walk *w = bpf_map_lookup_elem(&unwind_walk, &slot);
	if (!w)
		return 1;
	if (w->phase == PHASE_FRAME) {
		struct profile_stack *st = bpf_map_lookup_elem(&profile_scratch, &slot);
		if (!st)
			return 1;
		__u32 d = w->depth;
		if (d >= KILN_MAX_STACK_DEPTH) {
			w->end = WALK_DEPTH;
			return 1;
		}
		st->ips[d] = w->pc;
		w->depth = d + 1;
		w->lookup = d ? w->pc - 1 : w->pc;
		struct unwind_proc *p = bpf_map_lookup_elem(&unwind_procs, &w->tgid);
		if (!p) {
			w->end = WALK_BAD_FRAME; /* deleted under us: the process exited */
			return 1;
		}
		__u32 n = p->count;
		w->lo = 0;
		w->hi = n > KILN_UNWIND_MAX_MAPPINGS ? KILN_UNWIND_MAX_MAPPINGS : n;
		w->phase = PHASE_MAPPING;
		return 0;
	}
	if (w->phase == PHASE_MAPPING) {
		struct unwind_proc *p = bpf_map_lookup_elem(&unwind_procs, &w->tgid);
		if (!p) {
			w->end = WALK_BAD_FRAME;
			return 1;
		}
		if (w->lo < w->hi) { /* the first mapping starting above lookup */
			__u32 mid = w->lo + (w->hi - w->lo) / 2;
			if (p->maps[mid & (KILN_UNWIND_MAX_MAPPINGS - 1)].start <= w->lookup)
				w->lo = mid + 1;
			else
				w->hi = mid;
			return 0;
		}
		struct unwind_mapping *m = w->lo ? &p->maps[(w->lo - 1) & (KILN_UNWIND_MAX_MAPPINGS - 1)] : NULL;
		if (!m || w->lookup >= m->end) {
			w->outside = 1;
			return apply_rule(w, NULL);
		}
		__u32 t = m->table;
		struct unwind_table *tab = bpf_map_lookup_elem(&unwind_tables, &t);
		w->rel = w->lookup - m->bias;
		if (!tab || tab->rows == 0 || w->rel > 0xffffffffULL)
			return apply_rule(w, NULL);
		w->first = tab->first;
		w->lo = tab->first;
		w->hi = tab->first + tab->rows;
		w->phase = PHASE_ROW;
		return 0;
	}
	/* PHASE_ROW: the first row starting above rel; the one before it is in force */
	if (w->lo < w->hi) {
		__u32 mid = w->lo + (w->hi - w->lo) / 2;
		struct unwind_row *r = bpf_map_lookup_elem(&unwind_rows, &mid);
		if (!r)
			return apply_rule(w, NULL);
		if (r->pc <= (__u32)w->rel)
			w->lo = mid + 1;
		else
			w->hi = mid;
		return 0;
	}
	if (w->lo == w->first)
		return apply_rule(w, NULL);
	__u32 idx = w->lo - 1;
	return apply_rule(w, bpf_map_lookup_elem(&unwind_rows, &idx));
}

/* steps for a whole walk: per frame one to start it, 8 halvings of the mappings, up to 24 of the rows */
#define WALK_MAX_STEPS (KILN_MAX_STACK_DEPTH * 34)

static __always_inline void request_tables(__u32 tgid, __u32 why)
{
	struct unwind_request_value *r = bpf_map_lookup_elem(&unwind_requests, &tgid);
	if (r) {
		__sync_fetch_and_add(&r->samples, 1);
		return;
	}
	struct unwind_request_value v = { .reason = why, .samples = 1 };
	long err = bpf_map_update_elem(&unwind_requests, &tgid, &v, BPF_NOEXIST);
	if (!err)
		profile_stat_inc(PROFILE_STAT_REQUESTS);
	else if (err != -17 /* EEXIST: another CPU asked first */)
		profile_stat_inc(PROFILE_STAT_REQUESTS_FULL);
}

/* The user stack by the process's unwind tables; by frame pointers (the kernel's walk) until user space
 * has loaded them, asking it to. `user` holds the interrupted user registers (pc 0: in the kernel, take
 * the registers saved at its entry); `slot` is the caller's scratch slot. */
static __always_inline __u64 unwind_user(void *ctx, struct walk *user, struct profile_stack *scratch, __u32 tgid, __u64 image, __u32 slot)
{
	struct unwind_proc *p = bpf_map_lookup_elem(&unwind_procs, &tgid);
	if (!p || p->image != image) {
		request_tables(tgid, p ? UNWIND_REQ_EXEC : UNWIND_REQ_NEW);
		profile_stat_inc(PROFILE_STAT_WALK_FP);
		return record_stack(ctx, scratch, BPF_F_USER_STACK, PROFILE_STAT_USTACK_ERR);
	}
	struct walk *wp = bpf_map_lookup_elem(&unwind_walk, &slot);
	if (!wp)
		return 0;
	struct walk w = { .tgid = tgid };
	if (user->pc) {
		w.pc = user->pc;
		w.sp = user->sp;
		w.bp = user->bp;
	} else {
		/* in the kernel: the user registers saved at entry */
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		if (!regs)
			return 0;
		w.pc = BPF_CORE_READ(regs, ip);
		w.sp = BPF_CORE_READ(regs, sp);
		w.bp = BPF_CORE_READ(regs, bp);
	}
	if (w.pc == 0)
		return 0;
	*wp = w;
	profile_stat_inc(PROFILE_STAT_WALK_TABLES);
	bpf_loop(WALK_MAX_STEPS, unwind_step, &slot, 0);
	w.end = wp->end;
	w.outside = wp->outside;
	w.depth = wp->depth;
	switch (w.end) {
	case WALK_SIGNAL: profile_stat_inc(PROFILE_STAT_END_SIGNAL); break;
	case WALK_UNSUPPORTED: profile_stat_inc(PROFILE_STAT_END_UNSUPPORTED); break;
	case WALK_READ: profile_stat_inc(PROFILE_STAT_END_READ); break;
	case WALK_DEPTH: profile_stat_inc(PROFILE_STAT_END_DEPTH); break;
	case WALK_BAD_FRAME: profile_stat_inc(PROFILE_STAT_END_BAD_FRAME); break;
	}
	if (w.outside) {
		/* a pc in no mapping with a table: a library loaded since, or JIT code. Ask when user space's
		 * back-off allows; the 1 s guard keeps samples before its answer from asking again */
		__u64 now = bpf_ktime_get_ns();
		if (now >= p->refresh_after_ns) {
			p->refresh_after_ns = now + 1000000000ULL;
			request_tables(tgid, UNWIND_REQ_REFRESH);
		}
	}
	__u32 depth = w.depth;
	if (depth == 0)
		return 0;
	if (depth > KILN_MAX_STACK_DEPTH)
		depth = KILN_MAX_STACK_DEPTH;
	return store_stack(scratch, depth);
}


/* ---- egress stacks ---- */
/* mean bytes between sample points; 0: egress stacks off (the program is not attached then) */
const volatile __u64 egress_bytes_per_sample = 0;

/* quantiles of the gap distribution, filled by user space before attach */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KILN_EGRESS_GAPS);
	__type(key, __u32);
	__type(value, __u64);
} egress_gaps SEC(".maps");

/* sample points per (sender, stack, peer), double-buffered with the CPU counts (profile_state[0]) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct egress_key);
	__type(value, __u64);
} egress_counts0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct egress_key);
	__type(value, __u64);
} egress_counts1 SEC(".maps");

static __always_inline __s64 egress_gap(void)
{
	__u32 i = bpf_get_prandom_u32() & (KILN_EGRESS_GAPS - 1);
	__u64 *g = bpf_map_lookup_elem(&egress_gaps, &i);
	__s64 gap = g ? (__s64)*g : (__s64)egress_bytes_per_sample;
	return gap > 0 ? gap : 1;
}

/* Records `points` sample points for the current task's user stack and the peer of `sk` (a send that
 * crossed the countdown). */
static __always_inline void egress_record(void *ctx, struct sock *sk, __u16 family, __u64 points)
{
	__u32 zero = 0;
	profile_stat_inc(PROFILE_STAT_EGRESS_SAMPLED_SENDS);
	__u32 slot = SLOT_EGRESS;
	struct profile_stack *scratch = bpf_map_lookup_elem(&profile_scratch, &slot);
	if (!scratch)
		return;
	struct egress_key key = {};
	__u64 id = bpf_get_current_pid_tgid();
	key.k.tgid = id >> 32;
	key.k.cgroup_id = bpf_get_current_cgroup_id();
	__u32 clock_idx = PROFILE_STATE_CLOCK_OFFSET;
	__u64 *offset = bpf_map_lookup_elem(&profile_state, &clock_idx);
	key.k.unix_sec = (__u32)((bpf_ktime_get_boot_ns() + (offset ? *offset : 0)) / 1000000000ULL);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BPF_CORE_READ_STR_INTO(&key.k.comm, task, group_leader, comm);
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD) {
		key.k.flags |= KILN_FLAG_KTHREAD; /* a kernel socket: no user stack */
	} else {
		key.k.exe_ino = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino);
		key.k.start_stack = BPF_CORE_READ(task, mm, start_stack);
		if (unwind_with_tables) {
			struct walk user = {}; /* pc 0: the registers saved at the syscall's entry */
			key.k.user_stack_hash = unwind_user(ctx, &user, scratch, key.k.tgid, key.k.start_stack, SLOT_EGRESS);
		} else {
			key.k.user_stack_hash = record_stack(ctx, scratch, BPF_F_USER_STACK, PROFILE_STAT_USTACK_ERR);
		}
	}
	key.family = family;
	key.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (family == AF_INET)
		__builtin_memcpy(key.daddr, &sk->__sk_common.skc_daddr, 4);
	else
		__builtin_memcpy(key.daddr, &sk->__sk_common.skc_v6_daddr, 16);

	__u64 *active = bpf_map_lookup_elem(&profile_state, &zero);
	void *counts = (active && *active) ? (void *)&egress_counts1 : (void *)&egress_counts0;
	__u64 *count = bpf_map_lookup_elem(counts, &key);
	if (!count) {
		long err = bpf_map_update_elem(counts, &key, &points, BPF_NOEXIST);
		if (!err)
			goto counted;
		count = err == -17 ? bpf_map_lookup_elem(counts, &key) : NULL; /* EEXIST: another CPU first */
		if (!count) {
			profile_stat_add(PROFILE_STAT_EGRESS_FULL, points);
			return;
		}
	}
	__sync_fetch_and_add(count, points);
counted:
	profile_stat_add(PROFILE_STAT_EGRESS_POINTS, points);
}

#endif
