/* Profile reads and writes over a Store (same SQL for both adapters). */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Frame, MappingDesc } from '../../profiler/types.js';
import type { ProfileWindow } from '../../profiler/window.js';
import { runInserts, type Store, type TableInsert } from '../store.js';
import { RANGE_SQL, appExists, defineTable, rfc3339, type RowOf, type TimeRange } from '../sql.js';
import { EGRESS_SAMPLES } from './egress-samples.js';

export type { TimeRange };

export function id64(parts: string): string {
  return createHash('sha1').update(parts).digest().readBigUInt64LE(0).toString();
}

export function mappingId(m: MappingDesc): string {
  return id64(`${m.file}\0${m.buildId}\0${m.start}\0${m.limit}\0${m.offset}`);
}

export function stackId(frames: Frame[], mappingIds: string[]): string {
  let s = '';
  frames.forEach((f, i) => {
    s += `${f.name}\u0001${f.address}\u0001${mappingIds[i]}\u0002`;
  });
  return id64(s);
}

export interface AppRow {
  app: string;
  container_id?: string;
  host: string;
  first_seen: string;
  last_seen: string;
  /** CPU time sampled in the range (what ranks the list) */
  cpu_seconds: number;
}

export interface CpuSeries {
  /** seconds per point: the asked step, at least the longest window in the range */
  step: number;
  /** CPU used at each step start, in cores (CPU seconds per second) */
  points: { t: number; cores: number }[];
}

/** Which of an application's samples a query reads (README "Process labels"): each given label must match
 *  exactly; none given reads them all. */
export interface ProcessFilter {
  host?: string;
  container_id?: string;
  pid?: number;
  exe?: string;
  cmdline?: string;
}

/** The filter as SQL conditions (each prefixed with AND) with their parameters. */
/** Each process label and its column type: the filter's keys, in the order the API lists them. */
export const PROCESS_LABELS = { host: 'String', container_id: 'String', pid: 'UInt32', exe: 'String', cmdline: 'String' } as const;

export function processFilterSql(f: ProcessFilter = {}): { sql: string; params: Record<string, string | number> } {
  let sql = '';
  const params: Record<string, string | number> = {};
  for (const [k, type] of Object.entries(PROCESS_LABELS)) {
    const v = f[k as keyof ProcessFilter];
    if (v === undefined) continue;
    sql += ` AND ${k} = {f_${k}:${type}}`;
    params[`f_${k}`] = v;
  }
  return { sql, params };
}

/** One process of an application over a range (GET /api/v1/processes). */
export interface ProcessRow {
  host: string;
  container_id: string;
  /** 0 for samples no process could be named for, and for "[other processes]" */
  pid: number;
  exe: string;
  cmdline: string;
  cpu_seconds: number;
  samples: number;
}

export interface StackRow {
  functions: string[];
  samples: number;
  cpu_ns: number;
}

export interface PprofStackRow extends StackRow {
  addresses: string[];
  mapping_ids: string[];
  /** the process labels of these samples (pprof sample labels); absent: none */
  host?: string;
  container_id?: string;
  pid?: number;
  cmdline?: string;
}

/** One egress stack of one process to one peer over a range (ProfileRepository.egressStacks). */
export interface EgressStackRow {
  functions: string[];
  addresses: string[];
  mapping_ids: string[];
  host: string;
  container_id: string;
  pid: number;
  exe: string;
  cmdline: string;
  peer_address: string;
  peer_port: number;
  /** sample points */
  points: number;
  /** points × the bytes each stands for */
  estimated_bytes: number;
}

export interface MappingRow {
  mapping_id: string;
  file: string;
  build_id: string;
  memory_start: string;
  memory_limit: string;
  file_offset: string;
}

/** the process label columns, added to tables from before them (no DEFAULT: the rollups' sorting key
 *  takes them in the same statement, which ClickHouse allows only for columns without one) */
const PROCESS_COLUMNS_ADD = `ADD COLUMN IF NOT EXISTS pid UInt32, ADD COLUMN IF NOT EXISTS exe LowCardinality(String), ADD COLUMN IF NOT EXISTS cmdline String`;

