import { numPossibleCpus, type BpfMap } from '../native/index.js';

/* Decoders for the structs in bpf/profile.h. Offsets are checked against the C header by
 * bpf-layout.test.ts (the addon exports offsetof() of every field). */

export const MAX_STACK_DEPTH = 127;
export const FLAG_KTHREAD = 1;

export const PROFILE_KEY = {
  size: 72,
  tgid: 0,
  flags: 4,
  cgroup_id: 8,
  user_stack_hash: 16,
  kernel_stack_hash: 24,
  exe_ino: 32,
  start_stack: 40,
  unix_sec: 48,
  comm: 56,
} as const;

export const PROFILE_STACK = {
  size: 1024,
  ips: 0,
  depth: 1016,
} as const;

/** Indexes of the per-CPU profile_stats array (enum profile_stat). */
export const PROFILE_STATS = ['samples', 'idle', 'countsFull', 'stacksFull', 'userStackErrors', 'kernelStackErrors'] as const;
export type ProfileStatName = (typeof PROFILE_STATS)[number];

export interface ProfileKey {
  tgid: number;
  kthread: boolean;
  cgroupId: bigint;
  userStackHash: bigint;
  kernelStackHash: bigint;
  /** inode of the executable the process ran when sampled (0n: none) */
  exeIno: bigint;
  /** the process image's stack start (differs per exec): tells images of one pid apart */
  startStack: bigint;
  /** unix second of the sample (the kernel's clock at the sample) */
  unixSec: number;
  comm: string;
}

/** A NUL-terminated string of at most `len` bytes (a task comm). */
export function cString(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

export function decodeProfileKey(buf: Buffer, off: number): ProfileKey {
  return {
    tgid: buf.readUInt32LE(off + PROFILE_KEY.tgid),
    kthread: (buf.readUInt32LE(off + PROFILE_KEY.flags) & FLAG_KTHREAD) !== 0,
    cgroupId: buf.readBigUInt64LE(off + PROFILE_KEY.cgroup_id),
    userStackHash: buf.readBigUInt64LE(off + PROFILE_KEY.user_stack_hash),
    kernelStackHash: buf.readBigUInt64LE(off + PROFILE_KEY.kernel_stack_hash),
    exeIno: buf.readBigUInt64LE(off + PROFILE_KEY.exe_ino),
    startStack: buf.readBigUInt64LE(off + PROFILE_KEY.start_stack),
    unixSec: buf.readUInt32LE(off + PROFILE_KEY.unix_sec),
    comm: cString(buf, off + PROFILE_KEY.comm, 16),
  };
}

/** Reads the `depth` instruction pointers of one profile_stack, leaf first. */
export function decodeProfileStack(buf: Buffer, off: number): BigUint64Array {
  const depth = Math.min(buf.readUInt32LE(off + PROFILE_STACK.depth), MAX_STACK_DEPTH);
  const ips = new BigUint64Array(depth);
  for (let i = 0; i < depth; i++) ips[i] = buf.readBigUInt64LE(off + PROFILE_STACK.ips + i * 8);
  return ips;
}

/** Reads a per-CPU u64 counter array: element i summed over CPUs, named names[i]. */
export function readPerCpuCounters<N extends string>(map: BpfMap, names: readonly N[]): Record<N, bigint> {
  const out = {} as Record<N, bigint>;
  const key = Buffer.alloc(4);
  names.forEach((name, i) => {
    key.writeUInt32LE(i);
    const v = map.lookup(key, 8 * numPossibleCpus());
    out[name] = v ? sumPerCpu(v) : 0n;
  });
  return out;
}

/** Sums a per-CPU u64 array value (one 8-byte slot per possible CPU). */
export function sumPerCpu(buf: Buffer): bigint {
  let total = 0n;
  for (let o = 0; o + 8 <= buf.length; o += 8) total += buf.readBigUInt64LE(o);
  return total;
}
