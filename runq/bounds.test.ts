/* The run-queue collector's kernel state holds its bounds: a thread's start lives in its own task storage
 * (freed by the kernel with the thread), so tens of thousands of threads created, woken and exited cost
 * nothing lasting and lose nothing; histograms leave at each window. */
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
    runq = new RunqCollector({ host: 'test', identity: HostIdentity.create() });
  });

  after(async () => {
    await runq?.stop();
    rmSync(fx.dir, { recursive: true, force: true });
  });

  it('30,000 short-lived threads on both CPUs: every wait recorded, nothing lost', async () => {
    // three processes at once: 3 × 10,000 threads, each woken 50 times
    execFileSync('sh', ['-c', `'${fx.threadchurn}' 10000 & '${fx.threadchurn}' 10000 & '${fx.threadchurn}' 10000 & wait`]);
    windows.push(...(await runq.closeWindows({ start: Math.floor(Date.now() / 3_600_000) * 3600, seconds: 3600 }, false)));
    const waits = windows.flatMap((w) => (w.kind === 'runq' ? w.rows : [])).reduce((n, r) => n + r.count, 0);
    assert.ok(waits > 1_000_000, `waits recorded: ${waits}`);
    assert.deepEqual(runq.losses(), { startMapFull: 0n, histMapFull: 0n });
  });
});
