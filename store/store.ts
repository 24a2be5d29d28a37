/* The one interface to ClickHouse. Two adapters run the same SQL text: the embedded chDB engine
 * (default, single node) and @clickhouse/client for a ClickHouse server (scale-out). */

export type QueryParams = Record<string, string | number | bigint | boolean | string[] | number[] | bigint[]>;

export interface Store {
  readonly kind: string;
  /** Runs a statement that returns nothing (DDL, ALTER, ...). */
  exec(sql: string, params?: QueryParams): Promise<void>;
  /** Runs a query with {name:Type} parameters; rows as objects (64-bit integers as strings). */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]>;
  /** Inserts rows as JSONEachRow (64-bit integers may be given as strings). */
  insert(table: string, rows: readonly Record<string, unknown>[], opts?: InsertOptions): Promise<void>;
  close(): Promise<void>;
}

export interface InsertOptions {
  /**
   * The insert's identity: inserting again with the same token into the same table (within the
   * tables' DEDUP_WINDOW_INSERTS) stores nothing, the rollups included. Without a token an insert is
   * never deduplicated (two equal windows are two windows).
   */
  dedupToken?: string;
}

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** One table's rows of a window write; `done` runs once they are stored (e.g. to mark stacks written). */
export interface TableInsert {
  table: string;
  rows: Record<string, unknown>[];
  done?: () => void;
  /** see InsertOptions.dedupToken */
  dedupToken?: string;
}

/** Runs a window's inserts in order (referenced rows first), each `done` after its insert succeeded. */
export async function runInserts(store: Store, inserts: TableInsert[]): Promise<void> {
  for (const i of inserts) {
    await store.insert(i.table, i.rows, i.dedupToken === undefined ? undefined : { dedupToken: i.dedupToken });
    i.done?.();
  }
}
