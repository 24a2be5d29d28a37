/* SQL pieces every table module shares (ARCHITECTURE.md "Store"): the time range of a query, the
 * "has this app been seen" probe, and table definitions whose columns are written once: the DDL is
 * generated from them and row mappers are typed by them, so the two cannot drift apart. */
import type { Store } from './store.js';

export interface TimeRange {
  /** unix seconds, inclusive */
  from: number;
  /** unix seconds, exclusive */
  to: number;
}

/** The windows of a TimeRange: those whose start lies in [from, to). */
export const RANGE_SQL = 'ts >= toDateTime({from:Int64}) AND ts < toDateTime({to:Int64})';

export function rfc3339(clickhouseDateTime: string): string {
  return `${clickhouseDateTime.replace(' ', 'T')}Z`;
}

/** Whether `app` has any row in `table` (a name from a table definition, never from a request). */
export async function appExists(store: Store, table: TableDef<{ app: string }>, app: string): Promise<boolean> {
  return (await store.query(`SELECT 1 AS x FROM ${table.name} WHERE app = {app:String} LIMIT 1`, { app })).length > 0;
}

/** Column name → ClickHouse type (with DEFAULT where a migration adds it). */
export type Columns = Record<string, string>;

/** A row of a table: every column, no other key. */
export type RowOf<C extends Columns> = { [K in keyof C]: unknown };

export interface TableDef<C extends Columns> {
  name: string;
  columns: C;
  /** the ENGINE clause (with ORDER BY, TTL, ...) for a retention in days */
  engine(retentionDays: number): string;
  /** the table's migrations (ALTERs, views), as ddl() ends with */
  migrations: string[];
  /** CREATE TABLE IF NOT EXISTS, then migrations for data directories from older versions */
  ddl(retentionDays: number): string[];
}

/** How many recent inserts each table remembers by their deduplication token (or, without one, by their
 *  data's hash when deduplication is asked for): a batch a server stores again within them is dropped by
 *  the engine (ARCHITECTURE.md "Exactly once"). At a server's pace of ~10 group inserts a second this is
 *  ~15 minutes; the ingest ledger covers anything older. */
export const DEDUP_WINDOW_INSERTS = 10_000;

export function defineTable<C extends Columns>(
  name: string,
  columns: C,
  engine: (retentionDays: number) => string,
  /** ALTERs for data directories written by earlier versions (idempotent: IF NOT EXISTS) */
  migrations: string[] = [],
): TableDef<C> & { columns: C } {
  return {
    name,
    columns,
    engine: (days) => engine(Math.max(1, Math.floor(days))),
    migrations,
    ddl: (days) => [
      `CREATE TABLE IF NOT EXISTS ${name} (\n  ${Object.entries(columns)
        .map(([c, t]) => `${c} ${t}`)
        .join(',\n  ')}\n) ${engine(Math.max(1, Math.floor(days)))} SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW_INSERTS}`,
      `ALTER TABLE ${name} MODIFY SETTING non_replicated_deduplication_window = ${DEDUP_WINDOW_INSERTS}`,
      ...migrations,
    ],
  };
}
