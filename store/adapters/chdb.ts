/* Embedded ClickHouse (chDB) in this process, persistent in a data directory. Calls run one at a time
 * (the engine session is not safe for overlapping calls), writes before queries: a reader never
 * delays collection's inserts by more than the one query running. Each query is bounded in time by
 * the engine; a call that runs far past that bound anyway (the engine gives no way to interrupt one
 * from outside) is reported while it runs, since every write waits behind it. */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { Session } from 'chdb';
import { StoreError, type InsertOptions, type QueryParams, type Store } from '../store.js';

export interface ChdbStoreOptions {
  /** a query running longer is stopped with TIMEOUT_EXCEEDED (max_execution_time); default 30 */
  queryTimeoutSeconds?: number;
  /** told once per call that has run `stallSeconds` (default: twice the query limit, at least 60 s) */
  onStall?: (what: string, seconds: number) => void;
  stallSeconds?: number;
  /** a server configuration file for the engine (e.g. remote_servers: the cluster layout's tests) */
  configFile?: string;
}

/** What the store is doing (status endpoint). */
export interface ChdbStoreStats {
  /** the call running now and for how long */
  running: { what: string; seconds: number } | null;
  queuedWrites: number;
  queuedReads: number;
  /** calls that ran past the stall bound */
  stalls: number;
}

interface Call {
  what: string;
  fn: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** The insert settings both adapters send (store/store.ts InsertOptions). */
export function insertSettings(opts: InsertOptions): Record<string, string | number> {
  // without a token, a fresh one: the engine would otherwise drop a block equal to a recent one by its
  // hash (insert_deduplicate=0 does not stop that for tables with a deduplication window)
  return { insert_deduplication_token: opts.dedupToken ?? randomUUID(), deduplicate_blocks_in_dependent_materialized_views: 1 };
}

export class ChdbStore implements Store {
  readonly kind = 'chdb';
  readonly queryTimeoutSeconds: number;
  readonly #session: Session;
  readonly #writes: Call[] = [];
  readonly #reads: Call[] = [];
  #busy = false;
  #idle: (() => void)[] = [];
  #closed = false;
  #current: { what: string; since: number; reported: boolean } | null = null;
  #stalls = 0;
  readonly #stallSeconds: number;
  readonly #watch: NodeJS.Timeout | undefined;

  constructor(
    readonly dataDir: string,
    opts: ChdbStoreOptions = {},
  ) {
    mkdirSync(dataDir, { recursive: true });
    this.queryTimeoutSeconds = opts.queryTimeoutSeconds ?? 30;
    this.#stallSeconds = opts.stallSeconds ?? Math.max(60, 2 * this.queryTimeoutSeconds);
    const onStall = opts.onStall;
    if (onStall) {
      this.#watch = setInterval(() => {
        const c = this.#current;
        const seconds = c ? (Date.now() - c.since) / 1000 : 0;
        if (c && !c.reported && seconds >= this.#stallSeconds) {
          c.reported = true;
          this.#stalls++;
          onStall(c.what, seconds);
        }
      }, Math.min(5_000, this.#stallSeconds * 250)).unref();
    }
    this.#session = new Session(dataDir, {
      connectionArgs: [
        ...(opts.configFile ? [`--config-file=${opts.configFile}`] : []),
        // 64-bit ids must survive JSON.parse: quote them, as a ClickHouse server does by default
        '--output_format_json_quote_64bit_integers=1',
        `--max_execution_time=${this.queryTimeoutSeconds}`,
        // engine (server) settings follow `--`. The memory worker re-reads the allocator's statistics
        // every 100 ms by default: 0.26% of a core on an idle host, for memory limits an embedded
        // store this size does not approach; every 5 s it costs 0.01%
        '--',
        '--memory_worker_period_ms=5000',
        // each MergeTree table's background job task looks for merges again 0.1 s after finding none:
        // with Kiln's dozen tables the schedule pools woke ~100 times a second (0.37% of a core idle).
        // An insert still triggers its merge at once; only the idle re-check is slower
        '--background_processing_pool_thread_sleep_seconds_if_nothing_to_do=10',
      ],
    });
  }

  stats(): ChdbStoreStats {
    const c = this.#current;
    return {
      running: c ? { what: c.what, seconds: Math.round((Date.now() - c.since) / 100) / 10 } : null,
      queuedWrites: this.#writes.length,
      queuedReads: this.#reads.length,
      stalls: this.#stalls,
    };
  }

  #serial<T>(what: string, fn: () => Promise<T>, write: boolean): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('store is closed'));
    return new Promise<T>((resolve, reject) => {
      (write ? this.#writes : this.#reads).push({ what, fn, resolve: resolve as (v: unknown) => void, reject });
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#busy) return;
    const call = this.#writes.shift() ?? this.#reads.shift();
    if (!call) {
      for (const f of this.#idle.splice(0)) f();
      return;
    }
    this.#busy = true;
    this.#current = { what: call.what, since: Date.now(), reported: false };
    // the next call starts before this one's caller resumes: what the caller issues next queues behind
    // what was already waiting, and stats() never shows a finished call as running
    const done = () => {
      this.#busy = false;
      this.#current = null;
      this.#pump();
    };
    call.fn().then(
      (v) => {
        done();
        call.resolve(v);
      },
      (e) => {
        done();
        call.reject(e);
      },
    );
  }

  exec(sql: string, params: QueryParams = {}): Promise<void> {
    return this.#serial(brief(sql), async () => {
      try {
        await this.#session.queryBindAsync(sql, params, { format: 'CSV' });
      } catch (e) {
        throw new StoreError(`ClickHouse: ${(e as Error).message}`, { cause: e });
      }
    }, true);
  }

  query<T = Record<string, unknown>>(sql: string, params: QueryParams = {}): Promise<T[]> {
    return this.#serial(brief(sql), async () => {
      let text: string;
      try {
        const r = await this.#session.queryBindAsync(sql, params, { format: 'JSONEachRow' });
        text = r.text();
      } catch (e) {
        throw new StoreError(`ClickHouse: ${(e as Error).message}`, { cause: e });
      }
      const rows: T[] = [];
      let start = 0;
      while (start < text.length) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        if (end > start) rows.push(JSON.parse(text.slice(start, end)) as T);
        start = end + 1;
      }
      return rows;
    }, false);
  }

  insert(table: string, rows: readonly Record<string, unknown>[], opts: InsertOptions = {}): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(table)) return Promise.reject(new StoreError(`bad table name ${table}`));
    const payload = rows.map((r) => JSON.stringify(r)).join('\n');
    return this.#serial(`insert into ${table} (${rows.length} rows)`, async () => {
      try {
        await this.#session.insert({ table, values: payload, format: 'JSONEachRow', settings: insertSettings(opts) });
      } catch (e) {
        throw new StoreError(`ClickHouse insert into ${table}: ${(e as Error).message}`, { cause: e });
      }
    }, true);
  }

  /** Writes already queued still go in; queued reads are refused at once (nobody will wait for
   *  their answers), then the engine is closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#reads.splice(0)) r.reject(new StoreError('store is closed'));
    if (this.#busy || this.#writes.length) await new Promise<void>((r) => this.#idle.push(r));
    clearInterval(this.#watch);
    this.#session.close();
  }
}

/** A statement's first words on one line, for reports about it. */
function brief(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 160 ? `${one.slice(0, 160)}…` : one;
}
