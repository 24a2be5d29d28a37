/* The schema: every table module's DDL and migrations, in one list applied at start (ARCHITECTURE.md
 * "Store"). Every table has the retention TTL. */
import { COLLECTOR_LOSSES } from './tables/collector-losses.js';
import { DNS_WINDOWS } from './tables/dns-windows.js';
import { NET_FLOWS } from './tables/net-flows.js';
import { APP_WINDOWS, PROFILE_MAPPINGS, PROFILE_SAMPLES, PROFILE_SAMPLES_1D, PROFILE_SAMPLES_1H, PROFILE_STACKS, backfillRollups } from './tables/profiles.js';
import type { Store } from './store.js';
import { defineTable } from './sql.js';
import { clusterStatements, type ClusterOptions } from './cluster.js';
import { RUNQ_WINDOWS } from './tables/runq-windows.js';
import { FLEET_HOSTS, INGEST_LEDGER } from './tables/ingest.js';
import { EGRESS_SAMPLES } from './tables/egress-samples.js';

export interface SchemaOptions {
  retentionDays: number;
}

export const TABLES = [PROFILE_SAMPLES, PROFILE_SAMPLES_1H, PROFILE_SAMPLES_1D, PROFILE_STACKS, PROFILE_MAPPINGS, APP_WINDOWS, EGRESS_SAMPLES, RUNQ_WINDOWS, NET_FLOWS, DNS_WINDOWS, COLLECTOR_LOSSES, INGEST_LEDGER, FLEET_HOSTS];

export function schemaStatements({ retentionDays }: SchemaOptions): string[] {
  return TABLES.flatMap((t) => t.ddl(retentionDays));
}

/**
 * The schema's versions, each what it added (README "Schema versions"). Every table's DDL and migrations
 * are idempotent and all run at each start; the version is what a data directory records it was
 * brought to, so a Kiln older than its data refuses it instead of writing rows its tables do not fit.
 */
export const SCHEMA_VERSIONS = [
  { version: 1, what: 'profiles (stacks and mappings by reference, hourly and daily rollups), run queue, network flows, DNS, losses, ingest ledger, fleet hosts' },
  { version: 2, what: "DNS 'unreachable' (ICMP port unreachable) column" },
  { version: 3, what: 'process labels (pid, exe, cmdline) on profile samples and rollups; rollup views _mv2' },
  { version: 4, what: 'egress stacks (egress_samples: sample points per window, process, peer and stack)' },
] as const;
export const SCHEMA_VERSION = SCHEMA_VERSIONS[SCHEMA_VERSIONS.length - 1].version;

/** which versions a store was brought to, when, and by which Kiln */
export const KILN_SCHEMA = defineTable('kiln_schema', { version: 'UInt32', applied_at: 'DateTime', kiln: 'String' }, () => 'ENGINE = MergeTree ORDER BY version');

/** A data directory (or ClickHouse database) written by a newer Kiln than this one. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly found: number,
    readonly known: number,
    readonly writtenBy: string,
  ) {
    super(
      `the store's schema is version ${found} (written by kiln ${writtenBy || 'of a newer version'}), newer than the version ${known} this kiln knows: run that kiln or a newer one, or use another --data-dir`,
    );
  }
}

/** The version the store was brought to (0: none recorded, a new store or one from before versions). */
export async function storedSchemaVersion(store: Store, create = true): Promise<{ version: number; kiln: string }> {
  if (create) for (const sql of KILN_SCHEMA.ddl(1)) await store.exec(sql);
  const [row] = await store.query<{ version: number | string; kiln: string }>(`SELECT version, kiln FROM kiln_schema ORDER BY version DESC LIMIT 1`);
  return { version: Number(row?.version ?? 0), kiln: row?.kiln ?? '' };
}

/** Creates or upgrades the schema, then fills rollups an older version did not keep, and records the
 *  version. Refuses (SchemaTooNewError) a store a newer Kiln wrote. Run before anything is written. */
export async function applySchema(store: Store, opts: SchemaOptions & { kilnVersion?: string; cluster?: ClusterOptions }): Promise<{ from: number; to: number }> {
  // on a cluster the version table is one of the layout's (Distributed over its shards)
  if (opts.cluster) for (const sql of clusterStatements([KILN_SCHEMA], opts.cluster, opts.retentionDays)) await store.exec(sql);
  const stored = await storedSchemaVersion(store, !opts.cluster);
  if (stored.version > SCHEMA_VERSION) throw new SchemaTooNewError(stored.version, SCHEMA_VERSION, stored.kiln);
  const statements = opts.cluster ? clusterStatements(TABLES, opts.cluster, opts.retentionDays) : schemaStatements(opts);
  for (const sql of statements) await store.exec(sql);
  // a cluster layout is new in this version: it has no windows from before the rollups
  if (!opts.cluster) await backfillRollups(store);
  if (stored.version < SCHEMA_VERSION) {
    await store.insert('kiln_schema', [{ version: SCHEMA_VERSION, applied_at: Math.floor(Date.now() / 1000), kiln: opts.kilnVersion ?? '' }]);
  }
  return { from: stored.version, to: SCHEMA_VERSION };
}
