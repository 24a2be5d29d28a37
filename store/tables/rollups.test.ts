/* Hourly and daily rollups of profile samples (store/tables/profiles.ts) against the raw windows, on the
 * embedded engine: a range that starts and ends mid-hour, across whole days, gives the same stacks with
 * the same sample and CPU totals either way; windows written before the rollups existed are backfilled. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChdbStore } from '../adapters/chdb.js';
import { applySchema, schemaStatements } from '../schema.js';
import { tempDir } from '../../testing/testkit.js';
import { syntheticStacks } from '../../bench/query.js';
import { ProfileRepository, backfillRollups, rollupParts, type StackRow } from './profiles.js';

const DAY = 86400;
const T0 = Math.floor(Date.now() / 1000 / DAY) * DAY - 4 * DAY;
const POOL = syntheticStacks(10, 5);

function byStack(rows: StackRow[]): Map<string, { samples: number; cpu_ns: number }> {
  return new Map(rows.map((r) => [r.functions.join(';'), { samples: r.samples, cpu_ns: r.cpu_ns }]));
}

describe('profile rollups', () => {
  let store: ChdbStore;
  let repo: ProfileRepository;
  let raw: ProfileRepository;
  // 3 days and a bit of 60 s windows (and some 10 s ones), at a fixed UTC midnight
  const t0 = Math.floor(Date.now() / 1000 / DAY) * DAY - 4 * DAY;
  const pool = syntheticStacks(60, 3);

  before(async () => {
    store = new ChdbStore(tempDir('rollups'));
    await applySchema(store, { retentionDays: 30 });
    repo = new ProfileRepository(store);
    raw = new ProfileRepository(store, { rollups: false });
    let k = 0;
    for (let ts = t0 - 1800; ts < t0 + 3 * DAY + 5400; ts += 60, k++) {
      // two sampling periods, as after a restart with another --sample-hz
      const periodNs = ts < t0 + DAY ? 10_309_278 : 5_000_000;
      const stacks = [0, 1, 2].map((j) => ({ frames: pool[(k * 7 + j * 13) % pool.length], count: 1 + ((k + j) % 5) }));
      await repo.writeWindow({ start: ts, seconds: 60, host: 'h', periodNs, truncatedSamples: 0, apps: [{ app: 'roll-app', containerId: '', stacks }] });
    }
  });

  after(async () => {
    await store?.close();
  });

  it('splits a range into raw edges, whole hours and whole days', () => {
    const p = rollupParts({ from: t0 + 1800, to: t0 + 2 * DAY + 5400 });
    assert.deepEqual(p.raw, [
      { from: t0 + 1800, to: t0 + 3600 },
      { from: t0 + 2 * DAY + 3600, to: t0 + 2 * DAY + 5400 },
    ]);
    assert.deepEqual(p.hours, [
      { from: t0 + 3600, to: t0 + DAY },
      { from: t0 + 2 * DAY, to: t0 + 2 * DAY + 3600 },
    ]);
    assert.deepEqual(p.days, { from: t0 + DAY, to: t0 + 2 * DAY });
    // inside one hour: raw only
    assert.deepEqual(rollupParts({ from: t0 + 60, to: t0 + 3000 }).hours, [
      { from: 0, to: 0 },
      { from: 0, to: 0 },
    ]);
  });

  for (const [label, from, to] of [
    ['mid-hour to mid-hour across whole days', t0 - 1790, t0 + 3 * DAY + 1234],
    ['mid-hour to mid-hour within a day', t0 + 3 * 3600 + 17, t0 + 9 * 3600 + 1799],
    ['whole days exactly', t0, t0 + 2 * DAY],
  ] as const) {
    it(`gives the raw windows' stacks and totals: ${label}`, async () => {
      const [a, b] = await Promise.all([repo.stacks('roll-app', { from, to }), raw.stacks('roll-app', { from, to })]);
      assert.ok(b.length > 0);
      assert.deepEqual(byStack(a), byStack(b));
      const sum = (rows: StackRow[]) => rows.reduce((s, r) => s + r.samples, 0);
      assert.equal(sum(a), sum(b));
    });
  }
});

describe('profile rollups on a data directory from an older version', () => {
  it('backfills rollups for windows stored before they existed', async () => {
    const old = new ChdbStore(tempDir('rollups-old'));
    try {
      // an older version's data directory: raw windows only, no rollup tables
      for (const sql of schemaStatements({ retentionDays: 30 })) if (!/profile_samples_1[hd]/.test(sql)) await old.exec(sql);
      const w = new ProfileRepository(old);
      for (let ts = T0; ts < T0 + 2 * DAY; ts += 600) await w.writeWindow({ start: ts, seconds: 60, host: 'h', periodNs: 10_309_278, truncatedSamples: 0, apps: [{ app: 'old-app', containerId: '', stacks: [{ frames: POOL[ts % 7], count: 3 }] }] });
      await applySchema(old, { retentionDays: 30 });
      await backfillRollups(old); // a second start adds nothing
      const range = { from: T0 + 1234, to: T0 + 2 * DAY - 1234 };
      const [a, b] = await Promise.all([w.stacks('old-app', range), new ProfileRepository(old, { rollups: false }).stacks('old-app', range)]);
      assert.deepEqual(byStack(a), byStack(b));
    } finally {
      await old.close();
    }
  });
});
