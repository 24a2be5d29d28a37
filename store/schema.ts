/* ClickHouse schema. Profiles follow the "stack stored once, samples by reference" layout
 * (as in Coroot's and miHoYo's ClickHouse profiling designs): a sample row is (window, app,
 * container, stack id, count); each distinct stack and mapping is a row of its own,
 * de-duplicated by ReplacingMergeTree and kept alive by last_seen. Everything has a TTL. */

export interface SchemaOptions {
  retentionDays: number;
}

export function schemaStatements({ retentionDays }: SchemaOptions): string[] {
  const days = Math.max(1, Math.floor(retentionDays));
  return [
    `CREATE TABLE IF NOT EXISTS profile_samples (
      ts DateTime,
      window_seconds UInt32,
      host LowCardinality(String),
      app LowCardinality(String),
      container_id String,
      stack_id UInt64,
      samples UInt64,
      period_ns UInt64
    ) ENGINE = MergeTree
    PARTITION BY toDate(ts)
    ORDER BY (app, ts, stack_id)
    TTL ts + INTERVAL ${days} DAY DELETE`,
    `CREATE TABLE IF NOT EXISTS profile_stacks (
      stack_id UInt64,
      functions Array(String),
      addresses Array(UInt64),
      mapping_ids Array(UInt64),
      last_seen DateTime
    ) ENGINE = ReplacingMergeTree(last_seen)
    ORDER BY stack_id
    TTL last_seen + INTERVAL ${days} DAY DELETE`,
    `CREATE TABLE IF NOT EXISTS profile_mappings (
      mapping_id UInt64,
      file String,
      build_id String,
      memory_start UInt64,
      memory_limit UInt64,
      file_offset UInt64,
      last_seen DateTime
    ) ENGINE = ReplacingMergeTree(last_seen)
    ORDER BY mapping_id
    TTL last_seen + INTERVAL ${days} DAY DELETE`,
    `CREATE TABLE IF NOT EXISTS app_windows (
      ts DateTime,
      window_seconds UInt32,
      host LowCardinality(String),
      app LowCardinality(String),
      container_id String,
      source LowCardinality(String)
    ) ENGINE = MergeTree
    PARTITION BY toDate(ts)
    ORDER BY (app, ts)
    TTL ts + INTERVAL ${days} DAY DELETE`,
    `CREATE TABLE IF NOT EXISTS runq_windows (
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
    ) ENGINE = MergeTree
    PARTITION BY toDate(ts)
    ORDER BY (app, ts)
    TTL ts + INTERVAL ${days} DAY DELETE`,
    // network flows per window; kept at least 62 days so the current and the previous month can be
    // reported (tiers need the whole month)
    `CREATE TABLE IF NOT EXISTS net_flows (
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
    ) ENGINE = MergeTree
    PARTITION BY toYYYYMM(ts)
    ORDER BY (app, ts)
    TTL ts + INTERVAL ${Math.max(days, 62)} DAY DELETE`,
    // data directories from before NAT gateway accounting
    `ALTER TABLE net_flows ADD COLUMN IF NOT EXISTS via_nat UInt8 DEFAULT 0`,
    // DNS per window: application × domain × qtype; latency as DDSketch bins (keys, counts), which
    // merge over any range by summing (sumMap)
    `CREATE TABLE IF NOT EXISTS dns_windows (
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
      latency_keys Array(Int32),
      latency_counts Array(UInt64),
      latency_sum_ms Float64,
      nameservers Array(String),
      transports Array(LowCardinality(String))
    ) ENGINE = MergeTree
    PARTITION BY toDate(ts)
    ORDER BY (app, domain, ts)
    TTL ts + INTERVAL ${days} DAY DELETE`,
    // what a collector lost, per window it was noticed in: samples dropped, stacks dropped, windows the
    // store queue dropped; the pages say when a selected range lost data and why
    `CREATE TABLE IF NOT EXISTS collector_losses (
      ts DateTime,
      window_seconds UInt32,
      host LowCardinality(String),
      collector LowCardinality(String),
      reason LowCardinality(String),
      count UInt64
    ) ENGINE = MergeTree
    PARTITION BY toDate(ts)
    ORDER BY (collector, ts)
    TTL ts + INTERVAL ${days} DAY DELETE`,
  ];
}
