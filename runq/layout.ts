/* Decoders for bpf/runq.h, and the bucket bounds of its histogram. Offsets are checked against the C
 * header by layout.test.ts. */
import { cString } from '../native/decode.js';

export const RUNQ_SLOTS = 121;

export const RUNQ_HIST = {
  size: RUNQ_SLOTS * 8 + 16,
  slots: 0,
  total_ns: RUNQ_SLOTS * 8,
  count: RUNQ_SLOTS * 8 + 8,
} as const;

export const RUNQ_KEY = {
  size: 32,
  cgroup_id: 0,
  tgid: 8,
  flags: 12,
  comm: 16,
} as const;

export const RUNQ_FLAG_KTHREAD = 1;

export interface RunqKey {
  cgroupId: bigint;
  tgid: number;
  kthread: boolean;
  /** the process's name (its thread-group leader's comm) */
  comm: string;
}

export function decodeRunqKey(buf: Buffer, off: number): RunqKey {
  return {
    cgroupId: buf.readBigUInt64LE(off + RUNQ_KEY.cgroup_id),
    tgid: buf.readUInt32LE(off + RUNQ_KEY.tgid),
    kthread: (buf.readUInt32LE(off + RUNQ_KEY.flags) & RUNQ_FLAG_KTHREAD) !== 0,
    comm: cString(buf, off + RUNQ_KEY.comm, 16),
  };
}

export const RUNQ_STATS = ['startMapFull', 'histMapFull'] as const;

export interface RunqHist {
  slots: number[];
  totalNs: number;
  count: number;
}

export function decodeRunqHist(buf: Buffer, off: number): RunqHist {
  const slots = new Array<number>(RUNQ_SLOTS);
  for (let i = 0; i < RUNQ_SLOTS; i++) slots[i] = Number(buf.readBigUInt64LE(off + RUNQ_HIST.slots + i * 8));
  return { slots, totalNs: Number(buf.readBigUInt64LE(off + RUNQ_HIST.total_ns)), count: Number(buf.readBigUInt64LE(off + RUNQ_HIST.count)) };
}

/** [lower, upper) bounds in microseconds of slot s (the last slot's upper bound is Infinity). */
export function slotBoundsUs(s: number): [number, number] {
  if (s === 0) return [0, 1];
  const l = Math.floor((s - 1) / 4);
  const q = (s - 1) % 4;
  const lower = 2 ** l * (1 + q / 4);
  const upper = s === RUNQ_SLOTS - 1 ? Infinity : 2 ** l * (1 + (q + 1) / 4);
  return [lower, upper];
}

/** The slot of a wait in microseconds, as the BPF program computes it (for tests). */
export function slotOf(us: number): number {
  if (us < 1) return 0;
  const v = Math.floor(us);
  const l = Math.floor(Math.log2(v));
  const q = l >= 2 ? Math.floor(v / 2 ** (l - 2)) & 3 : (v * 2 ** (2 - l)) & 3;
  return Math.min(RUNQ_SLOTS - 1, 1 + 4 * l + q);
}

/** A quantile (0..1) in microseconds, linearly interpolated inside its bucket. */
export function quantileUs(slots: number[], q: number): number | null {
  const total = slots.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let cum = 0;
  for (let s = 0; s < slots.length; s++) {
    if (slots[s] === 0) continue;
    if (cum + slots[s] >= rank) {
      const [lo, hi] = slotBoundsUs(s);
      if (!Number.isFinite(hi)) return lo;
      return lo + ((rank - cum) / slots[s]) * (hi - lo);
    }
    cum += slots[s];
  }
  return slotBoundsUs(slots.length - 1)[0];
}
