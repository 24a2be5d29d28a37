/* perf-PID.map files are written by the watched process, in a directory it controls: read as hostile
 * input. A FIFO must not block, a symlink is not followed, another user's file is refused, a huge file
 * is read in bounded steps up to a bound, and a growing one is read only where it grew. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../testing/testkit.js';
import { PERF_MAP_MAX_BYTES, PERF_MAP_READ_CHUNK, PerfMap } from './perf-map.js';

const line = (addr: number, name: string) => `${addr.toString(16)} 10 ${name}\n`;

describe('perf map files as hostile input', () => {
  it('refuses a FIFO at once instead of waiting for a writer', () => {
    const path = join(tempDir('pm'), 'perf-1.map');
    execFileSync('mkfifo', [path]);
    const pm = new PerfMap(path, 0);
    const t0 = performance.now();
    assert.equal(pm.refresh(), false);
    assert.ok(performance.now() - t0 < 1000, 'did not block');
    assert.equal(pm.refused, 'not_regular_file');
  });

  it('does not follow a symlink (e.g. to /dev/zero or another user\'s file)', () => {
    const dir = tempDir('pm');
    const target = join(dir, 'real.map');
    writeFileSync(target, line(0x1000, 'f'));
    symlinkSync(target, join(dir, 'perf-2.map'));
    symlinkSync('/dev/zero', join(dir, 'perf-3.map'));
    assert.equal(new PerfMap(join(dir, 'perf-2.map'), 0).refresh(), false);
    assert.equal(new PerfMap(join(dir, 'perf-3.map'), 0).refresh(), false);
  });

  it("refuses a file owned by another user than the process's (root-owned is accepted)", { skip: process.geteuid?.() !== 0 ? 'needs root to chown' : undefined }, () => {
    const path = join(tempDir('pm'), 'perf-4.map');
    writeFileSync(path, line(0x1000, 'f'));
    chownSync(path, 65534, 65534);
    const pm = new PerfMap(path, 0, 1000);
    assert.equal(pm.refresh(), false);
    assert.equal(pm.refused, 'wrong_owner');
    assert.equal(new PerfMap(path, 0, 65534).refresh(), true, 'the owner matches');
    chownSync(path, 0, 0);
    assert.equal(new PerfMap(path, 0, 1000).refresh(), true, 'root-owned');
  });

  it('reads a growing file only where it grew, and finds what was appended', () => {
    const path = join(tempDir('pm'), 'perf-5.map');
    writeFileSync(path, line(0x1000, 'first') + '2000 10 half-writ');
    const pm = new PerfMap(path, 0);
    assert.equal(pm.refresh(), true);
    assert.equal(pm.table!.lookup(0x1004n)?.name, 'first');
    assert.equal(pm.table!.lookup(0x2004n), null, 'an unterminated line waits for its end');
    appendFileSync(path, 'ten\n' + line(0x3000, 'third'));
    assert.equal(pm.refresh(), true);
    assert.equal(pm.table!.lookup(0x2004n)?.name, 'half-written');
    assert.equal(pm.table!.lookup(0x3004n)?.name, 'third');
    assert.equal(pm.table!.lookup(0x1004n)?.name, 'first', 'older lines stay');
    // many appends: segments merge, the newest line for an address wins
    for (let i = 0; i < 200; i++) appendFileSync(path, line(0x10000 + i * 0x100, `f${i}`) + line(0x1000, `first-v${i}`));
    for (let i = 0; i < 200; i++) pm.refresh();
    assert.equal(pm.table!.lookup(0x1004n)?.name, 'first-v199');
    assert.equal(pm.table!.lookup(0x10000n + 150n * 0x100n + 4n)?.name, 'f150');
    // rewritten from the start (shorter): read again from the start
    writeFileSync(path, line(0x5000, 'fresh'));
    pm.refresh();
    assert.equal(pm.table!.lookup(0x5004n)?.name, 'fresh');
    assert.equal(pm.table!.lookup(0x1004n), null);
  });

  it('reads a huge file in bounded steps up to a bound, holding symbols compactly', () => {
    const path = join(tempDir('pm'), 'perf-6.map');
    const n = 40_000;
    const chunk = Array.from({ length: n }, (_, i) => line(0x7f0000000000 + i * 0x40, `LazyCompile:*handler_${i} /srv/app/lib/module_${i % 97}.js:${i}`)).join('');
    writeFileSync(path, '');
    for (let size = 0; size <= PERF_MAP_MAX_BYTES + PERF_MAP_READ_CHUNK; size = statSync(path).size) appendFileSync(path, chunk);
    const pm = new PerfMap(path, 0);
    pm.refresh();
    assert.ok(pm.table!.size > 0 && pm.table!.size < n * 3, `first step read a chunk, not the file: ${pm.table!.size} symbols`);
    for (let i = 0; i < 20; i++) pm.refresh();
    assert.equal(pm.truncated, true, 'past the bound the rest is ignored and said so');
    const perLine = Buffer.byteLength(line(0x7f0000000000, 'LazyCompile:*handler_0 /srv/app/lib/module_0.js:0'));
    assert.ok(pm.table!.size <= PERF_MAP_MAX_BYTES / (perLine - 6), `at most the bound's worth of lines: ${pm.table!.size}`);
    assert.ok(pm.bytes < PERF_MAP_MAX_BYTES * 1.2, `symbols take ${pm.bytes} bytes for ${PERF_MAP_MAX_BYTES} bytes of file`);
    assert.equal(pm.table!.lookup(BigInt(0x7f0000000000 + 5 * 0x40 + 1))?.name, 'LazyCompile:*handler_5 /srv/app/lib/module_5.js:5');
    truncateSync(path, 0);
  });
});
