/* The kernel half of the profiler: perf_event cpu-clock on every online CPU running
 * bpf/profile.bpf.c, drained into raw samples (process, cgroup, stacks as addresses). */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { BpfObject, bootTimeOffsetNs, type BpfMap } from '../native/index.js';
import {
  EGRESS_KEY,
  PROFILE_KEY,
  PROFILE_STACK,
  PROFILE_STATS,
  decodeEgressKey,
  decodeProfileKey,
  decodeProfileStack,
  type ProfileStatName,
} from './bpf-layout.js';
import { readPerCpuCounter, readPerCpuCounters, u32Buffer, u64Buffer } from '../native/decode.js';
import { UnwindMaps, type UnwindStats } from './unwind/unwind-maps.js';

export interface RawSample {
  tgid: number;
  /** unix second in which the sample was taken (from the kernel's clock at the sample, not the drain) */
  unixSec: number;
  /** inode of the executable the process was running when sampled (0n: unknown) */
  exeIno: bigint;
  /** the image's stack start when sampled (0n: unknown): a new value means the process exec'd */
  startStack: bigint;
  comm: string;
  kthread: boolean;
  cgroupId: bigint;
  /** leaf first; null when there is no user stack (kernel thread) or it was lost */
  userIps: BigUint64Array | null;
  kernelIps: BigUint64Array | null;
  /** the kernel's hashes of the two stacks (0 = none): equal hashes, equal stacks */
  userStackHash: bigint;
  kernelStackHash: bigint;
  count: number;
}

/** Sample points the egress program counted for one sender, stack and peer since the last drain: each
 *  stands for `bytesPerSample` bytes sent on average (ARCHITECTURE.md, "Egress stacks"). */
export interface RawEgress extends RawSample {
  peerAddress: string;
  peerPort: number;
}

export type SamplerStats = Record<ProfileStatName, bigint> & {
  /** stacks referenced by a count whose frames were gone from both the map and the cache */
  stacksMissing: bigint;
  drains: bigint;
  /** stacks read out of the kernel map (each stack leaves it at the first drain after it is stored) */
  stacksRead: bigint;
  stackMapSize: number;
  /** user-space cache of stacks read, by hash */
  stackCacheEntries: number;
  stackCacheBytes: number;
  /** unwinding by tables (null with --unwind fp) */
  unwind: (UnwindStats & { loaderErrors: number }) | null;
};

/** How user stacks are walked: by each binary's unwind tables (frame pointers where there are none), or
 *  by frame pointers only (the kernel's walk, as perf record -g does). */
export type UnwindMode = 'tables' | 'fp';

export interface SamplerOptions {
  sampleHz: number;
  /** how often drain() is expected to run; sizes the maps */
  drainIntervalMs: number;
  cpus?: number[];
  /** default 'tables' */
  unwind?: UnwindMode;
  /** BPF map memory for unwind rows (8 bytes each); default UNWIND_TABLE_BYTES */
  unwindTableBytes?: number;
  /** how long a table nobody maps stays loaded when its rows are not needed (default 60 s) */
  unwindIdleTableMs?: number;
  /** separate debug files (for .debug_frame) */
  debugDirs?: string[];
  /** called with errors of the unwind table loader (kept going; counted) */
  onError?: (e: unknown) => void;
  /** a process new to the walk (or exec'd), as soon as a poll of the walk's requests sees it */
  onNewProcess?: (tgid: number) => void;
  /** egress stacks: the mean bytes sent between two sample points; 0 or absent: off */
  egressBytesPerSample?: number;
  /** distinct (sender, stack, peer) keys the egress map holds between two drains (default 4096) */
  egressKeys?: number;
}

/** The maps of bpf/stacks.bpf.h: the profile object's, reused by the TCP object for egress stacks. */
export const EGRESS_SHARED_MAPS = ['profile_stacks', 'profile_state', 'profile_stats', 'profile_scratch', 'unwind_walk', 'unwind_rows', 'unwind_tables', 'unwind_procs', 'unwind_requests', 'egress_gaps', 'egress_counts0', 'egress_counts1'] as const;

export interface EgressShare {
  maps: Record<string, BpfMap>;
  /** the flag's N: the mean of the gaps is what one point stands for (CpuSampler.egressBytesPerSample) */
  bytesPerSample: number;
  /** the walk by unwind tables (else frame pointers) */
  tables: boolean;
}

