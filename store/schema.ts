/* The schema: every table module's DDL and migrations, in one list applied at start (ARCHITECTURE.md
 * "Store"). Every table has the retention TTL. */
import { COLLECTOR_LOSSES } from './tables/collector-losses.js';
import { DNS_WINDOWS } from './tables/dns-windows.js';
import { NET_FLOWS } from './tables/net-flows.js';
import { APP_WINDOWS, PROFILE_MAPPINGS, PROFILE_SAMPLES, PROFILE_SAMPLES_1D, PROFILE_SAMPLES_1H, PROFILE_STACKS, backfillRollups } from './tables/profiles.js';
import type { Store } from './store.js';
import { RUNQ_WINDOWS } from './tables/runq-windows.js';
import { FLEET_HOSTS, INGEST_LEDGER } from './tables/ingest.js';

export interface SchemaOptions {
  retentionDays: number;
}

export const TABLES = [PROFILE_SAMPLES, PROFILE_SAMPLES_1H, PROFILE_SAMPLES_1D, PROFILE_STACKS, PROFILE_MAPPINGS, APP_WINDOWS, RUNQ_WINDOWS, NET_FLOWS, DNS_WINDOWS, COLLECTOR_LOSSES, INGEST_LEDGER, FLEET_HOSTS];

export function schemaStatements({ retentionDays }: SchemaOptions): string[] {
  return TABLES.flatMap((t) => t.ddl(retentionDays));
}

/** Creates or upgrades the schema, then fills rollups an older version did not keep. Run before
 *  anything is written. */
export async function applySchema(store: Store, opts: SchemaOptions): Promise<void> {
  for (const sql of schemaStatements(opts)) await store.exec(sql);
  await backfillRollups(store);
}
