/* The CPU profiler as a whole: sampler → process table → symbolizer → window aggregator. Drains when the
 * scheduler's clock polls it (every `drainIntervalMs`, which sizes the maps; never overlapping itself)
 * and when it closes its windows (a Collector, see ARCHITECTURE.md). */
import { LRUCache } from 'lru-cache';
import { readStartStack, type ProcessTable } from '../host/process-table.js';
import type { Collector, CollectorHealth, EndedWindow, WindowEnvelope } from '../pipeline/contracts.js';
import { CpuSampler, type RawSample, type SamplerStats, type UnwindMode } from './sampler.js';
import { Symbolizer, type ProcessView, type SymbolizerOptions } from './symbolizer.js';
import { WindowAggregator, stackKey, type ProfileWindow } from './window.js';
import { EgressAggregator } from './egress.js';
import { UNKNOWN_MAPPING, type Frame } from './types.js';

/** CPU time one glance (or drain step) may spend reading new processes before leaving the rest to the
 *  drain (CPU, not wall time: on a busy host a read waits for the CPU far longer than it uses it) */
const OBSERVE_BUDGET_MS = 20;

/** this process's CPU time so far, in ms */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
/** how long after the last new process the profiler keeps glancing (see glancing()) */
const GLANCE_FOR_MS = 30_000;
/** new processes a glance had no budget for, kept for the next glances (oldest forgotten past this) */
const MAX_DEFERRED_PROCESSES = 1024;

/** what the cache of symbolized stacks may hold */
const RESOLVED_CACHE_BYTES = 24 << 20;

export interface ProfileCollectorOptions {
  sampleHz: number;
  windowSeconds: number;
  drainIntervalMs?: number;
  host: string;
  symbolizer?: SymbolizerOptions;
  unwind?: UnwindMode;
  unwindTableBytes?: number;
  /** who a pid is: shared with the other collectors (host/) */
  processes: ProcessTable;
  /** CPU ms a glance may spend reading new processes (default OBSERVE_BUDGET_MS) */
  observeBudgetMs?: number;
  /** new processes waiting for a glance's budget (default MAX_DEFERRED_PROCESSES) */
  maxDeferredProcesses?: number;
  /** the agent's --cgroup (host/scope.ts): samples of processes outside it are left out and counted */
  inScope?: (cgroupId: bigint) => boolean;
  /** egress stacks: the mean bytes sent between two sample points (0 or absent: off) */
  egressBytesPerSample?: number;
  /** distinct (sender, stack, peer) keys the kernel's egress map holds between drains (default 4096) */
  egressKeys?: number;
  onError?: (e: unknown) => void;
}

/** What /metrics shows of unwinding (kiln_profiler_unwind_*). */
export interface UnwindHealth {
  /** binaries walked by frame pointers, by why they have no table */
  fallbackBinaries: Record<string, number>;
  rowsUsed: number;
  rowsCapacity: number;
  processes: number;
  /** user stacks walked by tables, or by frame pointers (process not loaded yet) */
  walks: Record<'tables' | 'frame_pointers', number>;
  /** table walks that ended before the outermost frame, by why */
  ends: Record<string, number>;
  framesByFramePointers: number;
}

export interface ProfileCollectorStats extends SamplerStats {
  samplesRecorded: bigint;
  /** samples of processes outside the agent's --cgroup, left out */
  samplesOutOfScope: bigint;
  drainErrors: number;
  drainMsTotal: number;
  /** the cache of symbolized stacks, by the bound's measure (RESOLVED_CACHE_BYTES) */
  resolvedCacheBytes: number;
  processes: number;
  /** processes gone (or unreadable) before /proc could be read: named by comm, frames unknown */
  processReadErrors: number;
  /** exited processes the table forgot */
  processesSwept: number;
  /** binaries that could not be opened or parsed: their frames show as binary+0x… */
  symbolizeErrors: number;
  /** stacks whose symbolization threw (a bug or a hostile binary): kept as raw addresses */
  stackFaults: number;
  elfBinaries: number;
  elfSymbolBytes: number;
  /** perf maps not read: a FIFO or device, or owned by another user than the process's */
  perfMapsRefused: number;
  /** samples of a process image that exec'd away before it could be read: named, frames unresolved */
  goneImages: number;
  /** samples kept under a [truncated] stack: their window had its distinct-stack limit */
  truncatedSamples: number;
  /** samples kept under the process label "[other processes]": their application had
   *  MAX_PROCESSES_PER_APP processes in the window already */
  otherProcessSamples: number;
  /** processes read as soon as the walk met them (a glance or a drain), so they are named and
   *  symbolized even if they exit before the next drain */
  newProcessesRead: number;
  /** ... already gone (or mid-exec) by then: their samples are named from the kernel's view */
  newProcessesGone: number;
  /** ... put off to the next glances: the glance's budget was spent (process churn) */
  newProcessesDeferred: number;
  /** ... of those, forgotten past MAX_DEFERRED_PROCESSES waiting (their samples still named by the drain) */
  newProcessesDeferredDropped: number;
  /** ... waiting for a glance now */
  newProcessesWaiting: number;
  /** egress stacks: the bytes one sample point stands for (0: off) */
  egressBytesPerSample: number;
  /** egress sample points kept under the folded code path (the application's stack limit) */
  egressFoldedPoints: number;
  /** egress sample points of processes outside the agent's --cgroup, left out */
  egressPointsOutOfScope: bigint;
}

