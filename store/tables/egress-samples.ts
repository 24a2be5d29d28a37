/* Egress stacks in the store (ARCHITECTURE.md, "Egress stacks"): sample points per window, process, peer
 * and stack; stacks and mappings are the profiles' own (profile_stacks, profile_mappings). */
import { defineTable } from '../sql.js';

export const EGRESS_SAMPLES = defineTable(
  'egress_samples',
  {
    ts: 'DateTime',
    window_seconds: 'UInt32',
    host: 'LowCardinality(String)',
    app: 'LowCardinality(String)',
    container_id: 'String',
    pid: 'UInt32',
    exe: 'LowCardinality(String)',
    cmdline: 'String',
    peer_address: 'String',
    peer_port: 'UInt16',
    stack_id: 'UInt64',
    points: 'UInt64',
    /** the mean bytes one point stands for (the agent's --egress-bytes-per-sample, as drawn) */
    bytes_per_point: 'Float64',
  },
  (days) => `ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (app, ts, stack_id) TTL ts + INTERVAL ${days} DAY DELETE`,
);