/* "Stack stored once, samples by reference" (as in Coroot's and miHoYo's ClickHouse profiling designs):
 * a sample row is (window, app, container, stack id, count); each distinct stack and mapping is a row
 * of its own, de-duplicated by ReplacingMergeTree and kept alive by last_seen. */
export const PROFILE_SAMPLES = defineTable(
  'profile_samples',
  {
    ts: 'DateTime',
    window_seconds: 'UInt32',
    host: 'LowCardinality(String)',
    app: 'LowCardinality(String)',
    container_id: 'String',
    stack_id: 'UInt64',
    samples: 'UInt64',
    period_ns: 'UInt64',
    // process labels (README "Process labels"); rows from before them read 0 and ''
    pid: 'UInt32',
    exe: 'LowCardinality(String)',
    cmdline: 'String',
  },
  (days) => `ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (app, ts, stack_id) TTL ts + INTERVAL ${days} DAY DELETE`,
  [`ALTER TABLE profile_samples ${PROCESS_COLUMNS_ADD}`],
);
export const PROFILE_STACKS = defineTable(
  'profile_stacks',
  { stack_id: 'UInt64', functions: 'Array(String)', addresses: 'Array(UInt64)', mapping_ids: 'Array(UInt64)', last_seen: 'DateTime' },
  (days) => `ENGINE = ReplacingMergeTree(last_seen) ORDER BY stack_id TTL last_seen + INTERVAL ${days} DAY DELETE`,
);
export const PROFILE_MAPPINGS = defineTable(
  'profile_mappings',
  { mapping_id: 'UInt64', file: 'String', build_id: 'String', memory_start: 'UInt64', memory_limit: 'UInt64', file_offset: 'UInt64', last_seen: 'DateTime' },
  (days) => `ENGINE = ReplacingMergeTree(last_seen) ORDER BY mapping_id TTL last_seen + INTERVAL ${days} DAY DELETE`,
);
/* Rollups for long ranges: the samples of every window summed per hour and per day of its start (UTC),
 * filled by materialized views on each insert into profile_samples. A query over a range reads raw
 * windows at its edges, hours where whole hours fit, days where whole days fit (rollupParts): the set of
 * windows is exactly the raw query's, so totals are equal, and 30 days are 30 day rows per stack
 * instead of 43,200 windows. SummingMergeTree folds rows in the background; readers still sum. */
const rollupColumns = {
  ts: 'DateTime',
  app: 'LowCardinality(String)',
  host: 'LowCardinality(String)',
  container_id: 'String',
  stack_id: 'UInt64',
  samples: 'UInt64',
  cpu_ns: 'UInt64',
  pid: 'UInt32',
  exe: 'LowCardinality(String)',
  cmdline: 'String',
};
const ROLLUP_KEY = 'app, ts, stack_id, host, container_id, pid, cmdline, exe';
const rollupEngine = (days: number) => `ENGINE = SummingMergeTree((samples, cpu_ns)) PARTITION BY toYYYYMM(ts) ORDER BY (${ROLLUP_KEY}) TTL ts + INTERVAL ${days} DAY DELETE`;
export const ROLLUP_SECONDS = { profile_samples_1h: 3600, profile_samples_1d: 86400 } as const;
/** the rollup of the samples in `table` (columns qualified by it: `ts` is also the result's name) */
const rollupSelect = (seconds: number, table: string) =>
  `SELECT toDateTime(intDiv(toUInt32(${table}.ts), ${seconds}) * ${seconds}) AS ts, app, host, container_id, stack_id, pid, exe, cmdline,
          sum(${table}.samples) AS samples, sum(${table}.samples * period_ns) AS cpu_ns
   FROM ${table} GROUP BY ts, app, host, container_id, stack_id, pid, exe, cmdline`;
/** A rollup's migrations: the process labels join its columns and its sorting key (so summing keeps
 *  processes apart), and its materialized view is the one that fills them (`_mv2`; the first, `_mv`,
 *  is dropped in the same start, before anything is written). */
const rollupMigrations = (table: string, seconds: number) => [
  `ALTER TABLE ${table} ${PROCESS_COLUMNS_ADD}, MODIFY ORDER BY (${ROLLUP_KEY})`,
  `DROP VIEW IF EXISTS ${table}_mv`,
  rollupView(table, seconds),
];

/** The view that fills a rollup from each insert into the samples. On a cluster (store/cluster.ts) it
 *  lives on every shard, from the shard's own samples into its own rollup (`local` names both). */
