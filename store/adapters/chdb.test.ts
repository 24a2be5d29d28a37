/* The embedded engine passes the Store contract; a call that runs past its bound is reported while it
 * runs, and closing refuses the reads nobody will wait for while the writes already queued go in. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../../testing/testkit.js';
import { runStoreContract } from '../store.contract.js';
import { ChdbStore } from './chdb.js';

runStoreContract({ name: 'embedded chDB', make: () => new ChdbStore(tempDir('contract')) });

describe('embedded chDB: a long call and closing', () => {
  it('reports a call past the stall bound once, while it runs; close refuses queued reads, keeps queued writes', async () => {
    const dir = tempDir('stall');
    const stalls: [string, number][] = [];
    const store = new ChdbStore(dir, { stallSeconds: 1, onStall: (what, seconds) => stalls.push([what, seconds]) });
    await store.exec('CREATE TABLE t (x UInt32) ENGINE = MergeTree ORDER BY x');
    const slow = store.query<{ s: number }>('SELECT sleep(2.5) AS s');
    assert.match(store.stats().running?.what ?? '', /^SELECT sleep\(2\.5\)/);
    const read = store.query('SELECT 1 AS one');
    const write = store.insert('t', [{ x: 7 }]);
    assert.deepEqual({ writes: store.stats().queuedWrites, reads: store.stats().queuedReads }, { writes: 1, reads: 1 });
    const closing = store.close();
    await assert.rejects(read, /store is closed/);
    await slow;
    await write;
    await closing;
    assert.equal(stalls.length, 1, JSON.stringify(stalls));
    assert.match(stalls[0][0], /^SELECT sleep/);
    assert.ok(stalls[0][1] >= 1 && stalls[0][1] < 2.5, `reported after ${stalls[0][1]} s`);
    assert.equal(store.stats().stalls, 1);
    await assert.rejects(store.query('SELECT 1'), /store is closed/);

    const again = new ChdbStore(dir);
    try {
      assert.deepEqual(await again.query('SELECT x FROM t'), [{ x: 7 }]);
    } finally {
      await again.close();
    }
  });
});