export class ProfileCollector implements Collector {
  readonly name = 'profiler';
  readonly sampler: CpuSampler;
  readonly symbolizer: Symbolizer;
  readonly processes: ProcessTable;
  readonly #agg: WindowAggregator;
  readonly #egress: EgressAggregator | null;
  #egressFolded = 0;
  #egressOutOfScope = 0n;
  readonly #opts: ProfileCollectorOptions;
  #running: Promise<void> | null = null;
  #samplesRecorded = 0n;
  #samplesOutOfScope = 0n;
  #drainErrors = 0;
  #drainMs = 0;
  #stackFaults = 0;
  #truncatedSamples = 0;
  #otherProcessSamples = 0;
  /** symbolized stacks by (process entry, user stack, kernel stack): hot stacks recur every drain.
   *  The TTL lets frames that were unknown (library not yet mapped) resolve on a later look. */
  readonly #resolved = new LRUCache<string, { frames: Frame[]; key: string }>({
    max: 50_000,
    ttl: 30_000,
    // bounded by bytes too: under process churn every new process brings its own entries for the same
    // stacks (the key has its serial); ~120 bytes a frame (object, name, address) is what they hold
    maxSize: RESOLVED_CACHE_BYTES,
    sizeCalculation: (v) => 200 + v.frames.length * 120,
  });

  constructor(opts: ProfileCollectorOptions) {
    this.#opts = opts;
    const drainIntervalMs = opts.drainIntervalMs ?? 1000;
    this.sampler = new CpuSampler({
      sampleHz: opts.sampleHz,
      drainIntervalMs,
      unwind: opts.unwind,
      unwindTableBytes: opts.unwindTableBytes,
      debugDirs: opts.symbolizer?.debugDirs,
      onError: opts.onError,
      onNewProcess: (tgid) => this.#observe(tgid),
      egressBytesPerSample: opts.egressBytesPerSample,
      egressKeys: opts.egressKeys,
    });
    this.symbolizer = new Symbolizer(opts.symbolizer);
    this.processes = opts.processes;
    this.#agg = new WindowAggregator(opts.windowSeconds, opts.host, this.sampler.periodNs);
    this.#egress = this.sampler.egressBytesPerSample ? new EgressAggregator(opts.windowSeconds, this.sampler.egressBytesPerSample) : null;
  }

  /** Sampling runs from the load; drains come from the scheduler's clock (poll). */
  start(): void {}

  poll(): Promise<void> {
    return this.tick();
  }

  /** Between drains: answers the walk's requests, so a new process is read (maps, binaries) while it
   *  lives, and gets its tables, within a glance rather than at the next drain. */
  glance(): void {
    this.#openBudget();
    this.sampler.pollUnwind();
    // then the processes earlier glances had no budget for, with what is left: a program that lives
    // half a second is read at the next glance rather than missed (busy fresh-clone run: the first
    // of eight 500 ms runs went unread behind a burst of other new processes)
    for (const tgid of this.#deferred.keys()) {
      if (cpuMs() >= this.#observeUntil) break;
      this.#deferred.delete(tgid);
      this.#observe(tgid, true);
    }
    // a process read between its fork and its exec was read as its parent's program: the walk asked
    // once for that pid (the exec's request merged into the fork's), so look again at each one read
    // since the last drain, and read it anew once it shows another image (busy runs: the first of eight
    // 500 ms runs read as the test's node, its own samples then unnamed)
    for (const [tgid, startStack] of this.#readSinceDrain) {
      if (cpuMs() >= this.#observeUntil) break;
      let now: bigint;
      try {
        now = readStartStack(`/proc/${tgid}`);
      } catch {
        this.#readSinceDrain.delete(tgid); // gone
        continue;
      }
      if (now !== 0n && now !== startStack) {
        this.#readSinceDrain.delete(tgid);
        this.#observe(tgid, true);
      }
    }
  }
  /** processes read by a glance since the last drain, by the stack start of the image read */
  readonly #readSinceDrain = new Map<number, bigint>();

  /** While new processes come (one met in the last GLANCE_FOR_MS), glance between drains: the next
   *  may live less than a second. A host whose processes live on pays no wake-up for it. */
  glancing(): boolean {
    return this.#deferred.size > 0 || performance.now() - this.#lastNewProcessAt < GLANCE_FOR_MS;
  }
  readonly #deferred = new Map<number, true>();
  #lastNewProcessAt = -Infinity;

  /** A new budget of CPU time for reading new processes (a glance, or a step of the drain). */
  #openBudget(): void {
    this.#observeUntil = cpuMs() + (this.#opts.observeBudgetMs ?? OBSERVE_BUDGET_MS);
  }

  /** Reads a process the walk has just met; past the budget it waits for the next glances. */
  #observe(tgid: number, retry = false): void {
    this.#lastNewProcessAt = performance.now();
    if (cpuMs() >= this.#observeUntil) {
      if (!retry && !this.#deferred.has(tgid)) this.#observeDeferred++;
      // past the bound the oldest goes: the likeliest to be gone already; its samples are read by the drain
      if (this.#latest(this.#deferred, tgid, true)) this.#observeDeferredDropped++;
      return;
    }
    const entry = this.processes.observe(tgid);
    if (entry?.view) this.symbolizer.prepare(entry.view);
    if (!entry?.view) {
      this.#observeGone++;
      return;
    }
    this.#observed++;
    this.#latest(this.#readSinceDrain, tgid, entry.startStack);
  }

  /** Puts `key` last in an insertion-ordered map of at most maxDeferredProcesses entries; true when
   *  the oldest had to go. */
  #latest<V>(m: Map<number, V>, key: number, value: V): boolean {
    m.delete(key);
    m.set(key, value);
    if (m.size <= (this.#opts.maxDeferredProcesses ?? MAX_DEFERRED_PROCESSES)) return false;
    for (const oldest of m.keys()) {
      m.delete(oldest);
      break;
    }
    return true;
  }
  #observeUntil = 0;
  #observed = 0;
  #observeDeferred = 0;
  #observeDeferredDropped = 0;
  #observeGone = 0;

  /** One drain. Concurrent calls share the one in flight; `settle` waits for programs still writing
   *  the buffer being drained (for a window's close: its last second must be in it). */
  tick(settle = false): Promise<void> {
    if (!this.#running) {
      this.#running = this.#tick(settle).finally(() => {
        this.#running = null;
      });
    }
    return this.#running;
  }

  async #tick(settle: boolean): Promise<void> {
    try {
      await this.drainOnce(settle);
    } catch (e) {
      this.#drainErrors++;
      this.#opts.onError?.(e);
    }
  }

  /** Drains, then hands over every window that ended by the end of `ended` (all of them when final):
   *  samples are filed under the second they were taken, so a window is whole once it has ended. */
  async closeWindows(ended: EndedWindow, final: boolean): Promise<WindowEnvelope[]> {
    await this.#running;
    await this.tick(true);
    // the process table is shared (host/), but the profiler is what fills it: it sweeps it
    if (!final) this.processes.sweep();
    const until = final ? Infinity : ended.start + ended.seconds;
    const windows = final ? this.#agg.takeAll() : this.#agg.takeCompleted(until);
    for (const w of windows) {
      this.#truncatedSamples += w.truncatedSamples;
      this.#otherProcessSamples += w.otherProcessSamples ?? 0;
    }
    // a window's egress stacks travel with its CPU samples (one with only egress gets an empty profile)
    const byStart = new Map<number, ProfileWindow>(windows.map((w) => [w.start, w]));
    for (const e of this.#egress?.take(until) ?? []) {
      this.#egressFolded += e.foldedPoints;
      let w = byStart.get(e.start);
      if (!w) {
        w = { start: e.start, seconds: e.seconds, host: this.#opts.host, periodNs: this.sampler.periodNs, apps: [], truncatedSamples: 0, otherProcessSamples: 0 };
        byStart.set(e.start, w);
      }
      w.egress = { bytesPerSample: e.bytesPerSample, profiles: e.profiles, foldedPoints: e.foldedPoints };
    }
    return [...byStart.values()].sort((a, b) => a.start - b.start).map((w) => ({ kind: 'profile' as const, ...w }));
  }

  async drainOnce(settle = false): Promise<void> {
    const t0 = performance.now();
    // the drain answers pending unwind requests first: new processes get their tables before the
    // symbolization below holds the thread
    this.#openBudget();
    const { samples, egress } = await this.sampler.drain(settle);
    // the drain reads what it meets live; what execs after it asks the walk again
    this.#readSinceDrain.clear();
    let polled = performance.now();
    for (const s of samples) {
      if (performance.now() - polled > 50) {
        // a first drain on a busy host symbolizes thousands of new stacks: every 50 ms the API and the
        // other collectors get the event loop back, and new processes their unwind tables
        await new Promise((r) => setImmediate(r));
        this.#openBudget();
        this.sampler.pollUnwind();
        polled = performance.now();
      }
      if (this.#opts.inScope && !this.#opts.inScope(s.cgroupId)) {
        this.#samplesOutOfScope += BigInt(s.count);
        continue;
      }
      const proc = this.processes.lookup(s.tgid, s.cgroupId, s.comm, s.kthread, s);
      const resolved = this.#resolve(s, proc);
      // filed under the second the kernel took the sample, however late this drain ran
      this.#agg.add(s.unixSec, proc.app, proc.containerId, resolved.frames, s.count, resolved.key, proc);
      this.#samplesRecorded += BigInt(s.count);
    }
    // the code paths that sent bytes: named and symbolized like the CPU samples (few: one per sample point)
    for (const s of egress) {
      if (this.#opts.inScope && !this.#opts.inScope(s.cgroupId)) {
        this.#egressOutOfScope += BigInt(s.count);
        continue;
      }
      const proc = this.processes.lookup(s.tgid, s.cgroupId, s.comm, s.kthread, s);
      const resolved = this.#resolve(s, proc);
      this.#egress?.add(s.unixSec, proc.app, proc.containerId, proc, s.peerAddress, s.peerPort, resolved.frames, resolved.key, s.count);
    }
    this.#drainMs += performance.now() - t0;
  }

  /** One sample's frames, symbolized once per (process entry, stacks) while the cache holds them. */
  #resolve(s: RawSample, proc: ReturnType<ProcessTable['lookup']>): { frames: Frame[]; key: string } {
    // a stack lost on the way (null ips) must not share an entry with the same hash found
    const cacheKey = `${proc.serial}:${s.tgid}:${s.userIps ? s.userStackHash : 0}:${s.kernelIps ? s.kernelStackHash : 0}`;
    let resolved = this.#resolved.get(cacheKey);
    if (!resolved) {
      let frames: Frame[];
      try {
        frames = this.#frames(s, proc.view);
      } catch (e) {
        // a fault in symbolization must not cost the rest of the drained batch (already deleted
        // from the BPF maps): keep the sample with its addresses, count it, report the first
        frames = this.#rawFrames(s);
        if (this.#stackFaults++ === 0) this.#opts.onError?.(new Error(`symbolization failed for ${proc.app} (pid ${s.tgid}); its frames are kept as addresses`, { cause: e }));
      }
      resolved = { frames, key: stackKey(frames) };
      this.#resolved.set(cacheKey, resolved);
    }
    return resolved;
  }

  /** Root-first frames with addresses only, for a stack whose symbolization failed. */
  #rawFrames(s: RawSample): Frame[] {
    const frames: Frame[] = [];
    for (const ips of [s.userIps, s.kernelIps]) {
      if (!ips) continue;
      for (let i = ips.length - 1; i >= 0; i--) frames.push({ name: `[unknown]+0x${ips[i].toString(16)}`, mapping: UNKNOWN_MAPPING, address: ips[i] });
    }
    if (frames.length === 0) frames.push({ name: `[${s.comm || 'unknown'}: no stack]`, mapping: UNKNOWN_MAPPING, address: 0n });
    return frames;
  }

  /** Root-first frames of one sample: user frames, then the kernel frames above them. */
  #frames(s: RawSample, view: ProcessView | null): Frame[] {
    const frames: Frame[] = [];
    if (s.userIps) {
      const user = this.symbolizer.userFrames(view, s.userIps);
      for (let i = user.length - 1; i >= 0; i--) frames.push(user[i]);
    }
    if (s.kernelIps) {
      const kernel = this.symbolizer.kernelFrames(s.kernelIps);
      for (let i = kernel.length - 1; i >= 0; i--) frames.push(kernel[i]);
    }
    if (frames.length === 0) {
      frames.push({ name: `[${s.comm || 'unknown'}: no stack]`, mapping: UNKNOWN_MAPPING, address: 0n });
    }
    return frames;
  }

  /** Stops sampling (after the scheduler's final closeWindows). */
  async stop(): Promise<void> {
    await this.#running;
    this.#finalSamplerStats = this.sampler.stats();
    this.sampler.close();
  }

  health(): CollectorHealth {
    const s = this.stats();
    return {
      status: { ...s, sampleHz: Math.round(1e9 / this.sampler.periodNs), cpus: this.sampler.cpus.length },
      // samples dropped whole, and samples kept without their stack (map full, or gone from the cache)
      losses: {
        counts_map_full: Number(s.countsFull),
        stack_map_full: Number(s.stacksFull),
        stack_evicted: Number(s.stacksMissing),
        // how user-stack walks went and which binaries have no table are not losses: they are in the
        // status and in /metrics as kiln_profiler_unwind_* (see unwindHealth)
        unwind_requests_map_full: Number(s.unwindRequestsFull),
        // egress sample points (bytes sent / bytes per sample) lost: the kernel's egress map was full
        egress_map_full: Number(s.egressPointsLost),
      },
      programs: this.#finalSamplerStats ? [] : this.sampler.bpf.progStats(),
    };
  }

  #finalSamplerStats: SamplerStats | undefined;

  /** Unwinding by tables, for /metrics: null with --unwind fp. */
  unwindHealth(): UnwindHealth | null {
    const s = this.#finalSamplerStats ?? this.sampler.stats();
    if (!s.unwind) return null;
    return {
      fallbackBinaries: s.unwind.fallbackBinaries,
      rowsUsed: s.unwind.rowsUsed,
      rowsCapacity: s.unwind.rowsCapacity,
      processes: s.unwind.processes,
      walks: { tables: Number(s.walksByTables), frame_pointers: Number(s.walksByFramePointers) },
      ends: {
        signal_frame: Number(s.walkEndSignal),
        unsupported_rule: Number(s.walkEndUnsupported),
        unreadable: Number(s.walkEndRead),
        max_depth: Number(s.walkEndDepth),
        bad_frame: Number(s.walkEndBadFrame),
      },
      framesByFramePointers: Number(s.framesByFramePointers),
    };
  }

  stats(): ProfileCollectorStats {
    return {
      ...(this.#finalSamplerStats ?? this.sampler.stats()),
      samplesRecorded: this.#samplesRecorded,
      samplesOutOfScope: this.#samplesOutOfScope,
      drainErrors: this.#drainErrors,
      drainMsTotal: this.#drainMs,
      resolvedCacheBytes: this.#resolved.calculatedSize ?? 0,
      processes: this.processes.size,
      processReadErrors: this.processes.readErrors,
      processesSwept: this.processes.swept,
      symbolizeErrors: this.symbolizer.errors,
      stackFaults: this.#stackFaults,
      elfBinaries: this.symbolizer.elf.binaries,
      elfSymbolBytes: this.symbolizer.elf.symbolBytes,
      perfMapsRefused: this.symbolizer.perfMapsRefused,
      goneImages: this.processes.goneImages,
      truncatedSamples: this.#truncatedSamples,
      otherProcessSamples: this.#otherProcessSamples,
      newProcessesRead: this.#observed,
      newProcessesGone: this.#observeGone,
      newProcessesDeferred: this.#observeDeferred,
      newProcessesDeferredDropped: this.#observeDeferredDropped,
      newProcessesWaiting: this.#deferred.size,
      egressBytesPerSample: this.sampler.egressBytesPerSample,
      egressFoldedPoints: this.#egressFolded,
      egressPointsOutOfScope: this.#egressOutOfScope,
    };
  }
}
