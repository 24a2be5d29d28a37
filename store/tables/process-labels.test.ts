/* Process labels on profile samples (README "Process labels"), on the embedded engine: two processes of
 * one application are listed apart and each read alone, over raw windows and over the rollups alike;
 * a data directory from before the labels is migrated (its rollups keep processes apart, and the
 * rollups are filled once per insert, not also by the old view). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChdbStore } from '../adapters/chdb.js';
import { applySchema } from '../schema.js';
import { tempDir } from '../../testing/testkit.js';
import type { Frame } from '../../profiler/types.js';
import { ProfileRepository, type StackRow } from './profiles.js';

const DAY = 86400;
const m = { file: '/usr/bin/python3.11', buildId: 'b', start: 0x1000n, limit: 0x9000n, offset: 0x1000n };
const frames = (...names: string[]): Frame[] => names.map((name, i) => ({ name, mapping: m, address: 0x1100n + BigInt(i) }));
const A = { pid: 4101, exe: '/usr/bin/python3.11', cmdline: 'python3 orders.py --port 8001' };
const B = { pid: 4102, exe: '/usr/bin/python3.11', cmdline: 'python3 billing.py --port 8002' };

async function writeDay(repo: ProfileRepository, t0: number): Promise<void> {
  // a day and two hours of windows, so a whole-day query reads days, hours and raw edges
  for (let ts = t0 - 1800; ts < t0 + DAY + 5400; ts += 600) {
    await repo.writeWindow({
      start: ts,
      seconds: 60,
      host: 'h',
      periodNs: 10_000_000,
      truncatedSamples: 0,
      apps: [
        { app: 'python3.11', containerId: '', ...A, stacks: [{ frames: frames('main', 'orders'), count: 3 }] },
        { app: 'python3.11', containerId: '', ...B, stacks: [{ frames: frames('main', 'billing'), count: 1 }] },
      ],
    });
  }
}

const leaves = (rows: StackRow[]) => Object.fromEntries(rows.map((r) => [r.functions.at(-1), r.samples]));

async function check(store: ChdbStore, t0: number): Promise<void> {
  const repo = new ProfileRepository(store);
  const raw = new ProfileRepository(store, { rollups: false });
  const range = { from: t0 - 1234, to: t0 + DAY + 4321 };
  let n = 0; // windows written that start in the range
  for (let ts = t0 - 1800; ts < t0 + DAY + 5400; ts += 600) if (ts >= range.from && ts < range.to) n++;
  for (const r of [repo, raw]) {
    const procs = await r.processes('python3.11', range);
    assert.deepEqual(
      procs.map((p) => [p.pid, p.cmdline, p.exe, p.samples]),
      [
        [A.pid, A.cmdline, A.exe, 3 * n],
        [B.pid, B.cmdline, B.exe, n],
      ],
    );
    assert.deepEqual(leaves(await r.stacks('python3.11', range)), { orders: 3 * n, billing: n });
    assert.deepEqual(leaves(await r.stacks('python3.11', range, { cmdline: B.cmdline })), { billing: n });
    assert.deepEqual(leaves(await r.stacks('python3.11', range, { pid: A.pid })), { orders: 3 * n });
    assert.deepEqual(leaves(await r.stacks('python3.11', range, { pid: A.pid, cmdline: B.cmdline })), {});
    const pp = await r.pprofStacks('python3.11', range, { exe: A.exe, pid: B.pid });
    assert.deepEqual(
      pp.stacks.map((s) => [s.functions.at(-1), s.samples]),
      [['billing', n]],
    );
  }
  const series = await repo.cpuSeries('python3.11', range, 600, { pid: B.pid });
  // one 10 ms sample a window (cores are rounded to 1e-6 per point: within 5%)
  const cpu = series.points.reduce((s, p) => s + p.cores * series.step, 0);
  assert.ok(Math.abs(cpu - n * 0.01) < n * 0.01 * 0.05, `${cpu} CPU seconds for ${n} windows`);
}

describe('process labels', () => {
  it('lists an application\'s processes and reads each alone, from raw windows and rollups alike', async () => {
    const store = new ChdbStore(tempDir('labels'));
    try {
      await applySchema(store, { retentionDays: 30 });
      const t0 = Math.floor(Date.now() / 1000 / DAY) * DAY - 3 * DAY;
      await writeDay(new ProfileRepository(store), t0);
      await check(store, t0);
    } finally {
      await store.close();
    }
  });

  it('migrates a data directory from before the labels: rollups keep processes apart, filled once', async () => {
    const store = new ChdbStore(tempDir('labels-old'));
    try {
      // the previous version's tables and views, as it created them
      await store.exec(`CREATE TABLE profile_samples (ts DateTime, window_seconds UInt32, host LowCardinality(String), app LowCardinality(String), container_id String, stack_id UInt64, samples UInt64, period_ns UInt64) ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (app, ts, stack_id)`);
      for (const [t, s] of [
        ['profile_samples_1h', 3600],
        ['profile_samples_1d', 86400],
      ] as const) {
        await store.exec(
          `CREATE TABLE ${t} (ts DateTime, app LowCardinality(String), host LowCardinality(String), container_id String, stack_id UInt64, samples UInt64, cpu_ns UInt64) ENGINE = SummingMergeTree((samples, cpu_ns)) PARTITION BY toYYYYMM(ts) ORDER BY (app, ts, stack_id, host, container_id)`,
        );
        await store.exec(
          `CREATE MATERIALIZED VIEW ${t}_mv TO ${t} AS SELECT toDateTime(intDiv(toUInt32(profile_samples.ts), ${s}) * ${s}) AS ts, app, host, container_id, stack_id, sum(profile_samples.samples) AS samples, sum(profile_samples.samples * period_ns) AS cpu_ns FROM profile_samples GROUP BY ts, app, host, container_id, stack_id`,
        );
      }
      const t0 = Math.floor(Date.now() / 1000 / DAY) * DAY - 3 * DAY;
      // an old window: no labels, in the raw table and the rollups
      await store.insert('profile_samples', [{ ts: t0 - 7 * DAY, window_seconds: 60, host: 'h', app: 'python3.11', container_id: '', stack_id: '1', samples: 5, period_ns: 10_000_000 }]);
      await applySchema(store, { retentionDays: 30 });
      await applySchema(store, { retentionDays: 30 }); // a second start changes nothing
      const [key] = await store.query<{ sorting_key: string }>(`SELECT sorting_key FROM system.tables WHERE name = 'profile_samples_1h'`);
      assert.match(key.sorting_key, /pid, cmdline, exe$/);
      const views = await store.query<{ name: string }>(`SELECT name FROM system.tables WHERE engine = 'MaterializedView' ORDER BY name`);
      assert.deepEqual(
        views.map((v) => v.name),
        ['profile_samples_1d_mv2', 'profile_samples_1h_mv2'],
      );
      await writeDay(new ProfileRepository(store), t0);
      await check(store, t0);
      // the old window reads as a process nobody named
      const old = await new ProfileRepository(store).processes('python3.11', { from: t0 - 8 * DAY, to: t0 - 6 * DAY });
      assert.deepEqual(
        old.map((p) => [p.pid, p.cmdline, p.samples]),
        [[0, '', 5]],
      );
    } finally {
      await store.close();
    }
  });
});