/** Gaps between egress sample points: quantiles of an exponential distribution with mean `n` bytes, at
 *  the midpoints of `count` equal slices of probability (a gap drawn at random from them). Returns the
 *  gaps and their exact mean: the bytes one sample point stands for. */
export function egressGaps(n: number, count = 1024): { gaps: bigint[]; mean: number } {
  const gaps: bigint[] = [];
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const g = Math.max(1, Math.round(-Math.log(1 - (i + 0.5) / count) * n));
    gaps.push(BigInt(g));
    sum += g;
  }
  return { gaps, mean: sum / count };
}

/** Default row space for unwind tables: 4 Mi rows. Debian's libc takes 23 k rows, python3 59 k, node
 *  277 k, chromium 49 k; one binary may take half (libchdb.so's 5.7 M rows do not fit: frame pointers). */
export const UNWIND_TABLE_BYTES = 32 << 20;
/** binaries with tables loaded at once, and processes with an entry (4 KiB each, allocated on use) */
const UNWIND_TABLES = 4096;
const UNWIND_PROCS = 16384;

/** How many requests for tables the walk has made (one per-CPU counter read: the poll drains the
 *  request map only when it moved, since draining a hash map walks all its buckets). */
function requestsMade(stats: BpfMap): () => bigint {
  const index = PROFILE_STATS.indexOf('unwindRequests');
  return () => readPerCpuCounter(stats, index);
}

/** Parses a kernel CPU list like "0-3,8,10-11". */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map((x) => Number.parseInt(x, 10));
    if (!Number.isInteger(a)) throw new Error(`bad CPU list: ${text}`);
    for (let c = a; c <= (Number.isInteger(b) ? b : a); c++) cpus.push(c);
  }
  return cpus;
}

export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Map sizes, chosen from the worst case between two drains: every sample on every CPU a new key
 * and two new stacks, with 2x headroom; floors keep small hosts cheap to run, caps bound kernel memory
 * (the stacks map is ~1 KiB an entry, preallocated: 64Ki entries = 64 MiB at the cap).
 */
export function mapSizes(cpuCount: number, sampleHz: number, drainIntervalMs: number): { counts: number; stacks: number } {
  const perDrain = Math.ceil((cpuCount * sampleHz * drainIntervalMs) / 1000);
  return {
    counts: Math.min(1 << 18, Math.max(4096, pow2AtLeast(perDrain * 2))),
    stacks: Math.min(1 << 16, Math.max(2048, pow2AtLeast(perDrain * 4))),
  };
}

/** The user-space stack cache's bound: ~100k typical stacks (20 frames), or 16k of the deepest. */
export const STACK_CACHE_BYTES = 16 << 20;
/** profile_state indexes (enum profile_state_idx in bpf/profile.h) */
const STATE_ACTIVE = 0;
const STATE_CLOCK_OFFSET = 1;

/** Writes one u64 slot of profile_state. */
function writeState(state: BpfMap, index: number, value: bigint): void {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const val = Buffer.alloc(8);
  val.writeBigInt64LE(value);
  state.update(key, val);
}

export class CpuSampler {
  readonly periodNs: number;
  readonly cpus: number[];
  #obj: BpfObject;
  #counts: [BpfMap, BpfMap];
  #egress: [BpfMap, BpfMap];
  /** bytes one egress sample point stands for (0: egress stacks off) */
  readonly egressBytesPerSample: number;
  #stacks: BpfMap;
  #state: BpfMap;
  #statsMap: BpfMap;
  #active = 0;
  /** stacks read out of the kernel map, by hash: a count drained after its stack (the stack was stored
   *  for a sample counted in the other buffer) finds it here. Bounded by bytes. */
  #stackCache = new LRUCache<bigint, BigUint64Array>({ maxSize: STACK_CACHE_BYTES, sizeCalculation: (v) => v.byteLength + 64 });
  #stacksMissing = 0n;
  #stacksRead = 0n;
  #drains = 0n;

