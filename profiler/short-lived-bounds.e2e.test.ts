/* The glance's queue of new processes it had no budget for (profiler/collector.ts) is bounded: with no
 * budget and a bound of 4, a dozen short runs wait, the oldest are forgotten and counted, and the drain
 * still names their samples. Its own file: one collector per test process. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessTable } from '../host/process-table.js';
import type { WindowEnvelope, WindowSink } from '../pipeline/contracts.js';
import { WindowScheduler } from '../pipeline/scheduler.js';
import { bpfTest, buildFixtures, waitExit } from '../testing/testkit.js';
import { ProfileCollector } from './collector.js';

const DRAIN_MS = 4000;

describe('new processes waiting for a glance', bpfTest(), () => {
  it('wait in a bounded set: past it the oldest are forgotten and counted, and their samples still named by the drain', { timeout: 120_000 }, async () => {
    const fx = buildFixtures();
    // no budget at all: every new process waits; at most 4 of them
    const collector = new ProfileCollector({ sampleHz: 197, windowSeconds: 8, drainIntervalMs: DRAIN_MS, host: 'test', processes: new ProcessTable(), observeBudgetMs: 0, maxDeferredProcesses: 4 });
    const got: WindowEnvelope[] = [];
    const sink: WindowSink = { write: (w) => void got.push(w), flush: async () => undefined, close: async () => undefined };
    const scheduler = new WindowScheduler({ windowSeconds: 8, pollMs: DRAIN_MS, host: 'test', collectors: [collector], sink });
    scheduler.start();
    try {
      const RUNS_HERE = 12;
      for (let i = 0; i < RUNS_HERE; i++) assert.equal(await waitExit(spawn(fx.shortThreads, ['150'], { stdio: 'ignore' })), 0);
      // every run is met by the walk (each has samples): wait for the glances to have seen them all
      const deadline = Date.now() + 3 * DRAIN_MS;
      while (collector.stats().newProcessesDeferred < RUNS_HERE) {
        if (Date.now() > deadline) break;
        await sleep(100);
      }
      const st = collector.stats();
      assert.ok(st.newProcessesDeferred >= RUNS_HERE, JSON.stringify({ deferred: st.newProcessesDeferred }));
      assert.ok(st.newProcessesWaiting <= 4, `the bound holds: ${st.newProcessesWaiting} waiting`);
      assert.equal(st.newProcessesRead, 0, 'no budget, nothing read by a glance');
      // every process put off is waiting or was forgotten, and counted
      assert.equal(st.newProcessesDeferredDropped, st.newProcessesDeferred - st.newProcessesWaiting, JSON.stringify({ dropped: st.newProcessesDeferredDropped, deferred: st.newProcessesDeferred, waiting: st.newProcessesWaiting }));
      assert.ok(st.newProcessesDeferredDropped >= RUNS_HERE - 4);
    } finally {
      await scheduler.stop();
    }
    // the drain still names every run's samples
    const named = got.flatMap((w) => (w.kind === 'profile' ? w.apps.filter((a) => a.app === 'kiln-short') : [])).reduce((n, a) => n + a.stacks.reduce((m, s) => m + s.count, 0), 0);
    assert.ok(named > 0, `kiln-short samples: ${named}`);
  });
});
