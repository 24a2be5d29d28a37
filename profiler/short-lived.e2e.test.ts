/* Programs that live less than the time between two drains (a compiler in a build, a script), profiled
 * by the real collector on the real kernel with drains 4 s apart: each is read from /proc while it lives
 * (the clock's glance, Collector.glance), so its samples are named and symbolized after it exited. With
 * reads at drains only, a 500 ms program would be alive at a drain about one time in eight. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessTable } from '../host/process-table.js';
import type { WindowEnvelope, WindowSink } from '../pipeline/contracts.js';
import { WindowScheduler } from '../pipeline/scheduler.js';
import { bpfTest, buildFixtures, waitExit, type Fixtures } from '../testing/testkit.js';
import { ProfileCollector } from './collector.js';

const DRAIN_MS = 4000;
const RUNS = 8;
const RUN_MS = 500;

describe('short-lived programs between drains', bpfTest(), () => {
  let fx: Fixtures;
  let collector: ProfileCollector;
  let scheduler: WindowScheduler;
  const got: WindowEnvelope[] = [];
  let stopped = false;

  before(() => {
    fx = buildFixtures();
    collector = new ProfileCollector({ sampleHz: 197, windowSeconds: 8, drainIntervalMs: DRAIN_MS, host: 'test', processes: new ProcessTable() });
    const sink: WindowSink = { write: (w) => void got.push(w), flush: async () => undefined, close: async () => undefined };
    scheduler = new WindowScheduler({ windowSeconds: 8, pollMs: DRAIN_MS, host: 'test', collectors: [collector], sink });
    scheduler.start();
  });

  after(async () => {
    if (!stopped) await scheduler?.stop();
  });

  it('names and symbolizes each run, though it exited before the drain that read its samples', { timeout: 120_000 }, async () => {
    // the first new process the walk meets starts the glance (the profiler glances while new
    // processes come): a primer, then the runs, each read within a glance of its first sample
    const primer = spawn(fx.shortThreads, [String(RUN_MS)], { stdio: 'ignore' });
    assert.equal(await waitExit(primer), 0);
    const deadline = Date.now() + 3 * DRAIN_MS;
    while (!collector.glancing()) {
      if (Date.now() > deadline) throw new Error('the profiler never started glancing after a new process');
      await sleep(50);
    }
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const p = spawn(fx.shortThreads, [String(RUN_MS)], { stdio: 'ignore' });
      assert.equal(await waitExit(p), 0);
      runs.push(p.pid!);
    }
    stopped = true;
    await scheduler.stop();
    const byPid = new Map<number, { all: number; resolved: number; spin: number }>(runs.map((p) => [p, { all: 0, resolved: 0, spin: 0 }]));
    for (const w of got) {
      if (w.kind !== 'profile') continue;
      for (const a of w.apps) {
        // (a sample between fork and exec is the test's own node, under the child's pid)
        const e = a.app === 'kiln-short' ? byPid.get(a.pid ?? 0) : undefined;
        if (!e) continue;
        for (const s of a.stacks) {
          e.all += s.count;
          // read while it lived: its frames lead to its files (a process read too late has only
          // [unknown] user frames, and kernel ones)
          if (s.frames.some((f) => f.mapping.file.startsWith('/'))) e.resolved += s.count;
          if (s.frames.some((f) => f.name === 'short_worker_spin')) e.spin += s.count;
        }
      }
    }
    const all = runs.reduce((n, p) => n + byPid.get(p)!.all, 0);
    const resolved = runs.reduce((n, p) => n + byPid.get(p)!.resolved, 0);
    assert.ok(runs.every((p) => byPid.get(p)!.all > 0), `every run has samples: ${JSON.stringify([...byPid])}`);
    const st = collector.stats();
    const seen = JSON.stringify({ read: st.newProcessesRead, gone: st.newProcessesGone, deferred: st.newProcessesDeferred });
    assert.ok(resolved >= 0.9 * all, `${resolved} of ${all} samples with frames in the program's files: ${JSON.stringify([...byPid])} ${seen}`);
    const spin = runs.reduce((n, p) => n + byPid.get(p)!.spin, 0);
    assert.ok(spin >= 0.5 * all, `its threads' function is named: ${spin} of ${all} samples`);
    assert.ok(st.newProcessesRead >= RUNS, `processes read while they lived: ${seen}`);
  });
});
