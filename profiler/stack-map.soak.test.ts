/* The profiler's kernel stack map over minutes of recurring stacks: every stack leaves the map at the
 * drain after it was stored, so thousands of call paths sampled again and again never fill it, and a
 * workload started afterwards gets whole stacks. Runs the real `kiln run` at the default 97 Hz, where
 * the stack map has its smallest size (2,048 entries on a 2-CPU host). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FlameNode } from './flamegraph.js';
import { bpfTest, buildFixtures, getJson, startKiln, tempDir, waitExit, type Fixtures, type KilnProcess } from '../testing/testkit.js';

const WINDOW = 5;
const SOAK_SECONDS = 120;

interface ProfilerStatus {
  profiler: { stacksFull: number; stacksMissing: number; countsFull: number; stacksRead: number; stackMapSize: number; samplesRecorded: number };
}

function names(n: FlameNode, out: string[] = []): string[] {
  out.push(n.name);
  for (const c of n.children) names(c, out);
  return out;
}

function countPaths(n: FlameNode, leaf: string): number {
  if (n.name === leaf) return 1;
  return n.children.reduce((s, c) => s + countPaths(c, leaf), 0);
}

describe('profiler stack map under thousands of recurring stacks', bpfTest(), () => {
  let fx: Fixtures;
  let kiln: KilnProcess;
  let dataDir: string;
  const t0 = Math.floor(Date.now() / 1000) - 2 * WINDOW;

  before(async () => {
    fx = buildFixtures();
    dataDir = tempDir('stackmap');
    kiln = await startKiln(['--data-dir', dataDir, '--window', String(WINDOW)]);
  });

  after(async () => {
    await kiln?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(fx.dir, { recursive: true, force: true });
  });

  it(`loses no stack over ${SOAK_SECONDS} s of 4,096 recurring paths on both CPUs, then profiles a new program whole`, { timeout: (SOAK_SECONDS + 120) * 1000 }, async () => {
    const paths = spawn(fx.manypaths, ['2'], { stdio: 'ignore' });
    const soakEnd = Date.now() + SOAK_SECONDS * 1000;
    try {
      while (Date.now() < soakEnd) await sleep(1000);
    } finally {
      paths.kill('SIGKILL');
      await waitExit(paths);
    }
    const mid = (await getJson<ProfilerStatus>(`${kiln.url}/api/v1/status`)).body.profiler;
    // thousands of distinct stacks went through a map of a couple of thousand entries, many times over
    assert.ok(mid.stacksRead > 2 * mid.stackMapSize, `stacks read ${mid.stacksRead} > 2 × map size ${mid.stackMapSize}`);

    const busy = spawn(fx.busy, [], { stdio: 'ignore' });
    const busyFrom = Math.floor(Date.now() / 1000) - WINDOW;
    let tree: FlameNode | null = null;
    try {
      // a few windows of the new program, waited for with a deadline
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=busy&from=${busyFrom}&to=now`);
        if (r.status === 200 && r.body.value >= 200) {
          tree = r.body;
          break;
        }
        assert.ok(Date.now() < deadline, `busy reached ${r.status === 200 ? r.body.value : r.status} samples in 60 s`);
        await sleep(500);
      }
    } finally {
      busy.kill('SIGKILL');
      await waitExit(busy);
    }
    const all = names(tree);
    assert.ok(!all.some((n) => n.includes('no stack')), `no [no stack] frame in the new program: ${all.filter((n) => n.includes('no stack')).join(', ')}`);
    assert.ok(all.includes('main'), 'the new program is symbolized down to main');

    const end = (await getJson<ProfilerStatus>(`${kiln.url}/api/v1/status`)).body.profiler;
    assert.equal(end.stacksFull, 0, 'no stack was refused by a full kernel map');
    assert.equal(end.stacksMissing, 0, 'no sample referred to a stack that was gone');
    assert.equal(end.countsFull, 0, 'no sample was dropped');

    // the soak workload itself came out whole: its thousands of paths, each down to main
    const soak = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=manypaths&from=${t0}&to=now`);
    assert.equal(soak.status, 200);
    const leaves = countPaths(soak.body, 'kiln_path_leaf');
    assert.ok(leaves > 2000, `distinct paths to the leaf in the flamegraph: ${leaves}`);
    assert.ok(!names(soak.body).some((n) => n.includes('no stack')), 'no [no stack] frame in the soak workload');
  });
});
