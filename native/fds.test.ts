/* The addon's file descriptors: each closed once, by its owner. A second close() of a number closes
 * whatever the process opened under it since; in Kiln that was the embedded store's epoll and files,
 * whose inserts then failed with "Bad file descriptor" and whose shutdown aborted. Traced with strace
 * on a child that opens, loads, attaches on every CPU and closes the profiler's object. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bpfTest, repoRoot, tempDir } from '../testing/testkit.js';

describe('native addon file descriptors', bpfTest(), () => {
  it('closing a BPF object closes each perf event fd exactly once', () => {
    const trace = join(tempDir('strace'), 'trace');
    const script = `
      import { BpfObject, numPossibleCpus } from ${JSON.stringify(join(repoRoot, 'dist/native/index.js'))};
      const [obj] = BpfObject.load('profile', {}, (o) => { for (let cpu = 0; cpu < numPossibleCpus(); cpu++) o.attachCpuClock('kiln_profile', cpu, 10_000_000); });
      obj.close();
    `;
    execFileSync('strace', ['-f', '-qq', '-e', 'trace=close,perf_event_open', '-e', 'signal=none', '-o', trace, process.execPath, '--input-type=module', '-e', script], { stdio: 'pipe' });
    const lines = readFileSync(trace, 'utf8').split('\n');
    const perfFds = lines.flatMap((l) => /perf_event_open\(.*\) = (\d+)$/.exec(l)?.[1] ?? []).map(Number);
    assert.ok(perfFds.length >= 1, `perf events opened: ${perfFds.length}`);
    const closes = lines.flatMap((l) => /close\((\d+)\)\s+= (.*)$/.exec(l) ?? []).length;
    assert.ok(closes > 0);
    const closedTwice = lines.filter((l) => /close\(\d+\)\s+= -1 EBADF/.test(l));
    assert.deepEqual(closedTwice, [], 'no close() of a number already closed');
    // and every perf event fd is closed (numbers are reused by later opens, so: in order)
    const open = new Set<number>();
    for (const l of lines) {
      const opened = /perf_event_open\(.*\) = (\d+)$/.exec(l);
      if (opened) open.add(Number(opened[1]));
      const closed = /close\((\d+)\)\s+= 0/.exec(l);
      if (closed) open.delete(Number(closed[1]));
    }
    assert.deepEqual([...open], [], 'perf event fds left open');
  });
});
