import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bpfTest, makeCgroup, randomHex, removeCgroup } from '../testing/testkit.js';
import { cgroup2Root } from './cgroup-resolver.js';
import { ProcessTable } from './process-table.js';

/** The v2 cgroup id (its directory's inode) a process is in now. */
function cgroupIdOf(pid: number): bigint {
  const path = /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))![1];
  return statSync(join(cgroup2Root(), path), { bigint: true }).ino;
}

describe('process table naming by cgroup', bpfTest(), () => {
  const procs: ChildProcess[] = [];
  const cg = `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${randomHex(4)}.slice/cri-containerd-${randomHex(32)}.scope`;
  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    setTimeout(() => removeCgroup(cg), 200).unref();
  });

  it("does not name the parent's cgroup after a container a process moved into after it was sampled", async () => {
    const table = new ProcessTable();
    const mover = spawn('sleep', ['30'], { stdio: 'ignore' });
    const stayer = spawn('sleep', ['30'], { stdio: 'ignore' });
    procs.push(mover, stayer);
    await new Promise((r) => setTimeout(r, 100));
    const parentCgroup = cgroupIdOf(mover.pid!);
    // sampled in the parent's cgroup, then moved into a container's (what `sh -c 'echo $$ > …/cgroup.procs
    // && exec app'` does) before Kiln read /proc
    writeFileSync(join(makeCgroup(cg), 'cgroup.procs'), String(mover.pid));
    const moved = table.lookup(mover.pid!, parentCgroup, 'sleep', false);
    assert.notEqual(moved.app, 'sleep', 'the moved process is named by the container it is in now');
    // another process of the parent's cgroup: a plain process, named by its executable
    const other = table.lookup(stayer.pid!, parentCgroup, 'sleep', false);
    assert.equal(other.app, 'sleep', `a process that never moved keeps its own name (got ${other.app})`);
  });
});
