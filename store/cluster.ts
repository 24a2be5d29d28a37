/* The cluster layout (`kiln server --clickhouse-url … --clickhouse-cluster NAME`, README "ClickHouse
 * cluster"): every table of the schema as a Replicated local table on each shard (`<name>_local`, ON
 * CLUSTER, {shard}/{replica} macros) and a Distributed table under the name every query uses, sharded
 * so what is read together lives together: samples, their rollups and their stacks by stack id, mappings
 * by mapping id, per-host tables by host. The rollup views run on each shard, local to local. Reads join
 * across tables with GLOBAL IN (store/tables/profiles.ts), which a single node runs as IN. */
import { DEDUP_WINDOW_INSERTS, type Columns, type TableDef } from './sql.js';
import { ROLLUP_SECONDS, rollupView } from './tables/profiles.js';

export interface ClusterOptions {
  /** the cluster's name in the servers' remote_servers */
  cluster: string;
  /** Replicated engines and ON CLUSTER, as on a real cluster (default). false: plain engines created on
   *  this node only, the one-shard layout the tests run for real on the embedded engine (no Keeper) */
  replicated?: boolean;
}

/** What each table is sharded by: rows read together on one shard. */
export const SHARDING_KEYS: Record<string, string> = {
  profile_samples: 'stack_id',
  profile_samples_1h: 'stack_id',
  profile_samples_1d: 'stack_id',
  profile_stacks: 'stack_id',
  profile_mappings: 'mapping_id',
  egress_samples: 'stack_id',
  app_windows: 'cityHash64(host)',
  runq_windows: 'cityHash64(host)',
  net_flows: 'cityHash64(host)',
  dns_windows: 'cityHash64(host)',
  collector_losses: 'cityHash64(host)',
  ingest_ledger: 'cityHash64(agent_id)',
  fleet_hosts: 'cityHash64(host)',
  kiln_schema: 'version',
};

export const localName = (table: string): string => `${table}_local`;

/** A MergeTree-family ENGINE clause as its Replicated twin, with the table's Keeper path and replica. */
export function replicatedEngine(engine: string, local: string): string {
  const m = /^ENGINE = (\w*?)MergeTree(?:\((.*?)\))? (?=PARTITION BY|ORDER BY)/.exec(engine);
  if (!m) throw new Error(`not a MergeTree engine: ${engine}`);
  const args = [`'/clickhouse/tables/{shard}/{database}/${local}'`, `'{replica}'`, ...(m[2] ? [m[2]] : [])];
  return `ENGINE = Replicated${m[1]}MergeTree(${args.join(', ')}) ${engine.slice(m[0].length)}`;
}

/** Every statement of the cluster layout, in order: local tables, Distributed tables, rollup views. */
export function clusterStatements(tables: readonly TableDef<Columns>[], opts: ClusterOptions, retentionDays: number): string[] {
  const replicated = opts.replicated ?? true;
  const on = replicated ? ` ON CLUSTER ${opts.cluster}` : '';
  const out: string[] = [];
  for (const t of tables) {
    const key = SHARDING_KEYS[t.name];
    if (!key) throw new Error(`no sharding key for ${t.name}`);
    const local = localName(t.name);
    const engine = replicated ? replicatedEngine(t.engine(retentionDays), local) : t.engine(retentionDays);
    const dedup = replicated ? `replicated_deduplication_window = ${DEDUP_WINDOW_INSERTS}` : `non_replicated_deduplication_window = ${DEDUP_WINDOW_INSERTS}`;
    const columns = Object.entries(t.columns)
      .map(([c, type]) => `${c} ${type}`)
      .join(',\n  ');
    out.push(`CREATE TABLE IF NOT EXISTS ${local}${on} (\n  ${columns}\n) ${engine} SETTINGS ${dedup}`);
    out.push(`CREATE TABLE IF NOT EXISTS ${t.name}${on} AS ${local} ENGINE = Distributed(${opts.cluster}, currentDatabase(), ${local}, ${key})`);
  }
  const names = new Set(tables.map((t) => t.name));
  for (const [table, seconds] of Object.entries(ROLLUP_SECONDS)) {
    if (names.has(table)) out.push(rollupView(table, seconds, { onCluster: replicated ? opts.cluster : undefined, local: localName }));
  }
  return out;
}
