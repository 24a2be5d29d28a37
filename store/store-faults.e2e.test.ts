/* The store failing or overloaded under the real `kiln run`: collection never waits for it.
 * - A full data directory (a small tmpfs filled up) while a new program starts: inserts fail and are
 *   retried from the table that failed; once space is back every window is complete in the flamegraph.
 * - 200 parallel heavy queries while a known workload runs: every window holds what the CPU could
 *   produce (samples are filed under the time they were taken), nothing is lost, and the requests past
 *   the limits get 429 or 503 with the reason. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FlameNode } from '../profiler/flamegraph.js';
import { readFileSync } from 'node:fs';
import { bpfTest, buildFixtures, getJson, REQUEST_DEADLINE_MS, startKiln, tempDir, waitExit, type Fixtures, type KilnProcess } from '../testing/testkit.js';

const WINDOW = 3;
const HZ = 197;
/** samples one CPU can give one program in a window */
const PER_WINDOW = HZ * WINDOW;

/** CPU seconds a process has run (all its threads), from the scheduler's own accounting. */
function cpuSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
}

interface Status {
  profiler: { countsFull: number; stacksFull: number; stacksMissing: number };
  store: { queuedWindows: number; insertErrors: number; written: number; dropped: Record<string, number> };
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, log: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    assert.ok(Date.now() < deadline, `${what} within ${timeoutMs / 1000} s\n${log().slice(-3000)}`);
    await sleep(250);
  }
}

