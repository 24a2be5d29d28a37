/* What collectors lost, per window (collector_losses): written beside the data, read by the pages so a
 * user sees that a selected range is incomplete, by how much and why. */
import { RANGE_SQL, defineTable, type RowOf, type TimeRange } from '../sql.js';
import type { Store, TableInsert } from '../store.js';

/** What a collector lost, per window it was noticed in. */
export const COLLECTOR_LOSSES = defineTable(
  'collector_losses',
  { ts: 'DateTime', window_seconds: 'UInt32', host: 'LowCardinality(String)', collector: 'LowCardinality(String)', reason: 'LowCardinality(String)', count: 'UInt64' },
  (days) => `ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (collector, ts) TTL ts + INTERVAL ${days} DAY DELETE`,
);

export interface LossRecord {
  /** window start (unix seconds) the loss was noticed in */
  start: number;
  seconds: number;
  host: string;
  collector: string;
  reason: string;
  count: number;
}

export interface LossRow {
  collector: string;
  reason: string;
  count: number;
}

/** What each reason means, for the pages and the API. */
export const LOSS_REASONS: Record<string, string> = {
  counts_map_full: 'samples dropped: the kernel count map was full between two drains',
  stack_map_full: 'samples kept without their stack: the kernel stack map was full',
  stack_evicted: 'samples kept without their stack: the stack was gone from the cache',
  egress_map_full: 'egress sample points (bytes sent, one point per N bytes) dropped: the kernel egress map was full between two drains',
  store_queue_full: 'samples not stored: the store fell behind and its write queue was full',
  store_shutdown: 'samples not stored: Kiln stopped before the store took them',
};

export class LossRepository {
  constructor(readonly store: Store) {}

  prepare(losses: LossRecord[]): TableInsert[] {
    const rows = losses
      .filter((l) => l.count > 0)
      .map((l): RowOf<typeof COLLECTOR_LOSSES.columns> => ({ ts: l.start, window_seconds: l.seconds, host: l.host, collector: l.collector, reason: l.reason, count: l.count }));
    return rows.length ? [{ table: COLLECTOR_LOSSES.name, rows }] : [];
  }

  /** Losses in the range, summed per collector and reason (one collector when given). */
  async query(range: TimeRange, collector?: string): Promise<LossRow[]> {
    const rows = await this.store.query<{ collector: string; reason: string; count: string | number }>(
      `SELECT collector, reason, sum(count) AS count FROM collector_losses
       WHERE ${RANGE_SQL} ${collector === undefined ? '' : 'AND collector = {collector:String}'}
       GROUP BY collector, reason ORDER BY collector, count DESC`,
      { ...range, ...(collector === undefined ? {} : { collector }) },
    );
    return rows.map((r) => ({ collector: r.collector, reason: r.reason, count: Number(r.count) }));
  }
}

/** Losses noticed but not yet handed to the store, merged per window, collector and reason; bounded. */
export class LossLedger {
  readonly #pending = new Map<string, LossRecord>();
  constructor(readonly maxEntries = 4096) {}

  add(records: readonly LossRecord[]): void {
    for (const r of records) {
      if (!(r.count > 0)) continue;
      const k = `${r.start}|${r.seconds}|${r.host}|${r.collector}|${r.reason}`;
      const cur = this.#pending.get(k);
      if (cur) cur.count += r.count;
      else if (this.#pending.size < this.maxEntries) this.#pending.set(k, { ...r });
      else {
        // full (the store has been failing for long): fold into the oldest entry of the same kind, if
        // any, so the total stays right even where the window does not
        const same = [...this.#pending.values()].find((p) => p.collector === r.collector && p.reason === r.reason);
        if (same) same.count += r.count;
      }
    }
  }

  /** Everything pending, removed. */
  take(): LossRecord[] {
    const out = [...this.#pending.values()];
    this.#pending.clear();
    return out;
  }
}
