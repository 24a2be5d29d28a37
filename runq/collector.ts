/* Run-queue latency per application: bpf/runq.bpf.c histograms per (cgroup, process), drained when the
 * scheduler closes a window, named as every collector names a process (host/: a container or unit by
 * its cgroup, anything else by its executable) and summed per application. A Collector (ARCHITECTURE.md). */
import { BpfObject, type BpfMap } from '../native/index.js';
import { readPerCpuCounters } from '../native/decode.js';
import type { HostIdentity } from '../host/identity.js';
import type { Collector, CollectorHealth, EndedWindow, WindowEnvelope } from '../pipeline/contracts.js';
import { RUNQ_HIST, RUNQ_KEY, RUNQ_SLOTS, RUNQ_STATS, decodeRunqHist, decodeRunqKey } from './layout.js';

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
  host: string;
  /** who a process is (host/) */
  identity: HostIdentity;
  onError?: (e: unknown) => void;
  /** processes with waits in one window (histogram map size, ~1 KiB each, preallocated); default 4096 */
  maxProcesses?: number;
}

export class RunqCollector implements Collector {
  readonly name = 'runq';
  readonly bpf: BpfObject;
  readonly #hists: BpfMap;
  readonly #stats: BpfMap;
  readonly #opts: RunqCollectorOptions;
  waitsRecorded = 0;
  /** waits of processes outside the agent's --cgroup, left out (host/scope.ts) */
  waitsOutOfScope = 0;
  #closed = false;
  #finalLosses: Record<(typeof RUNQ_STATS)[number], bigint> | undefined;

  constructor(opts: RunqCollectorOptions) {
    this.#opts = opts;
    const [obj, maps] = BpfObject.load('runq', { runq_hists: opts.maxProcesses ?? 4096 }, (o) => {
      for (const p of ['runq_wakeup', 'runq_wakeup_new', 'runq_switch']) o.attach(p);
      return { hists: o.map('runq_hists'), stats: o.map('runq_stats') };
    });
    this.bpf = obj;
    this.#hists = maps.hists;
    this.#stats = maps.stats;
  }

  /** Attached at load; the scheduler drains it. */
  start(): void {}

  /** The waits read now happened since the last close: they belong to the window that just ended. */
  async closeWindows(ended: EndedWindow, final: boolean): Promise<WindowEnvelope[]> {
    const { keys, values, count } = this.#hists.drain();
    const byApp = new Map<string, RunqRow>();
    for (let i = 0; i < count; i++) {
      const k = decodeRunqKey(keys, i * RUNQ_KEY.size);
      const h = decodeRunqHist(values, i * RUNQ_HIST.size);
      if (h.count === 0) continue;
      if (!this.#opts.identity.inScope(k.cgroupId)) {
        this.waitsOutOfScope += h.count;
        continue;
      }
      const id = this.#opts.identity.appOf(k);
      const key = `${id.app}\0${id.containerId}`;
      let row = byApp.get(key);
      if (!row) {
        row = { app: id.app, containerId: id.containerId, cgroupId: k.cgroupId, cgroupPath: this.#opts.identity.cgroups.lookup(k.cgroupId).path, slots: new Array<number>(RUNQ_SLOTS).fill(0), totalNs: 0, count: 0 };
        byApp.set(key, row);
      }
      for (let s = 0; s < RUNQ_SLOTS; s++) row.slots[s] += h.slots[s];
      row.totalNs += h.totalNs;
      row.count += h.count;
      this.waitsRecorded += h.count;
    }
    if (byApp.size === 0) return [];
    return [{ kind: 'runq', start: ended.start, seconds: ended.seconds, host: this.#opts.host, rows: [...byApp.values()] }];
  }

  /** Kernel-side losses since load. */
  losses(): Record<(typeof RUNQ_STATS)[number], bigint> {
    return this.#finalLosses ?? readPerCpuCounters(this.#stats, RUNQ_STATS);
  }

  health(): CollectorHealth {
    const l = this.losses();
    return {
      status: { waitsRecorded: this.waitsRecorded, waitsOutOfScope: this.waitsOutOfScope, startMapFull: Number(l.startMapFull), histMapFull: Number(l.histMapFull) },
      losses: { start_map_full: Number(l.startMapFull), hist_map_full: Number(l.histMapFull) },
      programs: this.#closed ? [] : this.bpf.progStats(),
    };
  }

  /** Detaches (after the scheduler's final closeWindows). */
  async stop(): Promise<void> {
    this.#finalLosses = this.losses();
    this.#closed = true;
    this.bpf.close();
  }
}
