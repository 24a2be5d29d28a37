/* Embedded ClickHouse (chDB) in this process, persistent in a data directory. Queries are run one
 * at a time: the engine session is not safe for overlapping calls. */
import { mkdirSync } from 'node:fs';
import { Session } from 'chdb';
import { StoreError, type QueryParams, type Store } from './store.js';

export class ChdbStore implements Store {
  readonly kind = 'chdb';
  readonly #session: Session;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(readonly dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    // 64-bit ids must survive JSON.parse: quote them, as a ClickHouse server does by default
    this.#session = new Session(dataDir, { connectionArgs: ['--output_format_json_quote_64bit_integers=1'] });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreError('store is closed'));
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  exec(sql: string, params: QueryParams = {}): Promise<void> {
    return this.#serial(async () => {
      try {
        await this.#session.queryBindAsync(sql, params, { format: 'CSV' });
      } catch (e) {
        throw new StoreError(`ClickHouse: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  query<T = Record<string, unknown>>(sql: string, params: QueryParams = {}): Promise<T[]> {
    return this.#serial(async () => {
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
    });
  }

  insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(table)) return Promise.reject(new StoreError(`bad table name ${table}`));
    const payload = rows.map((r) => JSON.stringify(r)).join('\n');
    return this.#serial(async () => {
      try {
        await this.#session.insert({ table, values: payload, format: 'JSONEachRow' });
      } catch (e) {
        throw new StoreError(`ClickHouse insert into ${table}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue;
    this.#closed = true;
    this.#session.close();
  }
}
