/* The CPU profiler as a whole: sampler → process table → symbolizer → window aggregator.
 * Drains every `drainIntervalMs` (never overlapping itself), hands completed windows to a sink. */
import { hostname } from 'node:os';
import { LRUCache } from 'lru-cache';
import { ProcessTable, type ProcessTableOptions } from '../host/process-table.js';
import { CpuSampler, type RawSample, type SamplerStats } from './sampler.js';
import { Symbolizer, type ProcessView, type SymbolizerOptions } from './symbolizer.js';
import { WindowAggregator, stackKey, type ProfileWindow } from './window.js';
import { UNKNOWN_MAPPING, type Frame } from './types.js';

export interface ProfileCollectorOptions {
  sampleHz: number;
  windowSeconds: number;
  drainIntervalMs?: number;
  host?: string;
  symbolizer?: SymbolizerOptions;
  processes?: ProcessTableOptions;
  /** called with every completed window; errors are counted and logged, not fatal */
  onWindow: (w: ProfileWindow) => Promise<void>;
  onError?: (e: unknown) => void;
  /** called when samples or stacks were lost since the last call (once per flush at most), with the
   *  newest window being flushed, before that window is handed to onWindow */
  onLoss?: (loss: SampleLoss, window: { start: number; seconds: number }) => void;
}

/** What was lost between two reports: samples dropped whole, and samples kept without their stack. */
export interface SampleLoss {
  samplesDropped: bigint;
  /** stacksMapFull + stacksEvicted */
  stacksDropped: bigint;
  stacksMapFull: bigint;
  stacksEvicted: bigint;
  stackWalkErrors: bigint;
}

export interface ProfileCollectorStats extends SamplerStats {
  samplesRecorded: bigint;
  windowsFlushed: number;
  windowErrors: number;
  drainErrors: number;
  drainMsTotal: number;
  processes: number;
  /** processes gone (or unreadable) before /proc could be read: named by comm, frames unknown */
  processReadErrors: number;
  /** binaries that could not be opened or parsed: their frames show as binary+0x… */
  symbolizeErrors: number;
  /** stacks whose symbolization threw (a bug or a hostile binary): kept as raw addresses */
  stackFaults: number;
  elfBinaries: number;
  elfSymbols: number;
  /** perf maps not read: a FIFO or device, or owned by another user than the process's */
  perfMapsRefused: number;
  /** samples of a process image that exec'd away before it could be read: named, frames unresolved */
  goneImages: number;
}

export class ProfileCollector {
  readonly sampler: CpuSampler;
  readonly symbolizer: Symbolizer;
  readonly processes: ProcessTable;
  readonly #agg: WindowAggregator;
  readonly #opts: ProfileCollectorOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #samplesRecorded = 0n;
  #windowsFlushed = 0;
  #windowErrors = 0;
  #drainErrors = 0;
  #drainMs = 0;
  #stackFaults = 0;
  /** symbolized stacks by (process entry, user stack, kernel stack): hot stacks recur every drain.
   *  The TTL lets frames that were unknown (library not yet mapped) resolve on a later look. */
  readonly #resolved = new LRUCache<string, { frames: Frame[]; key: string }>({ max: 50_000, ttl: 30_000 });

  constructor(opts: ProfileCollectorOptions) {
    this.#opts = opts;
    const drainIntervalMs = opts.drainIntervalMs ?? 1000;
    this.sampler = new CpuSampler({ sampleHz: opts.sampleHz, drainIntervalMs });
    this.symbolizer = new Symbolizer(opts.symbolizer);
    this.processes = new ProcessTable(opts.processes);
    this.#agg = new WindowAggregator(opts.windowSeconds, opts.host ?? hostname(), this.sampler.periodNs);
  }

  start(): void {
    const interval = this.#opts.drainIntervalMs ?? 1000;
    this.#timer = setInterval(() => void this.tick(), interval);
    this.#timer.unref();
  }

