/* The kernel half of the profiler: perf_event cpu-clock on every online CPU running
 * bpf/profile.bpf.c, drained into raw samples (process, cgroup, stacks as addresses). */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { BpfObject, type BpfMap } from '../native/index.js';
import {
  PROFILE_KEY,
  PROFILE_STACK,
  PROFILE_STATS,
  decodeProfileKey,
  decodeProfileStack,
  readPerCpuCounters,
  type ProfileStatName,
} from './bpf-layout.js';

export interface RawSample {
  tgid: number;
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

export type SamplerStats = Record<ProfileStatName, bigint> & {
  /** stacks referenced by a count whose frames were gone from both the map and the cache */
  stacksMissing: bigint;
  drains: bigint;
};

export interface SamplerOptions {
  sampleHz: number;
  /** how often drain() is expected to run; sizes the maps */
  drainIntervalMs: number;
  cpus?: number[];
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

export class CpuSampler {
  readonly periodNs: number;
  readonly cpus: number[];
  #obj: BpfObject;
  #counts: [BpfMap, BpfMap];
  #stacks: BpfMap;
  #state: BpfMap;
  #statsMap: BpfMap;
  #active = 0;
  /** stacks already taken out of the kernel map, by hash; a stack is read once, then reused from here */
  #stackCache = new LRUCache<bigint, BigUint64Array>({ max: 65536 });
  #stacksMissing = 0n;
  #drains = 0n;

  constructor(opts: SamplerOptions) {
    if (!(opts.sampleHz >= 1 && opts.sampleHz <= 10000)) throw new RangeError(`sample rate ${opts.sampleHz} Hz out of range 1..10000`);
    this.periodNs = Math.round(1e9 / opts.sampleHz);
    this.cpus = opts.cpus ?? onlineCpus();
    const sizes = mapSizes(this.cpus.length, opts.sampleHz, opts.drainIntervalMs);
    const [obj, maps] = BpfObject.load(
      'profile',
      { profile_counts0: sizes.counts, profile_counts1: sizes.counts, profile_stacks: sizes.stacks },
      (o) => {
        const m = {
          counts: [o.map('profile_counts0'), o.map('profile_counts1')] as [BpfMap, BpfMap],
          stacks: o.map('profile_stacks'),
          state: o.map('profile_state'),
          stats: o.map('profile_stats'),
        };
        for (const cpu of this.cpus) o.attachCpuClock('kiln_profile', cpu, this.periodNs);
        return m;
      },
    );
    this.#obj = obj;
    this.#counts = maps.counts;
    this.#stacks = maps.stacks;
    this.#state = maps.state;
    this.#statsMap = maps.stats;
  }

  get bpf(): BpfObject {
    return this.#obj;
  }

  /**
   * Flips the counts buffers, waits for programs still writing the old one, and drains it.
   * Samples that race the flip stay in their buffer and come out at the next drain of it.
   */
  async drain(): Promise<RawSample[]> {
    const old = this.#active;
    this.#active = old ^ 1;
    const key = Buffer.alloc(4);
    const val = Buffer.alloc(4);
    val.writeUInt32LE(this.#active);
    this.#state.update(key, val);
    await sleep(2);
    const { keys, values, count } = this.#counts[old].drain();
    this.#drains++;

    const entries: { key: ReturnType<typeof decodeProfileKey>; count: number }[] = [];
    const wanted = new Set<bigint>();
    for (let i = 0; i < count; i++) {
      const k = decodeProfileKey(keys, i * PROFILE_KEY.size);
      entries.push({ key: k, count: Number(values.readBigUInt64LE(i * 8)) });
      for (const h of [k.userStackHash, k.kernelStackHash]) if (h !== 0n && !this.#stackCache.has(h)) wanted.add(h);
    }
    if (wanted.size > 0) {
      const hashes = [...wanted];
      const kb = Buffer.alloc(hashes.length * 8);
      hashes.forEach((h, i) => kb.writeBigUInt64LE(h, i * 8));
      const { values: sv, found } = this.#stacks.take(kb);
      hashes.forEach((h, i) => {
        if (found[i]) this.#stackCache.set(h, decodeProfileStack(sv, i * PROFILE_STACK.size));
      });
    }
    const stack = (h: bigint): BigUint64Array | null => {
      if (h === 0n) return null;
      const s = this.#stackCache.get(h);
      if (!s) this.#stacksMissing++;
      return s ?? null;
    };
    return entries.map(({ key: k, count: n }) => ({
      tgid: k.tgid,
      comm: k.comm,
      kthread: k.kthread,
      cgroupId: k.cgroupId,
      userIps: stack(k.userStackHash),
      kernelIps: stack(k.kernelStackHash),
      userStackHash: k.userStackHash,
      kernelStackHash: k.kernelStackHash,
      count: n,
    }));
  }

  /** Cumulative counters since load (kernel per-CPU counters summed). */
  stats(): SamplerStats {
    return { ...readPerCpuCounters(this.#statsMap, PROFILE_STATS), stacksMissing: this.#stacksMissing, drains: this.#drains };
  }


  close(): void {
    this.#obj.close();
  }
}