/** Samples of `app` in each window [start, start + WINDOW) from `from` to `to`. */
async function perWindow(kiln: KilnProcess, app: string, from: number, to: number): Promise<[number, number][]> {
  const out: [number, number][] = [];
  for (let ws = from; ws < to; ws += WINDOW) {
    const r = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=${app}&from=${ws}&to=${ws + WINDOW}`);
    out.push([ws, r.status === 200 ? r.body.value : 0]);
  }
  return out;
}

describe('store faults and load under kiln run', bpfTest(), () => {
  let fx: Fixtures;
  const procs: ChildProcess[] = [];

  before(() => {
    fx = buildFixtures();
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map(waitExit));
    rmSync(fx.dir, { recursive: true, force: true });
  });

  it('a full data directory: writes are retried, and once space is back every window is complete', { timeout: 180_000 }, async () => {
    const mnt = tempDir('full');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m', 'kiln-test-full', mnt]);
    let kiln: KilnProcess | undefined;
    try {
      kiln = await startKiln(['--data-dir', join(mnt, 'data'), '--window', String(WINDOW), '--sample-hz', String(HZ)]);
      const k = kiln;
      const status = async () => (await getJson<Status>(`${k.url}/api/v1/status`)).body;
      await waitFor('a first window written', async () => (await status()).store.written > 0, 30_000, k.log);

      // the disk fills up; then a program never seen before starts: its stacks are new, so its
      // samples are only visible if its stacks are stored too
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=1M'], { stdio: 'ignore' });
      } catch {
        // ENOSPC: the point
      }
      const busyBin = join(fx.dir, 'busy-fresh');
      execFileSync('cp', [fx.busy, busyBin]);
      const busy = spawn('taskset', ['-c', '1', busyBin], { stdio: 'ignore' });
      procs.push(busy);
      const started = Math.ceil(Date.now() / 1000);
      await waitFor('inserts failing', async () => (await status()).store.insertErrors >= 3, 60_000, k.log);
      // the disk stays full for five windows of busy's life: the windows checked below (from the first
      // whole one to two after recovery) are then at least five, however fast the failures came
      await waitFor('five windows of the outage', async () => Date.now() / 1000 >= started + 5 * WINDOW, 60_000, k.log);
      rmSync(join(mnt, 'filler'));
      const recovered = Math.ceil(Date.now() / 1000);
      await waitFor('the queue written out', async () => (await status()).store.queuedWindows === 0, 60_000, k.log);
      // two more whole windows after recovery
      const lastStart = Math.floor(recovered / WINDOW) * WINDOW + 2 * WINDOW;
      await waitFor('windows after recovery', async () => {
        const r = await getJson<FlameNode>(`${k.url}/api/v1/profile/flamegraph?app=busy-fresh&from=${lastStart}&to=${lastStart + WINDOW}`);
        return r.status === 200 && r.body.value > 0 && Date.now() / 1000 > lastStart + WINDOW + 2;
      }, 60_000, k.log);
      const busyCpu = cpuSeconds(busy.pid!);
      busy.kill('SIGKILL');
      await waitExit(busy);
      await sleep((WINDOW + 2) * 1000); // its last window written

      // every sample of busy's life, through the outage and after it, is in the flamegraph: as many as
      // its CPU time gives (a machine busy with other work gives it less than a CPU, not fewer samples)
      const life = await getJson<FlameNode>(`${k.url}/api/v1/profile/flamegraph?app=busy-fresh&from=${started - 2 * WINDOW}&to=${Math.ceil(Date.now() / 1000) + WINDOW}`);
      const expected = busyCpu * HZ;
      assert.ok(life.body.value >= 0.85 * expected && life.body.value <= 1.1 * expected + 5, `busy-fresh: ${life.body.value} samples for ${busyCpu.toFixed(2)} CPU s (${expected.toFixed(0)} expected)`);
      // and no whole window of it is empty or a fraction of the others (stacks written, samples visible)
      const first = Math.ceil(started / WINDOW) * WINDOW + WINDOW;
      const windows = await perWindow(k, 'busy-fresh', first, lastStart + WINDOW);
      assert.ok(windows.length >= 5, `windows checked: ${windows.length}`);
      const mean = windows.reduce((t, [, n]) => t + n, 0) / windows.length;
      for (const [ws, n] of windows) {
        assert.ok(n >= 0.3 * mean && n <= PER_WINDOW + 2, `window ${ws}: ${n} samples of busy (mean ${mean.toFixed(0)}, at most ${PER_WINDOW}; all windows: ${JSON.stringify(windows)})`);
      }
      const s = await status();
      assert.ok(s.store.insertErrors >= 3);
      assert.deepEqual(s.store.dropped, {}, 'no window dropped: the queue held the outage');
      assert.equal(s.profiler.stacksMissing, 0);
    } finally {
      await kiln?.stop();
      execFileSync('umount', ['-l', mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('200 parallel heavy queries: windows stay true to the CPU, nothing is lost, the excess gets 429/503 with a reason', { timeout: 240_000 }, async () => {
    const dataDir = tempDir('busyapi');
    const kiln = await startKiln(['--data-dir', dataDir, '--window', String(WINDOW), '--sample-hz', String(HZ)]);
    try {
      const from = Math.floor(Date.now() / 1000) - WINDOW;
      // thousands of stacks to make the queries heavy
      const paths = spawn(fx.manypaths, ['2'], { stdio: 'ignore' });
      procs.push(paths);
      await sleep(12_000);
      paths.kill('SIGKILL');
      await waitExit(paths);

      const busy = spawn('taskset', ['-c', '1', fx.busy], { stdio: 'ignore' });
      procs.push(busy);
      const loadFrom = Math.ceil(Date.now() / 1000);
      const statuses = new Map<number, number>();
      const reasons = new Set<string>();
      const heavy = [`/api/v1/profile/pprof?app=manypaths&from=${from}&to=now`, `/api/v1/profile/flamegraph?app=manypaths&from=${from}&to=now`, `/api/v1/profile/diff?app=manypaths&from=${from}&to=now&base_from=${from - 3600}&base_to=${from}`];
      const loadEnd = Date.now() + 25_000;
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          while (Date.now() < loadEnd) {
            const url = `${kiln.url}${heavy[i % heavy.length]}`;
            // every answer within the deadline: the limits exist so that none waits longer
            const r = await fetch(url, { signal: AbortSignal.timeout(REQUEST_DEADLINE_MS) }).catch((e: Error) => {
              throw new Error(`GET ${url}: ${e.message}\n${kiln.log().slice(-3000)}`);
            });
            const body = Buffer.from(await r.arrayBuffer());
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            if (r.status !== 200) {
              let reason: string;
              try {
                reason = (JSON.parse(body.toString()) as { error: string }).error;
              } catch {
                reason = `not JSON: ${body.toString().slice(0, 200)}`;
              }
              reasons.add(`${r.status} ${reason}`.replace(/\d+/g, 'N'));
            }
            if (r.status === 429) await sleep(200);
          }
        }),
      );
      const loadTo = Math.floor(Date.now() / 1000);
      const busyCpu = cpuSeconds(busy.pid!);
      busy.kill('SIGKILL');
      await waitExit(busy);
      await sleep((WINDOW + 2) * 1000); // the last window under load flushed and written

      assert.deepEqual([...statuses.keys()].filter((s) => ![200, 429, 503].includes(s)), [], `statuses: ${JSON.stringify([...statuses])}`);
      assert.ok((statuses.get(200) ?? 0) > 0, 'queries within the limits were served');
      assert.ok((statuses.get(429) ?? 0) > 0, `the excess was refused: ${JSON.stringify([...statuses])}`);
      for (const r of reasons) assert.match(r, /^N (too many queries in flight|the store is busy|the query ran past the time limit)/, r);

      const s = (await getJson<Status>(`${kiln.url}/api/v1/status`)).body;
      assert.equal(s.profiler.countsFull, 0, 'no sample dropped');
      assert.equal(s.profiler.stacksFull + s.profiler.stacksMissing, 0, 'no stack lost');
      assert.deepEqual(s.store.dropped, {}, 'no window dropped');
      // busy ran on CPU 1 all along: no window can hold more than one CPU's worth of samples, and
      // together they hold (nearly) all of them
      const first = Math.ceil(loadFrom / WINDOW) * WINDOW;
      const last = Math.floor(loadTo / WINDOW) * WINDOW;
      const windows = await perWindow(kiln, 'busy', first, last);
      assert.ok(windows.length >= 5);
      for (const [ws, n] of windows) assert.ok(n <= PER_WINDOW + 2, `window ${ws}: ${n} samples, at most ${PER_WINDOW} possible (all: ${JSON.stringify(windows)})`);
      // and together, busy's whole life holds as many samples as its CPU time gives: none lost
      const life = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=busy&from=${loadFrom - 2 * WINDOW}&to=${Math.ceil(Date.now() / 1000) + WINDOW}`);
      const expected = busyCpu * HZ;
      assert.ok(life.body.value >= 0.85 * expected && life.body.value <= 1.1 * expected + 5, `busy: ${life.body.value} samples for ${busyCpu.toFixed(2)} CPU s (${expected.toFixed(0)} expected)`);
    } finally {
      await kiln.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
