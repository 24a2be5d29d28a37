-- The cluster layout for a cluster named kiln, 7 days' retention: what
-- `kiln server --clickhouse-url URL --clickhouse-cluster kiln` creates (store/cluster.ts; regenerate with
-- `node dist/cli.js server --clickhouse-cluster kiln --print-ddl`; store/cluster.test.ts checks it is current).

CREATE TABLE IF NOT EXISTS profile_samples_local ON CLUSTER kiln (
  ts DateTime,
  window_seconds UInt32,
  host LowCardinality(String),
  app LowCardinality(String),
  container_id String,
  stack_id UInt64,
  samples UInt64,
  period_ns UInt64,
  pid UInt32,
  exe LowCardinality(String),
  cmdline String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/profile_samples_local', '{replica}') PARTITION BY toDate(ts) ORDER BY (app, ts, stack_id) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS profile_samples ON CLUSTER kiln AS profile_samples_local ENGINE = Distributed(kiln, currentDatabase(), profile_samples_local, stack_id);

CREATE TABLE IF NOT EXISTS profile_samples_1h_local ON CLUSTER kiln (
  ts DateTime,
  app LowCardinality(String),
  host LowCardinality(String),
  container_id String,
  stack_id UInt64,
  samples UInt64,
  cpu_ns UInt64,
  pid UInt32,
  exe LowCardinality(String),
  cmdline String
) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/profile_samples_1h_local', '{replica}', (samples, cpu_ns)) PARTITION BY toYYYYMM(ts) ORDER BY (app, ts, stack_id, host, container_id, pid, cmdline, exe) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS profile_samples_1h ON CLUSTER kiln AS profile_samples_1h_local ENGINE = Distributed(kiln, currentDatabase(), profile_samples_1h_local, stack_id);

CREATE TABLE IF NOT EXISTS profile_samples_1d_local ON CLUSTER kiln (
  ts DateTime,
  app LowCardinality(String),
  host LowCardinality(String),
  container_id String,
  stack_id UInt64,
  samples UInt64,
  cpu_ns UInt64,
  pid UInt32,
  exe LowCardinality(String),
  cmdline String
) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/profile_samples_1d_local', '{replica}', (samples, cpu_ns)) PARTITION BY toYYYYMM(ts) ORDER BY (app, ts, stack_id, host, container_id, pid, cmdline, exe) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS profile_samples_1d ON CLUSTER kiln AS profile_samples_1d_local ENGINE = Distributed(kiln, currentDatabase(), profile_samples_1d_local, stack_id);

CREATE TABLE IF NOT EXISTS profile_stacks_local ON CLUSTER kiln (
  stack_id UInt64,
  functions Array(String),
  addresses Array(UInt64),
  mapping_ids Array(UInt64),
  last_seen DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/profile_stacks_local', '{replica}', last_seen) ORDER BY stack_id TTL last_seen + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS profile_stacks ON CLUSTER kiln AS profile_stacks_local ENGINE = Distributed(kiln, currentDatabase(), profile_stacks_local, stack_id);

CREATE TABLE IF NOT EXISTS profile_mappings_local ON CLUSTER kiln (
  mapping_id UInt64,
  file String,
  build_id String,
  memory_start UInt64,
  memory_limit UInt64,
  file_offset UInt64,
  last_seen DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/profile_mappings_local', '{replica}', last_seen) ORDER BY mapping_id TTL last_seen + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS profile_mappings ON CLUSTER kiln AS profile_mappings_local ENGINE = Distributed(kiln, currentDatabase(), profile_mappings_local, mapping_id);

CREATE TABLE IF NOT EXISTS app_windows_local ON CLUSTER kiln (
  ts DateTime,
  window_seconds UInt32,
  host LowCardinality(String),
  app LowCardinality(String),
  container_id String,
  source LowCardinality(String)
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/app_windows_local', '{replica}') PARTITION BY toDate(ts) ORDER BY (app, ts) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS app_windows ON CLUSTER kiln AS app_windows_local ENGINE = Distributed(kiln, currentDatabase(), app_windows_local, cityHash64(host));

CREATE TABLE IF NOT EXISTS egress_samples_local ON CLUSTER kiln (
  ts DateTime,
  window_seconds UInt32,
  host LowCardinality(String),
  app LowCardinality(String),
  container_id String,
  pid UInt32,
  exe LowCardinality(String),
  cmdline String,
  peer_address String,
  peer_port UInt16,
  stack_id UInt64,
  points UInt64,
  bytes_per_point Float64
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/egress_samples_local', '{replica}') PARTITION BY toDate(ts) ORDER BY (app, ts, stack_id) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS egress_samples ON CLUSTER kiln AS egress_samples_local ENGINE = Distributed(kiln, currentDatabase(), egress_samples_local, stack_id);

CREATE TABLE IF NOT EXISTS runq_windows_local ON CLUSTER kiln (
  ts DateTime,
  window_seconds UInt32,
  host LowCardinality(String),
  app LowCardinality(String),
  container_id String,
  cgroup_id UInt64,
  cgroup_path String,
  slots Array(UInt64),
  total_ns UInt64,
  waits UInt64
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/runq_windows_local', '{replica}') PARTITION BY toDate(ts) ORDER BY (app, ts) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS runq_windows ON CLUSTER kiln AS runq_windows_local ENGINE = Distributed(kiln, currentDatabase(), runq_windows_local, cityHash64(host));

CREATE TABLE IF NOT EXISTS net_flows_local ON CLUSTER kiln (
  ts DateTime,
  window_seconds UInt32,
  host LowCardinality(String),
  app LowCardinality(String),
  container_id String,
  direction LowCardinality(String),
  local_address String,
  peer_address String,
  port UInt16,
  peer_app LowCardinality(String),
  class LowCardinality(String),
  local_zone LowCardinality(String),
  peer_zone LowCardinality(String),
  region LowCardinality(String),
  bytes_sent UInt64,
  bytes_received UInt64,
  retransmits UInt64,
  connections UInt64,
  failed_connects UInt64,
  via_nat UInt8 DEFAULT 0
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/net_flows_local', '{replica}') PARTITION BY toYYYYMM(ts) ORDER BY (app, ts) TTL ts + INTERVAL 62 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS net_flows ON CLUSTER kiln AS net_flows_local ENGINE = Distributed(kiln, currentDatabase(), net_flows_local, cityHash64(host));

CREATE TABLE IF NOT EXISTS dns_windows_local ON CLUSTER kiln (
  ts DateTime,
  window_seconds UInt32,
  host LowCardinality(String),
  app LowCardinality(String),
  container_id String,
  domain String,
  qtype LowCardinality(String),
  requests UInt64,
  noerror UInt64,
  nxdomain UInt64,
  servfail UInt64,
  refused UInt64,
  other_errors UInt64,
  no_answer UInt64,
  timeouts UInt64,
  unreachable UInt64,
  latency_keys Array(Int32),
  latency_counts Array(UInt64),
  latency_sum_ms Float64,
  nameservers Array(String),
  transports Array(LowCardinality(String))
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/dns_windows_local', '{replica}') PARTITION BY toDate(ts) ORDER BY (app, domain, ts) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS dns_windows ON CLUSTER kiln AS dns_windows_local ENGINE = Distributed(kiln, currentDatabase(), dns_windows_local, cityHash64(host));

CREATE TABLE IF NOT EXISTS collector_losses_local ON CLUSTER kiln (
  ts DateTime,
  window_seconds UInt32,
  host LowCardinality(String),
  collector LowCardinality(String),
  reason LowCardinality(String),
  count UInt64
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/collector_losses_local', '{replica}') PARTITION BY toDate(ts) ORDER BY (collector, ts) TTL ts + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS collector_losses ON CLUSTER kiln AS collector_losses_local ENGINE = Distributed(kiln, currentDatabase(), collector_losses_local, cityHash64(host));

CREATE TABLE IF NOT EXISTS ingest_ledger_local ON CLUSTER kiln (
  agent_id String,
  sequence UInt64,
  host LowCardinality(String),
  group_id String,
  rows UInt64,
  received DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/ingest_ledger_local', '{replica}') ORDER BY (agent_id, sequence) TTL received + INTERVAL 30 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS ingest_ledger ON CLUSTER kiln AS ingest_ledger_local ENGINE = Distributed(kiln, currentDatabase(), ingest_ledger_local, cityHash64(agent_id));

CREATE TABLE IF NOT EXISTS fleet_hosts_local ON CLUSTER kiln (
  host String,
  agent_id String,
  addresses Array(String),
  zone String,
  zone_id String,
  region String,
  provider LowCardinality(String),
  agent_version String,
  last_seen DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/fleet_hosts_local', '{replica}', last_seen) ORDER BY host TTL last_seen + INTERVAL 7 DAY DELETE SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS fleet_hosts ON CLUSTER kiln AS fleet_hosts_local ENGINE = Distributed(kiln, currentDatabase(), fleet_hosts_local, cityHash64(host));

CREATE TABLE IF NOT EXISTS kiln_schema_local ON CLUSTER kiln (
  version UInt32,
  applied_at DateTime,
  kiln String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/kiln_schema_local', '{replica}') ORDER BY version SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS kiln_schema ON CLUSTER kiln AS kiln_schema_local ENGINE = Distributed(kiln, currentDatabase(), kiln_schema_local, version);

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_samples_1h_mv2 ON CLUSTER kiln TO profile_samples_1h_local AS SELECT toDateTime(intDiv(toUInt32(profile_samples_local.ts), 3600) * 3600) AS ts, app, host, container_id, stack_id, pid, exe, cmdline,
          sum(profile_samples_local.samples) AS samples, sum(profile_samples_local.samples * period_ns) AS cpu_ns
   FROM profile_samples_local GROUP BY ts, app, host, container_id, stack_id, pid, exe, cmdline;

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_samples_1d_mv2 ON CLUSTER kiln TO profile_samples_1d_local AS SELECT toDateTime(intDiv(toUInt32(profile_samples_local.ts), 86400) * 86400) AS ts, app, host, container_id, stack_id, pid, exe, cmdline,
          sum(profile_samples_local.samples) AS samples, sum(profile_samples_local.samples * period_ns) AS cpu_ns
   FROM profile_samples_local GROUP BY ts, app, host, container_id, stack_id, pid, exe, cmdline;
