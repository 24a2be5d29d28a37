/* The cluster layout (store/cluster.ts) on the embedded engine with a cluster configuration: every
 * statement of the replicated two-shard layout parses (formatQuery); the layout runs for real on a
 * one-shard cluster (Distributed over local tables) and answers every endpoint exactly as the plain
 * schema does; every read query those answers took plans on a two-shard cluster (EXPLAIN), and a
 * cross-table IN without GLOBAL is what that check refuses. No Keeper here: Replicated tables and ON
 * CLUSTER are parsed, not run (README "ClickHouse cluster"). */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { currentSnapshot } from '../netcost/pricing.js';
import type { WindowEnvelope } from '../pipeline/contracts.js';
import { repoRoot, tempDir } from '../testing/testkit.js';
import { createApi } from '../web/api.js';
import { ChdbStore } from './adapters/chdb.js';
import { SHARDING_KEYS, clusterStatements, localName } from './cluster.js';
import { KILN_SCHEMA, TABLES, applySchema } from './schema.js';
import { StoreSink } from './store-sink.js';
import type { QueryParams, Store } from './store.js';
import { DnsRepository } from './tables/dns-windows.js';
import { LossRepository } from './tables/collector-losses.js';
import { NetcostRepository } from './tables/net-flows.js';
import { ProfileRepository } from './tables/profiles.js';
import { RunqRepository } from './tables/runq-windows.js';

const WINDOW = 60;
const BASE = Math.floor(Date.now() / 1000 / 3600) * 3600 - 7200;

/** A store bound to one database of the session (USE before each call; the store runs one call at a time). */
function inDatabase(store: ChdbStore, db: string, reads?: { sql: string; params: QueryParams }[]): Store {
  let chain: Promise<unknown> = Promise.resolve();
  const run = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(async () => {
      await store.exec(`USE ${db}`);
      return fn();
    });
    chain = p.catch(() => undefined);
    return p;
  };
  return {
    kind: `chdb:${db}`,
    exec: (sql, params) => run(() => store.exec(sql, params)),
    query: <T>(sql: string, params: QueryParams = {}) =>
      run(() => {
        reads?.push({ sql, params });
        return store.query<T>(sql, params);
      }),
    insert: (table, rows, opts) => run(() => store.insert(table, rows, opts)),
    close: async () => undefined,
  };
}

function windows(i: number): WindowEnvelope[] {
  const start = BASE + i * WINDOW;
  const exe = { file: '/srv/api/bin/api', buildId: 'ab', start: 0x1000n, limit: 0x9000n, offset: 0x1000n };
  const f = (name: string, a: bigint) => ({ name, mapping: exe, address: a });
  return [
    {
      kind: 'profile',
      start,
      seconds: WINDOW,
      host: `host-${i % 3}`,
      periodNs: 10_000_000,
      truncatedSamples: 0,
      apps: [
        { app: 'api', containerId: '', pid: 100 + (i % 2), exe: exe.file, cmdline: `api --shard ${i % 2}`, stacks: [{ frames: [f('main', 0x1100n), f(`handler_${i % 5}`, 0x1200n + BigInt(i % 5))], count: 3 + i }] },
        { app: 'worker', containerId: 'c'.repeat(64), pid: 200, exe: '/usr/bin/worker', cmdline: 'worker', stacks: [{ frames: [f('main', 0x1100n), f('crunch', 0x1300n)], count: 7 }] },
      ],
    },
    {
      kind: 'netflow',
      start,
      seconds: WINDOW,
      host: `host-${i % 3}`,
      rows: [
        { app: 'api', containerId: '', direction: 'outbound', localAddress: '10.0.0.1', peerAddress: '10.1.0.2', port: 443, peerApp: 'db', class: 'cross-az', viaNat: false, localZone: 'use1-az1', peerZone: 'use1-az2', region: 'us-east-1', bytesSent: 1_000_000 * (i + 1), bytesReceived: 1000, retransmits: 0, connections: 1, failedConnects: 0 },
      ],
    },
    {
      kind: 'dns',
      start,
      seconds: WINDOW,
      host: `host-${i % 3}`,
      folded: 0,
      rows: [{ app: 'api', containerId: '', domain: 'db.internal', qtype: 'A', requests: 4, noerror: 3, nxdomain: 1, servfail: 0, refused: 0, otherErrors: 0, noAnswer: 0, timeouts: 0, unreachable: 0, latency: new Map([[12, 3]]), latencySumMs: 4.5, nameservers: ['10.0.0.53'], transports: ['udp'] }],
    },
    { kind: 'runq', start, seconds: WINDOW, host: `host-${i % 3}`, rows: [{ app: 'api', containerId: '', cgroupId: 1n, cgroupPath: '/api.service', slots: [0, 2, 3, 1], totalNs: 5000, count: 6 }] },
    { kind: 'losses', start, seconds: WINDOW, host: `host-${i % 3}`, rows: [{ collector: 'profiler', reason: 'counts_map_full', count: 1 }] },
  ];
}

