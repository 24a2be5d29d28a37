/* The server's own tables (ARCHITECTURE.md "Many hosts"): the ledger of accepted batches, which makes a
 * batch delivered twice (a lost acknowledgement, a replay an hour later) stored once, and the hosts of the
 * fleet as their agents registered them. */
import { defineTable } from '../sql.js';

/** Kept longer than any agent keeps a batch in its spool (--spool-max-age, 24 h by default). */
export const LEDGER_DAYS = 30;

export const INGEST_LEDGER = defineTable(
  'ingest_ledger',
  { agent_id: 'String', sequence: 'UInt64', host: 'LowCardinality(String)', group_id: 'String', rows: 'UInt64', received: 'DateTime' },
  () => `ENGINE = ReplacingMergeTree ORDER BY (agent_id, sequence) TTL received + INTERVAL ${LEDGER_DAYS} DAY DELETE`,
);

export const FLEET_HOSTS = defineTable(
  'fleet_hosts',
  {
    host: 'String',
    agent_id: 'String',
    addresses: 'Array(String)',
    zone: 'String',
    zone_id: 'String',
    region: 'String',
    provider: 'LowCardinality(String)',
    agent_version: 'String',
    last_seen: 'DateTime',
  },
  (days) => `ENGINE = ReplacingMergeTree(last_seen) ORDER BY host TTL last_seen + INTERVAL ${days} DAY DELETE`,
);
