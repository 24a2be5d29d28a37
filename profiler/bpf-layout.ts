import { address, cString } from '../native/decode.js';

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
export const PROFILE_STATS = [
  'samples',
  'idle',
  'countsFull',
  'stacksFull',
  'userStackErrors',
  'kernelStackErrors',
  'walksByTables',
  'walksByFramePointers',
  'framesByFramePointers',
  'walkEndSignal',
  'walkEndUnsupported',
  'walkEndRead',
  'walkEndDepth',
  'walkEndBadFrame',
  'unwindRequestsFull',
  'unwindRequests',
  'egressSampledSends',
  'egressPoints',
  'egressPointsLost',
] as const;

/** struct egress_key: a profile_key, then the connection's peer. */
export const EGRESS_KEY = { size: 96, k: 0, daddr: 72, dport: 88, family: 90 } as const;
const AF_INET = 2;

export interface EgressKey extends ProfileKey {
  /** the peer's address, spelled as the TCP collector spells it (v4-mapped IPv6 as IPv4) */
  peerAddress: string;
  peerPort: number;
}

export function decodeEgressKey(buf: Buffer, off: number): EgressKey {
  return {
    ...decodeProfileKey(buf, off + EGRESS_KEY.k),
    peerAddress: address(buf, off + EGRESS_KEY.daddr, buf.readUInt16LE(off + EGRESS_KEY.family) === AF_INET),
    peerPort: buf.readUInt16LE(off + EGRESS_KEY.dport),
  };
}

/* The unwind structs (bpf/profile.h): rows and tables are written by profiler/unwind/unwind-maps.ts. */
export const UNWIND_ROW = { size: 8, pc: 0, cfa_off8: 4, kind: 6, rbp_off8: 7 } as const;
export const UNWIND_TABLE = { size: 8, first: 0, rows: 4 } as const;
export const UNWIND_MAPPING = { size: 32, start: 0, end: 8, bias: 16, table: 24 } as const;
export const UNWIND_PROC = { size: 24 + 128 * 32, image: 0, refresh_after_ns: 8, count: 16, maps: 24 } as const;
export const UNWIND_REQUEST_VALUE = { size: 8, reason: 0, samples: 4 } as const;
export const UNWIND_MAX_MAPPINGS = 128;
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

