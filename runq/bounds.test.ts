/* The run-queue collector's kernel maps hold their bounds: a thread's start leaves runq_start when it
 * runs or exits (a thread woken while still on its CPU that then exits never runs again), so tens of
 * thousands of threads created, woken and exited leave nothing behind; histograms leave at each window. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { HostIdentity } from '../host/identity.js';
import type { WindowEnvelope } from '../pipeline/contracts.js';
import { RunqCollector } from './collector.js';
import { bpfTest, buildFixtures, type Fixtures } from '../testing/testkit.js';

describe('run-queue kernel maps under thread churn', bpfTest(), () => {
  let fx: Fixtures;
  let runq: RunqCollector;
  const windows: WindowEnvelope[] = [];

  before(() => {
    fx = buildFixtures();
    runq = new RunqCollector({ host: 'test', identity: HostIdentity.create(), maxThreads: 4096 });
  });

  after(async () => {
    await runq?.stop();
    rmSync(fx.dir, { recursive: true, force: true });
  });

  it('30,000 short-lived threads on both CPUs leave no start behind and lose nothing', async () => {
    // three processes at once: 3 × 10,000 threads, each woken 50 times, more than 7× the map's 4,096
    execFileSync('sh', ['-c', `'${fx.threadchurn}' 10000 & '${fx.threadchurn}' 10000 & '${fx.threadchurn}' 10000 & wait`]);
    const left = runq.startEntries();
    // what remains is threads runnable right now (this one, the collector's), never the exited ones
    assert.ok(left < 64, `starts left in the map: ${left} of 4096`);
    windows.push(...(await runq.closeWindows({ start: Math.floor(Date.now() / 3_600_000) * 3600, seconds: 3600 }, false)));
    const waits = windows.flatMap((w) => (w.kind === 'runq' ? w.rows : [])).reduce((n, r) => n + r.count, 0);
    assert.ok(waits > 1_000_000, `waits recorded: ${waits}`);
    assert.deepEqual(runq.losses(), { startMapFull: 0n, histMapFull: 0n });
  });
});
