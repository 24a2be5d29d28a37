/* The local store as a WindowSink: each window becomes its tables' inserts (store/<table> modules),
 * queued in the bounded write queue. A window the queue drops is recorded as lost (its samples or rows)
 * in collector_losses, with the next window that gets through. */
import type { WindowEnvelope, WindowSink } from '../pipeline/contracts.js';
import { LossLedger, LossRepository } from './tables/collector-losses.js';
import { ProfileRepository } from './tables/profiles.js';
import { RunqRepository } from './tables/runq-windows.js';
import { DnsRepository } from './tables/dns-windows.js';
import { NetcostRepository } from './tables/net-flows.js';
import type { Store, TableInsert } from './store.js';
import { WindowWriteQueue, type WriteQueueOptions, type WriteQueueStats } from './write-queue.js';

/** The collector that produced each window kind (the `collector` of its losses). */
const COLLECTOR_OF: Record<string, string> = { profile: 'profiler', runq: 'runq', netflow: 'tcp', dns: 'dns', losses: 'losses' };

interface Queued {
  collector: string;
  start: number;
  seconds: number;
  host: string;
  /** samples for profile windows, rows for the others */
  count: number;
}

export interface StoreSinkOptions extends Pick<WriteQueueOptions, 'maxWindows' | 'maxRows' | 'onWritten' | 'onError'> {
  /** a window dropped unwritten (queue full, or stopping) */
  onDropped?: (kind: string, reason: 'queue_full' | 'shutdown', start: number, rows: number) => void;
}

export class StoreSink implements WindowSink {
  readonly profiles: ProfileRepository;
  readonly runq: RunqRepository;
  readonly dns: DnsRepository;
  readonly netcost: NetcostRepository;
  readonly losses: LossRepository;
  readonly #queue: WindowWriteQueue;
  readonly #ledger = new LossLedger();

  constructor(store: Store, opts: StoreSinkOptions = {}) {
    this.profiles = new ProfileRepository(store);
    this.runq = new RunqRepository(store);
    this.dns = new DnsRepository(store);
    this.netcost = new NetcostRepository(store);
    this.losses = new LossRepository(store);
    this.#queue = new WindowWriteQueue(store, {
      ...opts,
      onDropped: (kind, reason, rows, meta) => {
        const m = meta as Queued;
        this.#ledger.add([{ start: m.start, seconds: m.seconds, host: m.host, collector: m.collector, reason: `store_${reason}`, count: m.count }]);
        opts.onDropped?.(kind, reason, m.start, rows);
      },
    });
  }

  #inserts(w: WindowEnvelope): { inserts: TableInsert[]; count: number } {
    switch (w.kind) {
      case 'profile':
        return { inserts: this.profiles.prepareWindow(w), count: w.apps.reduce((n, a) => n + a.stacks.reduce((m, x) => m + x.count, 0), 0) };
      case 'runq':
        return { inserts: this.runq.prepareWindow(w), count: w.rows.length };
      case 'netflow':
        return { inserts: this.netcost.prepareWindow(w), count: w.rows.length };
      case 'dns':
        return { inserts: this.dns.prepareWindow(w), count: w.rows.length };
      case 'losses':
        this.#ledger.add(w.rows.map((r) => ({ ...r, start: w.start, seconds: w.seconds, host: w.host })));
        return { inserts: [], count: 0 };
    }
  }

  write(w: WindowEnvelope): void {
    const { inserts, count } = this.#inserts(w);
    // losses ride with the next window (or go alone when that is all there is)
    const losses = this.losses.prepare(this.#ledger.take());
    if (inserts.length === 0 && losses.length === 0) return;
    const meta: Queued = { collector: COLLECTOR_OF[w.kind] ?? w.kind, start: w.start, seconds: w.seconds, host: w.host, count };
    this.#queue.enqueue(w.kind, [...inserts, ...losses], meta);
  }

  flush(timeoutMs: number): Promise<void> {
    return this.#queue.drain(timeoutMs);
  }

  async close(timeoutMs: number): Promise<void> {
    const last = this.losses.prepare(this.#ledger.take());
    if (last.length) this.#queue.enqueue('losses', last, { collector: 'losses', start: 0, seconds: 0, host: '', count: 0 } satisfies Queued);
    await this.#queue.close(timeoutMs);
  }

  stats(): WriteQueueStats {
    return this.#queue.stats();
  }

  /** Drops per collector and reason so far (for /metrics), e.g. {collector: 'profiler', reason: 'store_queue_full'}. */
  drops(): { collector: string; reason: string; value: number }[] {
    return Object.entries(this.#queue.stats().dropped).map(([key, value]) => {
      const [kind, reason] = key.split(':');
      return { collector: COLLECTOR_OF[kind] ?? kind, reason: `store_${reason}`, value };
    });
  }
}
