/* A ClickHouse server (or cluster) through @clickhouse/client over HTTP(S): the same SQL text as the
 * embedded engine (store/store.ts), with every setting the answers depend on sent explicitly rather
 * than left to the server's defaults (README "ClickHouse server"). */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { StoreError, type InsertOptions, type QueryParams, type Store } from '../store.js';
import { insertSettings } from './chdb.js';
import { parseClickHouseUrl } from '../clickhouse-url.js';

export { parseClickHouseUrl };

export interface ClickHouseStoreOptions {
  /** http(s)://[user[:password]@]host:port[/database] */
  url: string;
  /** the password, when not in the URL (KILN_CLICKHOUSE_PASSWORD: a URL's shows in `ps`) */
  password?: string;
  /** a query running longer is stopped by the server (max_execution_time); default 30 */
  queryTimeoutSeconds?: number;
  /** for TLS to the server: a CA bundle (PEM) when its certificate is not in the system store */
  caCert?: Buffer;
  /** at most this many requests in flight; default 10 */
  maxOpenConnections?: number;
  /** the tables are the cluster layout's (store/cluster.ts): inserts wait until the shards have them */
  cluster?: string;
}

/** The settings every call sends: what the answers depend on, never the server's defaults. */
export function sessionSettings(queryTimeoutSeconds: number): Record<string, string | number> {
  return {
    // 64-bit integers cross as strings (JSON numbers lose precision past 2^53)
    output_format_json_quote_64bit_integers: 1,
    // DateTime values read and written in UTC, whatever the server's time zone
    session_timezone: 'UTC',
    // an insert is acknowledged when its rows are in the table (and its views), never when buffered
    async_insert: 0,
    wait_for_async_insert: 1,
    max_execution_time: queryTimeoutSeconds,
    // an answer is complete before its status is sent: an error past the first rows is an error
    wait_end_of_query: 1,
  };
}

export class ClickHouseStore implements Store {
  readonly kind = 'clickhouse';
  readonly #client: ClickHouseClient;
  readonly endpoint: string;

  constructor(opts: ClickHouseStoreOptions) {
    const { url, username, password, database } = parseClickHouseUrl(opts.url);
    this.endpoint = database ? `${url}/${database}` : url;
    this.#client = createClient({
      url,
      username: username ?? 'default',
      password: password ?? opts.password ?? '',
      ...(database ? { database } : {}),
      application: 'kiln',
      // failures reach kiln's own log through the errors these calls throw, once, with what failed
      log: { level: ClickHouseLogLevel.OFF },
      request_timeout: ((opts.queryTimeoutSeconds ?? 30) + 30) * 1000,
      max_open_connections: opts.maxOpenConnections ?? 10,
      // answers compressed (profiles are large), inserts sent compressed
      compression: { response: true, request: true },
      clickhouse_settings: { ...sessionSettings(opts.queryTimeoutSeconds ?? 30), ...(opts.cluster ? { distributed_foreground_insert: 1 } : {}) } as never,
      ...(opts.caCert ? { tls: { ca_cert: opts.caCert } } : {}),
    });
  }

  async exec(sql: string, params: QueryParams = {}): Promise<void> {
    try {
      await this.#client.command({ query: sql, query_params: params as Record<string, unknown> });
    } catch (e) {
      throw wrap(e, 'ClickHouse');
    }
  }

  async query<T = Record<string, unknown>>(sql: string, params: QueryParams = {}): Promise<T[]> {
    try {
      const rs = await this.#client.query({ query: sql, query_params: params as Record<string, unknown>, format: 'JSONEachRow' });
      return await rs.json<T>();
    } catch (e) {
      throw wrap(e, 'ClickHouse');
    }
  }

  async insert(table: string, rows: readonly Record<string, unknown>[], opts: InsertOptions = {}): Promise<void> {
    if (rows.length === 0) return;
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(table)) throw new StoreError(`bad table name ${table}`);
    try {
      await this.#client.insert({ table, values: rows as Record<string, unknown>[], format: 'JSONEachRow', clickhouse_settings: insertSettings(opts) as never });
    } catch (e) {
      throw wrap(e, `ClickHouse insert into ${table}`);
    }
  }

  /** Whether the server answers (GET /ping). */
  async ping(): Promise<{ ok: true } | { ok: false; why: string }> {
    const r = await this.#client.ping();
    return r.success ? { ok: true } : { ok: false, why: (r.error as Error).message };
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

function wrap(e: unknown, what: string): StoreError {
  return new StoreError(`${what}: ${(e as Error).message}`, { cause: e });
}
