/* Run-queue delay per second of the application's own running time: the same waits read the same over
 * a minute or a quarter hour (divided by the range they read 0.694, 0.184 or 0.061 s/s). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../../testing/testkit.js';
import { ChdbStore } from '../adapters/chdb.js';
import { applySchema } from '../schema.js';
import { RUNQ_SLOTS } from '../../runq/layout.js';
import { RunqRepository } from './runq-windows.js';

describe('run-queue rows', () => {
  let store: ChdbStore;
  let repo: RunqRepository;
  const T = Math.floor(Date.now() / 60_000) * 60 - 3600; // a minute boundary, within the retention

  before(async () => {
    store = new ChdbStore(tempDir('runq-repo'));
    await applySchema(store, { retentionDays: 30 });
    repo = new RunqRepository(store);
    // two one-minute windows 10 minutes apart: 1 s of waiting for 4 s of running in each
    for (const ts of [T, T + 600]) {
      const slots = new Array<number>(RUNQ_SLOTS).fill(0);
      slots[20] = 10;
      await store.insert('runq_windows', [{ ts, window_seconds: 60, host: 'h', app: 'api', container_id: '', cgroup_id: '1', cgroup_path: '/', slots, total_ns: 1e9, waits: 10 }]);
      await store.insert('profile_samples', [{ ts, window_seconds: 60, host: 'h', app: 'api', container_id: '', stack_id: '7', samples: 400, period_ns: 10_000_000 }]);
    }
    await store.insert('runq_windows', [{ ts: T, window_seconds: 60, host: 'h', app: 'unprofiled', container_id: '', cgroup_id: '2', cgroup_path: '/', slots: new Array<number>(RUNQ_SLOTS).fill(0), total_ns: 5e8, waits: 1 }]);
  });
  after(() => store.close());

  it('divides the delay by the CPU time the application ran, not by the range', async () => {
    const minute = (await repo.query({ from: T, to: T + 60 }, 'api'))[0];
    const quarter = (await repo.query({ from: T - 240, to: T + 660 }, 'api'))[0];
    assert.equal(minute.cpu_seconds, 4);
    assert.equal(quarter.cpu_seconds, 8);
    assert.equal(minute.delay_seconds_per_cpu_second, 0.25);
    assert.equal(quarter.delay_seconds_per_cpu_second, 0.25);
    // the per-range figure is what changed with the range
    assert.notEqual(minute.delay_seconds_per_second, quarter.delay_seconds_per_second);
  });

  it('says null when the profiler has no samples of the application', async () => {
    const [row] = await repo.query({ from: T, to: T + 60 }, 'unprofiled');
    assert.equal(row.total_delay_seconds, 0.5);
    assert.equal(row.cpu_seconds, null);
    assert.equal(row.delay_seconds_per_cpu_second, null);
  });
});