  /** One drain plus flushing of completed windows. Concurrent calls share the one in flight. */
  tick(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#tick().finally(() => {
        this.#running = null;
      });
    }
    return this.#running;
  }

  async #tick(): Promise<void> {
    try {
      await this.drainOnce();
    } catch (e) {
      this.#drainErrors++;
      this.#opts.onError?.(e);
    }
    const windows = this.#agg.takeCompleted(Date.now() / 1000);
    if (windows.length > 0) this.#reportLoss(windows[windows.length - 1]);
    await this.#flush(windows);
  }

  #lastLoss: SampleLoss = { samplesDropped: 0n, stacksDropped: 0n, stacksMapFull: 0n, stacksEvicted: 0n, stackWalkErrors: 0n };

  /** Reports losses since the previous report: the count map filling up drops samples; a full stack
   *  map or a stack gone from the cache keeps the sample without its stack. Stack walk errors
   *  (e.g. a user stack in swapped-out memory) are normal in small numbers and reported alongside. */
  #reportLoss(w: { start: number; seconds: number }): void {
    const s = this.sampler.stats();
    const now: SampleLoss = {
      samplesDropped: s.countsFull,
      stacksDropped: s.stacksFull + s.stacksMissing,
      stacksMapFull: s.stacksFull,
      stacksEvicted: s.stacksMissing,
      stackWalkErrors: s.userStackErrors + s.kernelStackErrors,
    };
    const delta: SampleLoss = {
      samplesDropped: now.samplesDropped - this.#lastLoss.samplesDropped,
      stacksDropped: now.stacksDropped - this.#lastLoss.stacksDropped,
      stacksMapFull: now.stacksMapFull - this.#lastLoss.stacksMapFull,
      stacksEvicted: now.stacksEvicted - this.#lastLoss.stacksEvicted,
      stackWalkErrors: now.stackWalkErrors - this.#lastLoss.stackWalkErrors,
    };
    this.#lastLoss = now;
    if (delta.samplesDropped > 0n || delta.stacksDropped > 0n) this.#opts.onLoss?.(delta, { start: w.start, seconds: w.seconds });
  }

  async drainOnce(): Promise<void> {
    const t0 = performance.now();
    const samples = await this.sampler.drain();
    for (const s of samples) {
      const proc = this.processes.lookup(s.tgid, s.cgroupId, s.comm, s.kthread, s);
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
      // filed under the second the kernel took the sample, however late this drain ran
      this.#agg.add(s.unixSec, proc.app, proc.containerId, resolved.frames, s.count, resolved.key);
      this.#samplesRecorded += BigInt(s.count);
    }
    this.#drainMs += performance.now() - t0;
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

  async #flush(windows: ProfileWindow[]): Promise<void> {
    for (const w of windows) {
      try {
        await this.#opts.onWindow(w);
        this.#windowsFlushed++;
      } catch (e) {
        this.#windowErrors++;
        this.#opts.onError?.(e);
      }
    }
  }

  /** Drains once more and flushes every window, complete or not. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.tick();
    await this.#flush(this.#agg.takeAll());
    this.#finalSamplerStats = this.sampler.stats();
    this.sampler.close();
  }

  #finalSamplerStats: SamplerStats | undefined;

  stats(): ProfileCollectorStats {
    return {
      ...(this.#finalSamplerStats ?? this.sampler.stats()),
      samplesRecorded: this.#samplesRecorded,
      windowsFlushed: this.#windowsFlushed,
      windowErrors: this.#windowErrors,
      drainErrors: this.#drainErrors,
      drainMsTotal: this.#drainMs,
      processes: this.processes.size,
      processReadErrors: this.processes.readErrors,
      symbolizeErrors: this.symbolizer.errors,
      stackFaults: this.#stackFaults,
      elfBinaries: this.symbolizer.elf.binaries,
      elfSymbols: this.symbolizer.elf.symbols,
      perfMapsRefused: this.symbolizer.perfMapsRefused,
      goneImages: this.processes.goneImages,
    };
  }
}
