import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bpfTest, makeCgroup, randomHex, removeCgroup, spawnInCgroup, tempDir, testdataDir, waitExit } from '../testing/testkit.js';
import { CgroupResolver, cgroup2Root } from './cgroup-resolver.js';
import { MAX_CMDLINE_CHARS, ProcessTable, readCmdline, readStackStarts, readStartStack } from './process-table.js';

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

  it('names a process that exited before its first look by the cgroup it was sampled in', async () => {
    const unit = `kiln-gone-${randomHex(3)}.service`;
    const dir = makeCgroup(`system.slice/${unit}`);
    try {
      const p = spawnInCgroup(dir, 'true', []);
      await waitExit(p);
      const id = statSync(dir, { bigint: true }).ino;
      const cgroups = new CgroupResolver([]);
      const table = new ProcessTable({ cgroupPathOf: (i) => cgroups.lookup(i).path || null });
      const e = table.lookup(p.pid!, id, 'true', false);
      assert.equal(e.app, unit, 'named by its unit, though /proc no longer has it');
      // without a way from the id to the cgroup, the comm is all there is
      assert.equal(new ProcessTable().lookup(p.pid!, id, 'true', false).app, 'true');
    } finally {
      removeCgroup(`system.slice/${unit}`);
    }
  });

  it('sweeps exited processes it has not seen for a while, and only those', async () => {
    const table = new ProcessTable();
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    const dead = spawn('sleep', ['0.5'], { stdio: 'ignore' }); // read while it lives, then gone
    procs.push(live);
    await new Promise((r) => setTimeout(r, 100));
    table.lookup(live.pid!, 0n, 'sleep', false);
    table.lookup(dead.pid!, 0n, 'sleep', false);
    await waitExit(dead);
    assert.equal(table.size, 2);
    assert.equal(table.sweep(60_000), 0, 'the dead one was seen just now: kept for its late samples');
    assert.equal(table.sweep(0), 1, 'idle and gone: forgotten');
    assert.equal(table.size, 1, 'the live one stays, however idle');
    assert.equal(table.swept, 1);
  });

  it('pairs each image with its own executable and mappings while the process execs hundreds of times a second', async () => {
    const dir = tempDir('execpair');
    for (const side of ['a', 'b']) {
      execFileSync('cc', ['-O2', `-DKILN_SIDE_${side.toUpperCase()}`, '-o', join(dir, `kiln-exec-${side}`), join(testdataDir, 'execpair.c')], { stdio: 'pipe' });
    }
    const inode = (path: string) => statSync(path, { bigint: true }).ino;
    const ino = { a: inode(join(dir, 'kiln-exec-a')), b: inode(join(dir, 'kiln-exec-b')) };
    const pair = spawn(join(dir, 'kiln-exec-a'), [], { stdio: 'ignore' });
    procs.push(pair);
    const pid = pair.pid!;
    const table = new ProcessTable();
    const wrong: string[] = [];
    let read = 0;
    const deadline = performance.now() + 3000;
    // each lookup is of the image running now, as a sample just taken would be: /proc is read at once,
    // and an exec between two of its reads must not pair one program's name with the other's inode
    while (performance.now() < deadline && (read < 2000 || wrong.length === 0)) {
      let startStack: bigint;
      try {
        startStack = readStartStack(`/proc/${pid}`);
      } catch {
        break;
      }
      const e = table.lookup(pid, 0n, 'kiln-exec', false, { exeIno: 0n, startStack });
      if (e.startStack === 0n || e.exeIno === 0n) continue;
      read++;
      const side = e.exe.endsWith('kiln-exec-a') ? 'a' : e.exe.endsWith('kiln-exec-b') ? 'b' : null;
      if (side === null || ino[side] !== e.exeIno) wrong.push(`${e.exe} with inode ${e.exeIno}`);
      const other = side === 'a' ? 'kiln-exec-b' : 'kiln-exec-a';
      if (e.view?.maps().some((m) => m.path.endsWith(other))) wrong.push(`${e.exe} with the mappings of ${other}`);
    }
    pair.kill('SIGKILL');
    assert.ok(read >= 100, `images read: ${read}`);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${read} images mixed with the other program`);
  });
});

describe('a process gone before its first look', () => {
  it("credits the program a shell's fork exec'd to that program, not to the shell, when both images were sampled", async () => {
    // what a drain meets after `$(prog)` under load: samples of the fork while it was still the shell,
    // then of the program it exec'd, and /proc has neither any more
    const p = spawn('true', [], { stdio: 'ignore' });
    await waitExit(p);
    const table = new ProcessTable();
    const shell = table.lookup(p.pid!, 0n, 'bash', false, { exeIno: 101n, startStack: 0x7ffd0001n });
    assert.equal(shell.app, 'bash');
    const prog = table.lookup(p.pid!, 0n, 'kiln-short', false, { exeIno: 202n, startStack: 0x7ffd0002n });
    assert.equal(prog.app, 'kiln-short', "the exec'd program's samples are its own");
    assert.notEqual(prog.serial, shell.serial);
    // and the shell's later samples still find the shell's entry
    assert.equal(table.lookup(p.pid!, 0n, 'bash', false, { exeIno: 101n, startStack: 0x7ffd0001n }).app, 'bash');
  });
});

describe('a sample taken inside exec', () => {
  it("is the new image's: exec sets the stack start at the argument strings first, then moves it below argv and auxv", async () => {
    const p = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => p.once('spawn', r));
    const dir = `/proc/${p.pid}`;
    const { startStack, argStart } = readStackStarts(dir);
    assert.ok(argStart > startStack && argStart - startStack < 65536n, `arg_start ${argStart} just above the stack start ${startStack}`);
    const exeIno = statSync(`${dir}/exe`, { bigint: true }).ino;
    const table = new ProcessTable();
    // the first sample drained is the one exec took (CI: it became a row of its own, no command line)
    const inExec = table.lookup(p.pid!, 0n, 'sleep', false, { exeIno, startStack: argStart });
    assert.equal(inExec.cmdline, 'sleep 30');
    const running = table.lookup(p.pid!, 0n, 'sleep', false, { exeIno, startStack });
    assert.equal(running.serial, inExec.serial, 'one process, one entry');
    p.kill('SIGKILL');
    await waitExit(p);
    assert.equal(table.lookup(p.pid!, 0n, 'sleep', false, { exeIno, startStack: argStart }).serial, inExec.serial, 'and after it is gone');
    // earlier in exec: the new executable's memory, no stack start yet, the parent's name still
    assert.equal(table.lookup(p.pid!, 0n, 'node', false, { exeIno, startStack: 0n }).serial, inExec.serial, "the parent's name in exec is not another process");
  });
});

describe('a process renamed before it exits', () => {
  it('keeps a sample of the image it read under another name with that entry, even after the process is gone', async () => {
    const p = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => p.once('spawn', r));
    const image = { exeIno: statSync(`/proc/${p.pid}/exe`, { bigint: true }).ino, startStack: readStartStack(`/proc/${p.pid}`) };
    const table = new ProcessTable();
    const live = table.lookup(p.pid!, 0n, 'sleep', false, image);
    assert.equal(live.cmdline, 'sleep 30');
    p.kill('SIGKILL');
    await waitExit(p);
    // the kernel says it is the same image (stack start, executable): the same process, its labels kept
    const renamed = table.lookup(p.pid!, 0n, 'sleep-worker', false, image);
    assert.equal(renamed.serial, live.serial, 'one process, one row');
    assert.equal(renamed.cmdline, 'sleep 30');
    // another image of the pid under that name is not credited to it
    const other = table.lookup(p.pid!, 0n, 'sleep-worker', false, { exeIno: image.exeIno, startStack: image.startStack + 4096n });
    assert.notEqual(other.serial, live.serial);
  });
});

describe('command lines', () => {
  it('joins the arguments by spaces, cuts long ones, and reads a kernel thread or a gone process as empty', () => {
    const dir = tempDir('cmdline');
    const proc = (name: string, bytes: string) => {
      const d = join(dir, name);
      execFileSync('mkdir', ['-p', d]);
      writeFileSync(join(d, 'cmdline'), bytes);
      return d;
    };
    assert.equal(readCmdline(proc('py', 'python3\0orders.py\0--port\x008001\0')), 'python3 orders.py --port 8001');
    // a program that rewrote its argv (nginx, postgres): one string, padded with NULs
    assert.equal(readCmdline(proc('nginx', 'nginx: worker process\0\0\0\0')), 'nginx: worker process');
    assert.equal(readCmdline(proc('ctl', 'sh\0-c\0echo a\nb\tc\0')), 'sh -c echo a b c');
    const long = readCmdline(proc('long', `java\0${'-Dx=y\0'.repeat(200)}`));
    assert.equal(long.length, MAX_CMDLINE_CHARS);
    assert.ok(long.startsWith('java -Dx=y -Dx=y') && long.endsWith('…'));
    assert.equal(readCmdline(proc('kthread', '')), '');
    assert.equal(readCmdline(join(dir, 'gone')), '');
    // this very process, as /proc has it
    assert.match(readCmdline(`/proc/${process.pid}`), /process-table\.test\.js/);
  });
});
