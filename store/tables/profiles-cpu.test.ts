/* The app list ranked by CPU, and an application's CPU over time (what the home page shows and a range
 * is dragged on), on the embedded engine. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../../testing/testkit.js';
import { ChdbStore } from '../adapters/chdb.js';
import { applySchema } from '../schema.js';
import { ProfileRepository } from './profiles.js';

describe('CPU per application', () => {
  let store: ChdbStore;
  let repo: ProfileRepository;
  const T = Math.floor(Date.now() / 3600_000) * 3600 - 7200; // an hour boundary, two hours ago
  const PERIOD = 10_000_000; // 100 Hz

  before(async () => {
    store = new ChdbStore(tempDir('profiles-cpu'));
    await applySchema(store, { retentionDays: 30 });
    repo = new ProfileRepository(store);
    // 60 s windows for ten minutes: 'zeta' uses 2 cores, 'alpha' half a core, 'mid' one core only in
    // its second five minutes
    const samples = [];
    const windows = [];
    for (let i = 0; i < 10; i++) {
      const ts = T + 60 * i;
      for (const [app, cores] of [['zeta', 2], ['alpha', 0.5], ['mid', i >= 5 ? 1 : 0]] as const) {
        windows.push({ ts, window_seconds: 60, host: 'h', app, container_id: '', source: 'profiler' });
        if (cores) samples.push({ ts, window_seconds: 60, host: 'h', app, container_id: '', stack_id: '1', samples: cores * 60 * 100, period_ns: PERIOD });
      }
    }
    await store.insert('app_windows', windows);
    await store.insert('profile_samples', samples);
  });
  after(() => store.close());

  it('lists the applications the most CPU first, with their CPU seconds', async () => {
    const apps = await repo.apps({ from: T, to: T + 600 });
    assert.deepEqual(apps.map((a) => [a.app, a.cpu_seconds]), [['zeta', 1200], ['mid', 300], ['alpha', 300]].sort((a, b) => (b[1] as number) - (a[1] as number) || String(a[0]).localeCompare(String(b[0]))));
  });

  it("gives an application's CPU in cores per step, the step never shorter than its windows", async () => {
    const s = await repo.cpuSeries('mid', { from: T, to: T + 600 }, 10);
    assert.equal(s.step, 60, 'a 10 s step over 60 s windows would show spikes');
    assert.deepEqual(s.points.map((p) => p.cores), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    const coarse = await repo.cpuSeries('zeta', { from: T, to: T + 600 }, 300);
    assert.deepEqual(coarse.points, [{ t: T, cores: 2 }, { t: T + 300, cores: 2 }]);
    // a week at a 1 s step: bounded to 2,000 points
    const week = await repo.cpuSeries('zeta', { from: T - 7 * 86400, to: T + 600 }, 1);
    assert.ok(week.points.length <= 2000, `${week.points.length} points`);
  });
});
