/* Run-queue latency per container: bpf/runq.bpf.c histograms per cgroup, drained every window,
 * named through the cgroup resolver and handed to a sink. */
import { BpfObject, type BpfMap } from '../native/index.js';
import { readPerCpuCounters } from '../native/decode.js';
import { CgroupResolver } from '../host/cgroup-resolver.js';
import { RUNQ_HIST, RUNQ_STATS, decodeRunqHist } from './layout.js';
import { WindowSchedule } from '../profiler/window.js';

export interface RunqRow {
  app: string;
  containerId: string;
  cgroupId: bigint;
  cgroupPath: string;
  slots: number[];
  totalNs: number;
  count: number;
}

export interface RunqWindow {
  start: number;
  seconds: number;
  host: string;
  rows: RunqRow[];
}

export interface RunqCollectorOptions {
  windowSeconds: number;
  host: string;
  resolver: CgroupResolver;
  onWindow: (w: RunqWindow) => Promise<void>;
  onError?: (e: unknown) => void;
  /** threads that can be runnable at once (start map size); default 65536 */
  maxThreads?: number;
  /** cgroups with waits in one window (histogram map size, ~1 KiB each, preallocated); default 2048 */
  maxCgroups?: number;
}

export class RunqCollector {
  readonly bpf: BpfObject;
  readonly #hists: BpfMap;
  readonly #stats: BpfMap;
  readonly #starts: BpfMap;
  readonly #opts: RunqCollectorOptions;
  readonly #schedule: WindowSchedule;
  windowsFlushed = 0;
  windowErrors = 0;
  waitsRecorded = 0;

  constructor(opts: RunqCollectorOptions) {
    this.#opts = opts;
    const [obj, maps] = BpfObject.load('runq', { runq_start: opts.maxThreads ?? 65536, runq_hists: opts.maxCgroups ?? 2048 }, (o) => {
      for (const p of ['runq_wakeup', 'runq_wakeup_new', 'runq_switch', 'runq_exit']) o.attach(p);
      return { hists: o.map('runq_hists'), stats: o.map('runq_stats'), starts: o.map('runq_start') };
    });
    this.bpf = obj;
    this.#hists = maps.hists;
    this.#stats = maps.stats;
    this.#starts = maps.starts;
    this.#schedule = new WindowSchedule(opts.windowSeconds, (start) => this.#flush(start));
  }

  /** Flushes at every window boundary (plus a little, so the window is complete). */
  start(): void {
    this.#schedule.start();
  }

  /** Drains the histograms into the window that just ended. Never overlaps itself. */
  flush(): Promise<void> {
    return this.#schedule.flush();
  }

  /** The waits read now happened since the last flush: they belong to window `start`. */
  async #flush(start: number): Promise<void> {
    const { keys, values, count } = this.#hists.drain();
    const rows: RunqRow[] = [];
    for (let i = 0; i < count; i++) {
      const cgroupId = keys.readBigUInt64LE(i * 8);
      const h = decodeRunqHist(values, i * RUNQ_HIST.size);
      if (h.count === 0) continue;
      const id = this.#opts.resolver.lookup(cgroupId);
      rows.push({ app: id.app, containerId: id.containerId, cgroupId, cgroupPath: id.path, slots: h.slots, totalNs: h.totalNs, count: h.count });
      this.waitsRecorded += h.count;
    }
    if (rows.length === 0) return;
    try {
      await this.#opts.onWindow({ start, seconds: this.#opts.windowSeconds, host: this.#opts.host, rows });
      this.windowsFlushed++;
    } catch (e) {
      this.windowErrors++;
      this.#opts.onError?.(e);
    }
  }

  /** Threads waiting to run right now, as the kernel map holds them (reads the map: tests, soak bench). */
  startEntries(): number {
    return this.#starts.dump().count;
  }

  /** Kernel-side losses since load. */
  losses(): Record<(typeof RUNQ_STATS)[number], bigint> {
    return readPerCpuCounters(this.#stats, RUNQ_STATS);
  }

  async stop(): Promise<void> {
    this.#schedule.stop();
    await this.flush();
    this.bpf.close();
  }
}
