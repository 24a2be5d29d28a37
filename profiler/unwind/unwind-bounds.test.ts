/* The unwind row space fills, is counted, and empties again: three copies of Debian's python3 (58 k rows
 * each, no build id, so three tables) in 1 MiB of rows (131 k; one binary may take 65 k). */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bpfTest, tempDir } from '../../testing/testkit.js';
import { CpuSampler } from '../sampler.js';
import { UnwindMaps } from './unwind-maps.js';

describe('unwind table space', bpfTest(), () => {
  const procs: ChildProcess[] = [];
  let sampler: CpuSampler | undefined;
  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    sampler?.close();
  });

  async function pythonCopy(dir: string, name: string): Promise<ChildProcess> {
    const bin = join(dir, name);
    copyFileSync('/usr/bin/python3.11', bin);
    // no build id: the table is keyed by the file, so each copy needs one of its own
    execFileSync('objcopy', ['--remove-section', '.note.gnu.build-id', bin]);
    const p = spawn(bin, ['-c', 'import time; time.sleep(120)'], { stdio: 'ignore' });
    procs.push(p);
    // mapped and running its image (not the forking node) before it is loaded
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(20)) {
      if (readFileSync(`/proc/${p.pid}/maps`, 'utf8').includes(bin)) return p;
    }
    throw new Error(`${name} did not start`);
  }

  it('refuses a table that does not fit, counts it, and takes it once an idle table is evicted', async () => {
    // no loader timer: only what this test loads takes rows, whatever else runs on the machine
    sampler = new CpuSampler({ sampleHz: 19, drainIntervalMs: 1000, unwindTableBytes: 1 << 20, unwindIdleTableMs: 0 });
    const unwind = sampler.unwind!;
    const dir = tempDir('rowspace');
    const a = await pythonCopy(dir, 'py-copy-a');
    const b = await pythonCopy(dir, 'py-copy-b');

    unwind.loadProcess(process.pid); // node's 277 k rows: over the per-binary half
    assert.ok(unwind.stats().fallbackBinaries.table_too_large >= 1, JSON.stringify(unwind.stats()));
    unwind.loadProcess(a.pid!);
    const afterA = unwind.stats();
    assert.ok(afterA.rowsUsed > 58_000 && afterA.rowsUsed <= afterA.rowsCapacity, JSON.stringify(afterA));
    unwind.loadProcess(b.pid!);
    const afterB = unwind.stats();
    assert.equal(afterB.fallbackBinaries.row_space_full, 1, `the second copy does not fit: ${JSON.stringify(afterB)}`);
    assert.ok(afterB.rowsUsed <= afterB.rowsCapacity);
    assert.equal(afterB.rowsUsed, afterA.rowsUsed, 'nothing half-written');

    // the first copy exits: its table is unreferenced, then evicted for the second
    a.kill('SIGKILL');
    for (const deadline = Date.now() + 5000; Date.now() < deadline && a.exitCode === null && a.signalCode === null; await sleep(20));
    await sleep(50);
    unwind.sweep(Date.now() + 1000); // later than the moment the table became unreferenced, inside this sweep
    const swept = unwind.stats();
    assert.ok(swept.tablesEvicted >= 1 && swept.rowsUsed < afterA.rowsUsed - 50_000, JSON.stringify(swept));
    unwind.loadProcess(b.pid!);
    const final = unwind.stats();
    assert.equal(final.fallbackBinaries.row_space_full, 1, 'no new refusal');
    assert.ok(final.rowsUsed > 58_000 && final.rowsUsed <= final.rowsCapacity, JSON.stringify(final));
  });

  it('spends a bounded time on requests under process churn, and counts what it left', async () => {
    sampler ??= new CpuSampler({ sampleHz: 19, drainIntervalMs: 1000, unwindTableBytes: 1 << 20 });
    const o = sampler.bpf;
    // a loader of its own over the same maps, with a 3 ms budget and no refill
    // the real walk keeps asking for the host's other processes meanwhile (a busy host has new ones):
    // the loader must answer or count every request it drained, ours and theirs
    const requests = o.map('unwind_requests');
    let drained = 0;
    const counted = Object.create(requests, {
      drain: {
        value: () => {
          const r = requests.drain();
          drained += r.count;
          return r;
        },
      },
    }) as typeof requests;
    const loader = new UnwindMaps({ rows: o.map('unwind_rows'), tables: o.map('unwind_tables'), procs: o.map('unwind_procs'), requests: counted, budgetMsPerSecond: 0, budgetBurstMs: 3 });
    const sleepers: ChildProcess[] = [];
    for (let i = 0; i < 60; i++) sleepers.push(spawn('sleep', ['60'], { stdio: 'ignore' }));
    procs.push(...sleepers);
    await sleep(300);
    requests.drain(); // what the real walk asked so far
    for (const p of sleepers) {
      const k = Buffer.alloc(4);
      k.writeUInt32LE(p.pid!);
      const v = Buffer.alloc(8);
      v.writeUInt32LE(1, 0); // new
      v.writeUInt32LE(1, 4); // one sample
      requests.update(k, v);
    }
    loader.poll();
    const s = loader.stats();
    assert.ok(drained >= 60, `our 60 requests drained (${drained})`);
    assert.equal(s.requests.new + s.requests.exec + s.requests.refresh + s.requestsDeferred, drained, JSON.stringify(s));
    assert.ok(s.requestsDeferred > 0 && s.processes < 60, `past the budget, requests are left: ${JSON.stringify(s)}`);
  });
});