export function rollupView(table: string, seconds: number, cluster?: { onCluster?: string; local: (t: string) => string }): string {
  const to = cluster ? cluster.local(table) : table;
  const from = cluster ? cluster.local('profile_samples') : 'profile_samples';
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${table}_mv2${cluster?.onCluster ? ` ON CLUSTER ${cluster.onCluster}` : ''} TO ${to} AS ${rollupSelect(seconds, from)}`;
}
export const PROFILE_SAMPLES_1H = defineTable('profile_samples_1h', rollupColumns, rollupEngine, rollupMigrations('profile_samples_1h', 3600));
export const PROFILE_SAMPLES_1D = defineTable('profile_samples_1d', rollupColumns, rollupEngine, rollupMigrations('profile_samples_1d', 86400));

/** Statements that fill the rollups from windows stored before they existed (a data directory from an
 *  older version): run once at start, before anything is written, and only into an empty rollup. */
export async function backfillRollups(store: Store): Promise<void> {
  for (const [table, seconds] of Object.entries(ROLLUP_SECONDS)) {
    const [empty] = await store.query<{ n: string | number }>(`SELECT count() AS n FROM (SELECT 1 FROM ${table} LIMIT 1)`);
    if (Number(empty.n) > 0) continue;
    await store.exec(`INSERT INTO ${table} (ts, app, host, container_id, stack_id, pid, exe, cmdline, samples, cpu_ns) ${rollupSelect(seconds, 'profile_samples')}`);
  }
}

/** Where each part of a range is read from: raw windows at the edges, hours, days (each [from, to)). */
export interface RollupParts {
  raw: [TimeRange, TimeRange];
  hours: [TimeRange, TimeRange];
  days: TimeRange;
}

export function rollupParts({ from, to }: TimeRange): RollupParts {
  const up = (t: number, s: number) => Math.ceil(t / s) * s;
  const down = (t: number, s: number) => Math.floor(t / s) * s;
  const none = { from: 0, to: 0 };
  const h0 = up(from, 3600);
  const h1 = down(to, 3600);
  if (h0 >= h1) return { raw: [{ from, to }, none], hours: [none, none], days: none };
  const d0 = up(h0, 86400);
  const d1 = down(h1, 86400);
  const raw: [TimeRange, TimeRange] = [
    { from, to: h0 },
    { from: h1, to },
  ];
  if (d0 >= d1) return { raw, hours: [{ from: h0, to: h1 }, none], days: none };
  return { raw, hours: [{ from: h0, to: d0 }, { from: d1, to: h1 }], days: { from: d0, to: d1 } };
}

/** A range split over the raw windows and the rollups (rollupParts) as SQL conditions on `ts`, with
 *  their parameters: `raw` (two pieces), `hours` (two pieces), `days` (one). */
function rollupConditions(range: TimeRange): { raw: string; hours: string; days: string; params: Record<string, number> } {
  const p = rollupParts(range);
  const r = (name: string, i: number) => `(ts >= toDateTime({${name}${i}f:Int64}) AND ts < toDateTime({${name}${i}t:Int64}))`;
  const params: Record<string, number> = {};
  p.raw.forEach((x, i) => Object.assign(params, { [`r${i}f`]: x.from, [`r${i}t`]: x.to }));
  p.hours.forEach((x, i) => Object.assign(params, { [`h${i}f`]: x.from, [`h${i}t`]: x.to }));
  Object.assign(params, { d0f: p.days.from, d0t: p.days.to });
  return { raw: `(${r('r', 0)} OR ${r('r', 1)})`, hours: `(${r('h', 0)} OR ${r('h', 1)})`, days: r('d', 0), params };
}

/** CPU time (ns) per application over the range, from the raw windows and (unless `rollups` is false)
 *  the hourly and daily rollups. Also what the run-queue rows divide their delay by. */
export async function cpuByApp(store: Store, range: TimeRange, rollups = true): Promise<Map<string, number>> {
  const c = rollupConditions(range);
  const sql = rollups
    ? `SELECT app, sum(ns) AS ns FROM (
        SELECT app, samples * period_ns AS ns FROM profile_samples WHERE ${c.raw}
        UNION ALL SELECT app, cpu_ns AS ns FROM profile_samples_1h WHERE ${c.hours}
        UNION ALL SELECT app, cpu_ns AS ns FROM profile_samples_1d WHERE ${c.days}
      ) GROUP BY app`
    : `SELECT app, sum(samples * period_ns) AS ns FROM profile_samples WHERE ${RANGE_SQL} GROUP BY app`;
  const rows = await store.query<{ app: string; ns: string | number }>(sql, rollups ? c.params : { ...range });
  return new Map(rows.map((x) => [x.app, Number(x.ns)]));
}

/** which applications had a window, for the app list */
export const APP_WINDOWS = defineTable(
  'app_windows',
  { ts: 'DateTime', window_seconds: 'UInt32', host: 'LowCardinality(String)', app: 'LowCardinality(String)', container_id: 'String', source: 'LowCardinality(String)' },
  (days) => `ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (app, ts) TTL ts + INTERVAL ${days} DAY DELETE`,
);

export class ProfileRepository {
  /** stacks/mappings stored recently: not written again until an hour has passed (keeps last_seen fresh
   *  for the TTL). An id enters only after its insert succeeded, so a failed write sends it again. */
  readonly #written = new LRUCache<string, number>({ max: 200_000, ttl: 3600_000 });

  /** `rollups: false` reads raw windows only (tests compare the two) */
  constructor(
    readonly store: Store,
    private readonly opts: { rollups?: boolean } = {},
  ) {}

  async writeWindow(w: ProfileWindow, source = 'profiler'): Promise<{ samples: number; stacks: number; mappings: number }> {
    const inserts = this.prepareWindow(w, source);
    await runInserts(this.store, inserts);
    const n = (t: string) => inserts.find((i) => i.table === t)?.rows.length ?? 0;
    return { samples: n('profile_samples'), stacks: n('profile_stacks'), mappings: n('profile_mappings') };
  }

  /**
   * The window's rows in the order they must be stored (mappings and stacks before the samples that
   * refer to them). Stacks and mappings not stored yet are included, whatever earlier windows still
   * queued carry: each is marked stored only when its own insert succeeds.
   */
  prepareWindow(w: ProfileWindow, source = 'profiler'): TableInsert[] {
    const lastSeen = w.start + w.seconds;
    const mappingRows: RowOf<typeof PROFILE_MAPPINGS.columns>[] = [];
    const stackRows: RowOf<typeof PROFILE_STACKS.columns>[] = [];
    const sampleRows: RowOf<typeof PROFILE_SAMPLES.columns>[] = [];
    const appRows: RowOf<typeof APP_WINDOWS.columns>[] = [];
    const egressRows: RowOf<typeof EGRESS_SAMPLES.columns>[] = [];
    const mappingIds = new Map<MappingDesc, string>();
    const stackIds = new Set<string>();
    const mappingSeen = new Set<string>();
    const midOf = (m: MappingDesc): string => {
      let id = mappingIds.get(m);
      if (id === undefined) {
        id = mappingId(m);
        mappingIds.set(m, id);
        if (!this.#written.has(`m${id}`) && !mappingSeen.has(id)) {
          mappingSeen.add(id);
          mappingRows.push({
            mapping_id: id,
            file: m.file,
            build_id: m.buildId,
            memory_start: m.start.toString(),
            memory_limit: m.limit.toString(),
            file_offset: m.offset.toString(),
            last_seen: lastSeen,
          });
        }
      }
      return id;
    };
    const sidOf = (frames: Frame[]): string => {
      const mids = frames.map((f) => midOf(f.mapping));
      const sid = stackId(frames, mids);
      if (!this.#written.has(`s${sid}`) && !stackIds.has(sid)) {
        stackIds.add(sid);
        stackRows.push({
          stack_id: sid,
          functions: frames.map((f) => f.name),
          addresses: frames.map((f) => f.address.toString()),
          mapping_ids: mids,
          last_seen: lastSeen,
        });
      }
      return sid;
    };
    for (const a of w.apps) {
      appRows.push({ ts: w.start, window_seconds: w.seconds, host: w.host, app: a.app, container_id: a.containerId, source });
      for (const s of a.stacks) {
        const sid = sidOf(s.frames);
        sampleRows.push({
          ts: w.start,
          window_seconds: w.seconds,
          host: w.host,
          app: a.app,
          container_id: a.containerId,
          stack_id: sid,
          samples: s.count,
          period_ns: w.periodNs,
          pid: a.pid ?? 0,
          exe: a.exe ?? '',
          cmdline: a.cmdline ?? '',
        });
      }
    }
    for (const p of w.egress?.profiles ?? []) {
      for (const s of p.stacks) {
        egressRows.push({
          ts: w.start,
          window_seconds: w.seconds,
          host: w.host,
          app: p.app,
          container_id: p.containerId,
          pid: p.pid,
          exe: p.exe,
          cmdline: p.cmdline,
          peer_address: p.peerAddress,
          peer_port: p.peerPort,
          stack_id: sidOf(s.frames),
          points: s.count,
          bytes_per_point: w.egress!.bytesPerSample,
        });
      }
    }
    const mark = (prefix: string, rows: Record<string, unknown>[], key: string) => () => {
      for (const r of rows) this.#written.set(`${prefix}${r[key] as string}`, lastSeen);
    };
    // referenced rows first, so a reader never sees a sample whose stack is missing
    return [
      { table: PROFILE_MAPPINGS.name, rows: mappingRows, done: mark('m', mappingRows, 'mapping_id') },
      { table: PROFILE_STACKS.name, rows: stackRows, done: mark('s', stackRows, 'stack_id') },
      { table: PROFILE_SAMPLES.name, rows: sampleRows },
      { table: APP_WINDOWS.name, rows: appRows },
      ...(egressRows.length ? [{ table: EGRESS_SAMPLES.name, rows: egressRows }] : []),
    ];
  }

  /** Applications seen in the range, the most CPU first (then by name). */
  async apps(range: TimeRange): Promise<AppRow[]> {
    const [rows, cpu] = await Promise.all([
      this.store.query<{ app: string; containers: string[]; hosts: string[]; first_seen: string; last_seen: string }>(
        `SELECT app, groupUniqArrayIf(8)(container_id, container_id != '') AS containers, groupUniqArray(8)(host) AS hosts,
                min(ts) AS first_seen, max(ts + window_seconds) AS last_seen
         FROM app_windows WHERE ${RANGE_SQL} GROUP BY app ORDER BY app`,
        { ...range },
      ),
      this.cpuByApp(range),
    ]);
    const cpuOf = (app: string) => Math.round((cpu.get(app) ?? 0) / 1e6) / 1e3;
    rows.sort((a, b) => cpuOf(b.app) - cpuOf(a.app) || (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
    return rows.map((r) => ({
      cpu_seconds: cpuOf(r.app),
      app: r.app,
      ...(r.containers.length === 1 ? { container_id: r.containers[0] } : {}),
      ...(r.containers.length > 1 ? { container_ids: r.containers } : {}),
      host: r.hosts.sort().join(','),
      first_seen: rfc3339(r.first_seen),
      last_seen: rfc3339(r.last_seen),
    }));
  }

  appExists(app: string): Promise<boolean> {
    return appExists(this.store, APP_WINDOWS, app);
  }

  /** CPU time (ns) per application over the range, from the windows and their rollups. */
  cpuByApp(range: TimeRange): Promise<Map<string, number>> {
    return cpuByApp(this.store, range, this.opts.rollups !== false);
  }

  /** An application's CPU over the range, in cores per step (for the chart a range is dragged on). */
  async cpuSeries(app: string, range: TimeRange, step: number, filter: ProcessFilter = {}): Promise<CpuSeries> {
    const [w] = await this.store.query<{ w: string | number }>(`SELECT max(window_seconds) AS w FROM app_windows WHERE app = {app:String} AND ${RANGE_SQL}`, { app, ...range });
    // a window's samples are filed at its start: a step shorter than the window would make spikes
    // and at most 2,000 points, whatever the range
    const s = Math.max(1, Math.ceil(step), Number(w?.w ?? 0), Math.ceil((range.to - range.from) / 2000));
    const table = s >= 3600 && this.opts.rollups !== false ? 'profile_samples_1h' : 'profile_samples';
    const ns = table === 'profile_samples' ? 'samples * period_ns' : 'cpu_ns';
    const f = processFilterSql(filter);
    const rows = await this.store.query<{ t: string | number; ns: string | number }>(
      `SELECT intDiv(toUnixTimestamp(ts), {s:UInt32}) * {s:UInt32} AS t, sum(${ns}) AS ns
       FROM ${table} WHERE app = {app:String} AND ${RANGE_SQL}${f.sql} GROUP BY t ORDER BY t`,
      { app, s, ...range, ...f.params },
    );
    const got = new Map(rows.map((x) => [Number(x.t), Number(x.ns)]));
    const points: CpuSeries['points'] = [];
    for (let t = Math.floor(range.from / s) * s; t < range.to; t += s) points.push({ t, cores: Math.round(((got.get(t) ?? 0) / 1e9 / s) * 1e6) / 1e6 });
    return { step: s, points };
  }

  /** The stack ids and their totals over a range, with the parameters the SQL needs. */
  /** `by` adds columns to the grouping (the process labels, for pprof's sample labels). */
  #aggSql(range: TimeRange, filter: ProcessFilter = {}, by = ''): { sql: string; params: Record<string, string | number> } {
    const f = processFilterSql(filter);
    const keys = `stack_id${by ? `, ${by}` : ''}`;
    if (this.opts.rollups === false) {
      return {
        sql: `SELECT ${keys}, sum(samples) AS n, sum(samples * period_ns) AS ns
              FROM profile_samples WHERE app = {app:String} AND ${RANGE_SQL}${f.sql} GROUP BY ${keys}`,
        params: { ...range, ...f.params },
      };
    }
    const c = rollupConditions(range);
    return {
      sql: `SELECT ${keys}, sum(n) AS n, sum(ns) AS ns FROM (
          SELECT ${keys}, samples AS n, samples * period_ns AS ns FROM profile_samples
          WHERE app = {app:String} AND ${c.raw}${f.sql}
          UNION ALL
          SELECT ${keys}, samples AS n, cpu_ns AS ns FROM profile_samples_1h
          WHERE app = {app:String} AND ${c.hours}${f.sql}
          UNION ALL
          SELECT ${keys}, samples AS n, cpu_ns AS ns FROM profile_samples_1d
          WHERE app = {app:String} AND ${c.days}${f.sql}
        ) GROUP BY ${keys}`,
      params: { ...c.params, ...f.params },
    };
  }

  /** An application's processes over the range (their labels), the most CPU first; at most `limit`. */
  async processes(app: string, range: TimeRange, limit = 500): Promise<ProcessRow[]> {
    const labels = 'host, container_id, pid, exe, cmdline';
    const c = rollupConditions(range);
    const sql =
      this.opts.rollups === false
        ? `SELECT ${labels}, sum(samples) AS n, sum(samples * period_ns) AS ns FROM profile_samples
           WHERE app = {app:String} AND ${RANGE_SQL} GROUP BY ${labels}`
        : `SELECT ${labels}, sum(n) AS n, sum(ns) AS ns FROM (
             SELECT ${labels}, samples AS n, samples * period_ns AS ns FROM profile_samples WHERE app = {app:String} AND ${c.raw}
             UNION ALL SELECT ${labels}, samples AS n, cpu_ns AS ns FROM profile_samples_1h WHERE app = {app:String} AND ${c.hours}
             UNION ALL SELECT ${labels}, samples AS n, cpu_ns AS ns FROM profile_samples_1d WHERE app = {app:String} AND ${c.days}
           ) GROUP BY ${labels}`;
    const rows = await this.store.query<{ host: string; container_id: string; pid: number | string; exe: string; cmdline: string; n: string | number; ns: string | number }>(
      `${sql} ORDER BY ns DESC, pid LIMIT {limit:UInt32}`,
      { app, limit, ...(this.opts.rollups === false ? range : c.params) },
    );
    return rows.map((r) => ({
      host: r.host,
      container_id: r.container_id,
      pid: Number(r.pid),
      exe: r.exe,
      cmdline: r.cmdline,
      cpu_seconds: Math.round(Number(r.ns) / 1e6) / 1e3,
      samples: Number(r.n),
    }));
  }

  #stacksSql(columns: string, agg: string, by = ''): string {
    return `WITH agg AS (${agg})
      SELECT ${columns},${by ? ` ${by.split(', ').map((c) => `agg.${c} AS ${c}`).join(', ')},` : ''} agg.n AS samples, agg.ns AS cpu_ns
      FROM agg INNER JOIN (
        -- GLOBAL: on a cluster (store/cluster.ts) the ids are gathered once and sent to every shard
        SELECT stack_id, ${columns.replace(/s\./g, '')} FROM profile_stacks
        WHERE stack_id GLOBAL IN (SELECT stack_id FROM agg) LIMIT 1 BY stack_id
      ) AS s ON s.stack_id = agg.stack_id`;
  }

  /** Stacks (root first) with their sample counts, for flamegraphs. */
  async stacks(app: string, range: TimeRange, filter: ProcessFilter = {}): Promise<StackRow[]> {
    const agg = this.#aggSql(range, filter);
    const rows = await this.store.query<{ functions: string[]; samples: string | number; cpu_ns: string | number }>(this.#stacksSql('s.functions', agg.sql), { app, ...agg.params });
    return rows.map((r) => ({ functions: r.functions, samples: Number(r.samples), cpu_ns: Number(r.cpu_ns) }));
  }

  /** Stacks with addresses and mappings, for pprof. */
  async pprofStacks(app: string, range: TimeRange, filter: ProcessFilter = {}): Promise<{ stacks: PprofStackRow[]; mappings: MappingRow[] }> {
    // a sample per stack and process: pprof's sample labels (go tool pprof -tagfocus pid=…)
    const by = 'host, container_id, pid, cmdline';
    const agg = this.#aggSql(range, filter, by);
    const rows = await this.store.query<{ functions: string[]; addresses: string[]; mapping_ids: string[]; samples: string | number; cpu_ns: string | number; host: string; container_id: string; pid: number | string; cmdline: string }>(
      this.#stacksSql('s.functions, s.addresses, s.mapping_ids', agg.sql, by),
      { app, ...agg.params },
    );
    const stacks = rows.map((r) => ({ ...r, pid: Number(r.pid), samples: Number(r.samples), cpu_ns: Number(r.cpu_ns) }));
    return { stacks, mappings: await this.#mappingsOf(stacks) };
  }

  async #mappingsOf(stacks: { mapping_ids: string[] }[]): Promise<MappingRow[]> {
    const ids = [...new Set(stacks.flatMap((s) => s.mapping_ids))];
    if (ids.length === 0) return [];
    return this.store.query<MappingRow>(
      `SELECT mapping_id, file, build_id, memory_start, memory_limit, file_offset FROM profile_mappings
       WHERE mapping_id IN {ids:Array(UInt64)} LIMIT 1 BY mapping_id`,
      { ids: ids.map((x) => BigInt(x)) },
    );
  }

  /** An application's egress stacks over a range (ARCHITECTURE.md, "Egress stacks"): per stack, process
   *  and peer, the sample points and the bytes they estimate (points × bytes per point), with addresses
   *  and mappings for pprof. Scaling to exact bytes and pricing happen in netcost/egress-cost.ts. */
  async egressStacks(app: string, range: TimeRange): Promise<{ stacks: EgressStackRow[]; mappings: MappingRow[] }> {
    const by = 'host, container_id, pid, exe, cmdline, peer_address, peer_port';
    const agg = `SELECT stack_id, ${by}, sum(points) AS n, sum(points * bytes_per_point) AS ns
                 FROM egress_samples WHERE app = {app:String} AND ${RANGE_SQL} GROUP BY stack_id, ${by}`;
    const rows = await this.store.query<Record<string, unknown> & { functions: string[]; addresses: string[]; mapping_ids: string[] }>(
      this.#stacksSql('s.functions, s.addresses, s.mapping_ids', agg, by),
      { app, ...range },
    );
    const stacks = rows.map((r) => ({
      functions: r.functions,
      addresses: r.addresses,
      mapping_ids: r.mapping_ids,
      host: String(r.host),
      container_id: String(r.container_id),
      pid: Number(r.pid),
      exe: String(r.exe),
      cmdline: String(r.cmdline),
      peer_address: String(r.peer_address),
      peer_port: Number(r.peer_port),
      points: Number(r.samples),
      estimated_bytes: Number(r.cpu_ns),
    }));
    return { stacks, mappings: await this.#mappingsOf(stacks) };
  }
}
