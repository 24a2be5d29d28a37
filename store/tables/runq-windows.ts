/* Run-queue latency windows: one row per cgroup per window, the histogram as a fixed-length array
 * (bpf/runq.h slots), so any range of windows sums with sumForEach. */
import { RUNQ_SLOTS, quantileUs, slotBoundsUs } from '../../runq/layout.js';
import type { RunqWindow } from '../../runq/collector.js';
import { RANGE_SQL, appExists, defineTable, type RowOf, type TimeRange } from '../sql.js';
import { runInserts, type Store, type TableInsert } from '../store.js';
import { cpuByApp } from './profiles.js';

/** One row per application per window, the histogram as a fixed-length array (bpf/runq.h slots), so any
 *  range of windows sums with sumForEach. */
export const RUNQ_WINDOWS = defineTable(
  'runq_windows',
  {
    ts: 'DateTime',
    window_seconds: 'UInt32',
    host: 'LowCardinality(String)',
    app: 'LowCardinality(String)',
    container_id: 'String',
    cgroup_id: 'UInt64',
    cgroup_path: 'String',
    slots: 'Array(UInt64)',
    total_ns: 'UInt64',
    waits: 'UInt64',
  },
  (days) => `ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (app, ts) TTL ts + INTERVAL ${days} DAY DELETE`,
);

export interface RunqRow {
  app: string;
  container_id?: string;
  p50_us: number | null;
  p95_us: number | null;
  p99_us: number | null;
  waits: number;
  /** summed wait time of the app's tasks */
  total_delay_seconds: number;
  /** delay accumulated per second of the range: how many of its tasks wait on average */
  delay_seconds_per_second: number;
  /** the application's CPU time in the range, from the profiler's samples (null without them) */
  cpu_seconds: number | null;
  /** delay per second of the application's own running time: the same waits read the same whatever
   *  the range (waiting 0.25 s for every second it ran is 0.25 over a minute or a day); null without
   *  CPU samples */
  delay_seconds_per_cpu_second: number | null;
  buckets: { le_us: number | null; count: number }[];
}

function round(x: number | null, digits = 1): number | null {
  return x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits;
}

export class RunqRepository {
  constructor(readonly store: Store) {}

  async writeWindow(w: RunqWindow): Promise<void> {
    await runInserts(this.store, this.prepareWindow(w));
  }

  /** The window's rows, for the write queue. */
  prepareWindow(w: RunqWindow): TableInsert[] {
    return [{
      table: RUNQ_WINDOWS.name,
      rows: w.rows.map((r): RowOf<typeof RUNQ_WINDOWS.columns> => ({
        ts: w.start,
        window_seconds: w.seconds,
        host: w.host,
        app: r.app,
        container_id: r.containerId,
        cgroup_id: r.cgroupId.toString(),
        cgroup_path: r.cgroupPath,
        slots: r.slots,
        total_ns: r.totalNs,
        waits: r.count,
      })),
    }];
  }

  appExists(app: string): Promise<boolean> {
    return appExists(this.store, RUNQ_WINDOWS, app);
  }

  /** Per application: summed histogram, percentiles, total delay. All apps when `app` is omitted. */
  async query(range: TimeRange, app?: string): Promise<RunqRow[]> {
    const rows = await this.store.query<{ app: string; containers: string[]; hist: (string | number)[]; delay_ns: string | number; n: string | number }>(
      `SELECT app, groupUniqArrayIf(8)(container_id, container_id != '') AS containers, sumForEach(slots) AS hist,
              sum(total_ns) AS delay_ns, sum(waits) AS n
       FROM runq_windows WHERE ${RANGE_SQL} ${app === undefined ? '' : 'AND app = {app:String}'}
       GROUP BY app ORDER BY delay_ns DESC`,
      { ...range, ...(app === undefined ? {} : { app }) },
    );
    const seconds = range.to - range.from;
    // the application's running time over the same range, from the profiler's samples (each one a
    // sample period of CPU): the denominator that does not change with the range chosen
    const cpuNs = await cpuByApp(this.store, range);
    return rows.map((r) => {
      const slots = r.hist.map(Number);
      while (slots.length < RUNQ_SLOTS) slots.push(0);
      let last = slots.length - 1;
      while (last > 0 && slots[last] === 0) last--;
      const totalNs = Number(r.delay_ns);
      return {
        app: r.app,
        ...(r.containers.length === 1 ? { container_id: r.containers[0] } : {}),
        p50_us: round(quantileUs(slots, 0.5)),
        p95_us: round(quantileUs(slots, 0.95)),
        p99_us: round(quantileUs(slots, 0.99)),
        waits: Number(r.n),
        total_delay_seconds: round(totalNs / 1e9, 6)!,
        delay_seconds_per_second: round(totalNs / 1e9 / seconds, 6)!,
        cpu_seconds: cpuNs.get(r.app) ? round(cpuNs.get(r.app)! / 1e9, 3) : null,
        delay_seconds_per_cpu_second: cpuNs.get(r.app) ? round(totalNs / cpuNs.get(r.app)!, 6) : null,
        buckets: slots.slice(0, last + 1).map((count, s) => {
          const hi = slotBoundsUs(s)[1];
          return { le_us: Number.isFinite(hi) ? hi : null, count };
        }),
      };
    });
  }
}