  constructor(opts: SamplerOptions) {
    if (!(opts.sampleHz >= 1 && opts.sampleHz <= 10000)) throw new RangeError(`sample rate ${opts.sampleHz} Hz out of range 1..10000`);
    this.periodNs = Math.round(1e9 / opts.sampleHz);
    this.cpus = opts.cpus ?? onlineCpus();
    const sizes = mapSizes(this.cpus.length, opts.sampleHz, opts.drainIntervalMs);
    const tables = (opts.unwind ?? 'tables') === 'tables';
    const rowBytes = opts.unwindTableBytes ?? UNWIND_TABLE_BYTES;
    if (tables && !(rowBytes >= 1 << 20 && rowBytes <= 1 << 30)) throw new RangeError(`unwind table memory ${rowBytes} bytes out of range 1 MiB..1 GiB`);
    const egressN = opts.egressBytesPerSample ?? 0;
    if (egressN !== 0 && !(Number.isInteger(egressN) && egressN >= 4096 && egressN <= 2 ** 32)) {
      throw new RangeError(`egress bytes per sample ${egressN} out of range 4096..${2 ** 32}`);
    }
    const gaps = egressN ? egressGaps(egressN) : null;
    this.egressBytesPerSample = gaps?.mean ?? 0;
    const egressKeys = opts.egressKeys ?? 4096;
    const [obj, maps] = BpfObject.load(
      'profile',
      {
        profile_counts0: sizes.counts,
        profile_counts1: sizes.counts,
        profile_stacks: sizes.stacks,
        unwind_rows: tables ? Math.floor(rowBytes / 8) : 1,
        unwind_tables: tables ? UNWIND_TABLES : 1,
        unwind_procs: tables ? UNWIND_PROCS : 1,
        egress_counts0: egressN ? egressKeys : 1,
        egress_counts1: egressN ? egressKeys : 1,
      },
      (o) => {
        const m = {
          counts: [o.map('profile_counts0'), o.map('profile_counts1')] as [BpfMap, BpfMap],
          egress: [o.map('egress_counts0'), o.map('egress_counts1')] as [BpfMap, BpfMap],
          stacks: o.map('profile_stacks'),
          state: o.map('profile_state'),
          stats: o.map('profile_stats'),
          unwind: tables
            ? new UnwindMaps({
                rows: o.map('unwind_rows'),
                tables: o.map('unwind_tables'),
                procs: o.map('unwind_procs'),
                requests: o.map('unwind_requests'),
                requestsMade: requestsMade(o.map('profile_stats')),
                debugDirs: opts.debugDirs,
                idleTableMs: opts.unwindIdleTableMs,
                onNewImage: opts.onNewProcess,
              })
            : null,
        };
        // the clock offset before the first sample, so every sample carries a unix time
        writeState(m.state, STATE_CLOCK_OFFSET, bootTimeOffsetNs());
        for (const cpu of this.cpus) o.attachCpuClock('kiln_profile', cpu, this.periodNs);
        if (gaps) {
          const table = o.map('egress_gaps');
          gaps.gaps.forEach((g, i) => table.update(u32Buffer(i), u64Buffer(g)));
        }
        // what the TCP object's send program needs to walk and count egress stacks (egressShare())
        const shared = gaps ? Object.fromEntries(EGRESS_SHARED_MAPS.map((n) => [n, o.map(n)])) : null;
        return { ...m, shared };
      },
      { unwind_with_tables: u32Buffer(tables ? 1 : 0), egress_bytes_per_sample: u64Buffer(BigInt(egressN)) },
    );
    this.#obj = obj;
    this.#counts = maps.counts;
    this.#egress = maps.egress;
    this.#shared = maps.shared ? { maps: maps.shared, bytesPerSample: egressN, tables } : null;
    this.#stacks = maps.stacks;
    this.#state = maps.state;
    this.#statsMap = maps.stats;
    this.unwind = maps.unwind;
    this.#onUnwindError = opts.onError;
  }

  readonly unwind: UnwindMaps | null;
  #shared: EgressShare | null = null;

  /** With egress stacks on: the maps and settings the TCP collector's send program loads with, so that
   *  one walk, one stacks map and one set of egress counts serve both objects (bpf/stacks.bpf.h). */
  egressShare(): EgressShare | null {
    return this.#shared;
  }
  #onUnwindError: ((e: unknown) => void) | undefined;