/** The answers a user gets, endpoint by endpoint, for comparing the two layouts. */
const PATHS = [
  '/api/v1/apps',
  '/api/v1/processes?app=api',
  '/api/v1/profile/flamegraph?app=api',
  '/api/v1/profile/flamegraph?app=api&pid=101',
  '/api/v1/profile/series?app=api&step=600',
  '/api/v1/profile/changes?app=api&base_from=BASE&base_to=MID',
  '/api/v1/profile/diff?app=api&base_app=worker',
  '/api/v1/runq',
  '/api/v1/dns',
  '/api/v1/netcost?group_by=app',
  '/api/v1/netcost?group_by=peer',
  '/api/v1/netcost/series?step=600',
  '/api/v1/losses',
];

describe('cluster layout', () => {
  let engine: ChdbStore;
  const reads: { sql: string; params: QueryParams }[] = [];

  before(async () => {
    const dir = tempDir('cluster');
    const config = join(dir, 'config.xml');
    // kiln_one: this node alone; kiln_two: this node and a second shard on a loopback address nothing
    // listens on (planning needs its layout, not its answers)
    writeFileSync(
      config,
      `<clickhouse><tcp_port>9000</tcp_port><remote_servers>
         <kiln_one><shard><replica><host>localhost</host><port>9000</port></replica></shard></kiln_one>
         <kiln_two><shard><replica><host>localhost</host><port>9000</port></replica></shard><shard><replica><host>127.0.0.2</host><port>9000</port></replica></shard></kiln_two>
       </remote_servers><macros><shard>01</shard><replica>r1</replica></macros></clickhouse>`,
    );
    engine = new ChdbStore(join(dir, 'data'), { configFile: config });
    for (const db of ['plain', 'one', 'two']) await engine.exec(`CREATE DATABASE IF NOT EXISTS ${db}`);
    // inserts into a Distributed table land before they are acknowledged
    await engine.exec('SET distributed_foreground_insert = 1');
  });

  after(() => engine?.close());

  it('every statement of the replicated two-shard layout parses, with its engines, keys and views', async () => {
    const statements = clusterStatements([...TABLES, KILN_SCHEMA], { cluster: 'kiln_two' }, 30);
    assert.equal(statements.length, 2 * (TABLES.length + 1) + 2);
    for (const sql of statements) {
      const [r] = await engine.query<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q: sql });
      assert.match(r.f, /ON CLUSTER kiln_two/, sql);
    }
    const all = statements.join('\n');
    assert.match(all, /CREATE TABLE IF NOT EXISTS profile_samples_1h_local ON CLUSTER kiln_two \([^]*?\) ENGINE = ReplicatedSummingMergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/profile_samples_1h_local', '\{replica\}', \(samples, cpu_ns\)\) PARTITION BY/);
    assert.match(all, /ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/profile_stacks_local', '\{replica\}', last_seen\) ORDER BY stack_id/);
    assert.match(all, /CREATE TABLE IF NOT EXISTS profile_samples ON CLUSTER kiln_two AS profile_samples_local ENGINE = Distributed\(kiln_two, currentDatabase\(\), profile_samples_local, stack_id\)/);
    assert.match(all, /CREATE MATERIALIZED VIEW IF NOT EXISTS profile_samples_1d_mv2 ON CLUSTER kiln_two TO profile_samples_1d_local AS SELECT toDateTime\(intDiv\(toUInt32\(profile_samples_local\.ts\)[^]* FROM profile_samples_local GROUP BY/);
    for (const t of [...TABLES, KILN_SCHEMA]) assert.ok(SHARDING_KEYS[t.name], `${t.name} has a sharding key`);
    // the DDL kept in the repository is the generator's
    const kept = readFileSync(join(repoRoot, 'store/cluster.sql'), 'utf8').replace(/^--.*\n/gm, '').trim();
    assert.equal(kept, `${clusterStatements([...TABLES, KILN_SCHEMA], { cluster: 'kiln' }, 7).join(';\n\n')};`, 'store/cluster.sql is current (see its first lines)');
    // samples, their rollups and their stacks on one shard: the same key
    assert.deepEqual(new Set(['profile_samples', 'profile_samples_1h', 'profile_samples_1d', 'profile_stacks'].map((t) => SHARDING_KEYS[t])), new Set(['stack_id']));
  });

  it('runs for real on one shard: every endpoint answers as on the plain schema', async () => {
    const plain = inDatabase(engine, 'plain');
    const one = inDatabase(engine, 'one', reads);
    await applySchema(plain, { retentionDays: 30 });
    await applySchema(one, { retentionDays: 30, cluster: { cluster: 'kiln_one', replicated: false } });
    const tables = await engine.query<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = 'one' AND name = 'profile_stacks'`);
    assert.deepEqual(tables, [{ name: 'profile_stacks', engine: 'Distributed' }]);
    for (const store of [plain, one]) {
      const sink = new StoreSink(store);
      for (let i = 0; i < 12; i++) for (const w of windows(i)) sink.write(w);
      await sink.close(60_000);
    }
    const [local] = await engine.query<{ n: string }>(`SELECT sum(samples) AS n FROM one.${localName('profile_samples_1h')}`);
    assert.ok(Number(local.n) > 0, 'the shard\'s view filled its rollup');
    const api = (store: Store) =>
      createApi({
        profiles: new ProfileRepository(store),
        runq: new RunqRepository(store),
        dns: new DnsRepository(store),
        losses: new LossRepository(store),
        netcost: { repo: new NetcostRepository(store), snapshot: () => currentSnapshot('aws', tempDir('prices')), report: { provider: 'aws', accountId: 'test', host: 'h' } },
        defaultPeriodNs: 10_000_000,
      });
    const [a, b] = [api(plain), api(one)];
    const range = `from=${BASE}&to=${BASE + 12 * WINDOW}`;
    for (const p of PATHS) {
      const url = `${p.replace('BASE', String(BASE)).replace('MID', String(BASE + 6 * WINDOW))}${p.includes('?') ? '&' : '?'}${range}`;
      const [ra, rb] = await Promise.all([a.request(url), b.request(url)]);
      const [ja, jb] = [await ra.json(), await rb.json()];
      assert.equal(ra.status, 200, `${url}: ${JSON.stringify(ja)}`);
      assert.deepEqual(jb, ja, url);
    }
    const monthly = `/api/v1/reports/monthly?month=${new Date(BASE * 1000).toISOString().slice(0, 7)}&format=json`;
    assert.deepEqual(await (await b.request(monthly)).json(), await (await a.request(monthly)).json());
  });

  it('every read query those answers took plans on two shards; an IN across tables without GLOBAL does not', async () => {
    assert.ok(reads.length >= PATHS.length, `${reads.length} reads recorded`);
    const two = inDatabase(engine, 'two');
    // the layout only: reading the schema version would ask the missing shard
    for (const sql of clusterStatements([...TABLES, KILN_SCHEMA], { cluster: 'kiln_two', replicated: false }, 30)) await two.exec(sql);
    const seen = new Set<string>();
    for (const r of reads) {
      if (seen.has(r.sql)) continue;
      seen.add(r.sql);
      // the second shard is not there: skipped, so planning is what is checked
      await two.query(`EXPLAIN ${r.sql} SETTINGS skip_unavailable_shards = 1, connect_timeout_with_failover_ms = 100`, r.params).catch((e: Error) => {
        throw new Error(`${e.message.split('\n')[0]}\nin: ${r.sql}`);
      });
    }
    await assert.rejects(
      two.query('EXPLAIN SELECT stack_id FROM profile_stacks WHERE stack_id IN (SELECT stack_id FROM profile_samples) SETTINGS skip_unavailable_shards = 1'),
      /DISTRIBUTED_IN_JOIN_SUBQUERY_DENIED|Double-distributed/,
    );
  });
});