  /** Answers the walk's pending requests for unwind tables (at every drain, and between long steps of
   *  the collector's symbolization so that a new process does not wait for all of it). */
  pollUnwind(): void {
    if (!this.unwind) return;
    try {
      this.unwind.poll();
    } catch (e) {
      this.#unwindErrors++;
      if (this.#unwindErrors === 1) this.#onUnwindError?.(e);
    }
  }
  #unwindErrors = 0;

  get bpf(): BpfObject {
    return this.#obj;
  }

  /**
   * Flips the counts buffers, answers pending unwind requests (new processes get their tables before
   * the caller symbolizes), drains the old buffer, then the whole stack map. A sample stores its stacks
   * before it counts itself, so every stack a drained count refers to is in the map or was read by an
   * earlier drain (the cache). Samples that race the flip (a program takes microseconds) stay in their
   * buffer and come out at the next drain of it, filed under the second they were taken; `settle`
   * waits 2 ms for them first, for a drain that closes a window (a timer wake-up saved on the others).
   */
  async drain(settle = false): Promise<{ samples: RawSample[]; egress: RawEgress[] }> {
    const old = this.#active;
    this.#active = old ^ 1;
    writeState(this.#state, STATE_ACTIVE, BigInt(this.#active));
    writeState(this.#state, STATE_CLOCK_OFFSET, bootTimeOffsetNs()); // follows clock steps (NTP) between drains
    this.pollUnwind();
    if (settle) await sleep(2);
    const { keys, values, count } = this.#counts[old].drain();
    // egress counts before the stacks too: every stack they refer to was stored before the flip
    const eg = this.egressBytesPerSample ? this.#egress[old].drain() : null;
    this.#drains++;
    this.#drainStacks();

    const out: RawSample[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const k = decodeProfileKey(keys, i * PROFILE_KEY.size);
      out[i] = {
        tgid: k.tgid,
        unixSec: k.unixSec,
        exeIno: k.exeIno,
        startStack: k.startStack,
        comm: k.comm,
        kthread: k.kthread,
        cgroupId: k.cgroupId,
        userIps: this.#stack(k.userStackHash),
        kernelIps: this.#stack(k.kernelStackHash),
        userStackHash: k.userStackHash,
        kernelStackHash: k.kernelStackHash,
        count: Number(values.readBigUInt64LE(i * 8)),
      };
    }
    const egress: RawEgress[] = [];
    for (let i = 0; eg && i < eg.count; i++) {
      const k = decodeEgressKey(eg.keys, i * EGRESS_KEY.size);
      egress.push({
        ...k,
        userIps: this.#stack(k.userStackHash),
        kernelIps: null,
        count: Number(eg.values.readBigUInt64LE(i * 8)),
      });
    }
    return { samples: out, egress };
  }

  /** Moves every stack out of the kernel map into the cache; decodes only new ones. One batch call with
   *  room for the whole map: a smaller buffer can end a batch early (a hash bucket that does not fit
   *  gives ENOSPC) and leave stacks behind whose counts were already drained. */
  #drainStacks(): void {
    const { keys, values, count } = this.#stacks.drain();
    this.#stacksRead += BigInt(count);
    for (let i = 0; i < count; i++) {
      const h = keys.readBigUInt64LE(i * 8);
      // get(), not has(): a stack read again is recent again, so the least recently sampled go first
      if (this.#stackCache.get(h) === undefined) this.#stackCache.set(h, decodeProfileStack(values, i * PROFILE_STACK.size));
    }
  }

  #stack(h: bigint): BigUint64Array | null {
    if (h === 0n) return null;
    const s = this.#stackCache.get(h);
    if (!s) this.#stacksMissing++;
    return s ?? null;
  }

  /** Cumulative counters since load (kernel per-CPU counters summed). */
  stats(): SamplerStats {
    return {
      ...readPerCpuCounters(this.#statsMap, PROFILE_STATS),
      stacksMissing: this.#stacksMissing,
      drains: this.#drains,
      stacksRead: this.#stacksRead,
      stackMapSize: this.#stacks.info.maxEntries,
      stackCacheEntries: this.#stackCache.size,
      stackCacheBytes: this.#stackCache.calculatedSize,
      unwind: this.unwind ? { ...this.unwind.stats(), loaderErrors: this.#unwindErrors } : null,
    };
  }

  close(): void {
    this.#obj.close();
  }
}
