/* The store write queue over the embedded engine, with faults injected in front of it: a failed insert
 * is retried from the table that failed (the ones before it are not written twice), `done` runs only
 * after success, and past its bounds the oldest window is dropped and handed back to be counted. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../testing/testkit.js';
import { ChdbStore } from './adapters/chdb.js';
import { StoreError, type QueryParams, type Store } from './store.js';
import { WindowWriteQueue } from './write-queue.js';

/** The real store, with the next `failures` inserts into `table` failing as a full disk would. */
class FaultyStore implements Store {
  readonly kind = 'faulty';
  failures = 0;
  table = '';
  /** when set, inserts wait for it: a store that has stopped answering */
  gate: Promise<void> | null = null;
  constructor(readonly inner: ChdbStore) {}
  exec(sql: string, params?: QueryParams) {
    return this.inner.exec(sql, params);
  }
  query<T>(sql: string, params?: QueryParams) {
    return this.inner.query<T>(sql, params);
  }
  async insert(table: string, rows: readonly Record<string, unknown>[]) {
    if (this.gate) await this.gate;
    if (table === this.table && this.failures > 0) {
      this.failures--;
      throw new StoreError('ClickHouse insert: Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)');
    }
    return this.inner.insert(table, rows);
  }
  close() {
    return this.inner.close();
  }
}

describe('window write queue', () => {
  let inner: ChdbStore;
  let store: FaultyStore;

  before(async () => {
    inner = new ChdbStore(tempDir('queue'));
    await inner.exec('CREATE TABLE a (w UInt32) ENGINE = MergeTree ORDER BY w');
    await inner.exec('CREATE TABLE b (w UInt32) ENGINE = MergeTree ORDER BY w');
    store = new FaultyStore(inner);
  });

  after(() => inner.close());

  const count = async (t: string, w: number) => Number((await inner.query<{ c: string }>(`SELECT count() AS c FROM ${t} WHERE w = {w:UInt32}`, { w }))[0].c);

  it('retries from the table that failed: nothing written twice, done only after success, order kept', async () => {
    const errors: boolean[] = [];
    const q = new WindowWriteQueue(store, { retryDelayMs: 10, onError: (_k, _e, first) => errors.push(first) });
    store.table = 'b';
    store.failures = 3;
    const done: string[] = [];
    for (const w of [1, 2]) {
      q.enqueue('profile', [
        { table: 'a', rows: [{ w }], done: () => done.push(`a${w}`) },
        { table: 'b', rows: [{ w }, { w }], done: () => done.push(`b${w}`) },
      ]);
    }
    assert.equal(done.length, 0, 'enqueue never waits');
    await q.drain(10_000);
    assert.deepEqual(done, ['a1', 'b1', 'a2', 'b2']);
    assert.deepEqual(errors, [true, false, false], 'the first failure of a run is flagged');
    for (const w of [1, 2]) {
      assert.equal(await count('a', w), 1, 'a written once');
      assert.equal(await count('b', w), 2);
    }
    assert.equal(q.stats().insertErrors, 3);
    assert.equal(q.stats().written, 2);
  });

  it('past its bounds drops the oldest window and hands it back to be counted; the rest is written', async () => {
    const dropped: { kind: string; reason: string; meta: unknown }[] = [];
    const q = new WindowWriteQueue(store, { maxWindows: 3, maxRows: 1000, onDropped: (kind, reason, _rows, meta) => dropped.push({ kind, reason, meta }) });
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    for (let w = 10; w < 16; w++) q.enqueue('runq', [{ table: 'a', rows: [{ w }] }], { w });
    assert.ok(q.stats().queuedWindows <= 3);
    // the head (w=10) is being inserted: the next oldest go
    assert.deepEqual(
      dropped.map((d) => (d.meta as { w: number }).w),
      [11, 12, 13],
    );
    assert.ok(dropped.every((d) => d.kind === 'runq' && d.reason === 'queue_full'));
    store.gate = null;
    open();
    await q.drain(10_000);
    for (const w of [10, 14, 15]) assert.equal(await count('a', w), 1, `window ${w} written`);
    for (const w of [11, 12, 13]) assert.equal(await count('a', w), 0, `window ${w} dropped`);
    assert.deepEqual(q.stats().dropped, { 'runq:queue_full': 3 });
    // rows bound
    const r = new WindowWriteQueue(store, { maxWindows: 100, maxRows: 5 });
    store.gate = new Promise((res) => (open = res));
    for (let w = 20; w < 25; w++) r.enqueue('dns', [{ table: 'a', rows: [{ w }, { w }] }]);
    assert.ok(r.stats().queuedRows <= 6, `rows queued ${r.stats().queuedRows}`);
    store.gate = null;
    open();
    await r.drain(10_000);
  });

  it('close() writes what it can, then drops and counts the rest', async () => {
    const dropped: string[] = [];
    const q = new WindowWriteQueue(store, { retryDelayMs: 5, maxRetryDelayMs: 5, onDropped: (k, reason) => dropped.push(`${k}:${reason}`) });
    store.table = 'a';
    store.failures = 1_000_000;
    q.enqueue('netflow', [{ table: 'a', rows: [{ w: 30 }] }]);
    await sleep(50);
    await q.close(200);
    assert.deepEqual(dropped, ['netflow:shutdown']);
    q.enqueue('netflow', [{ table: 'a', rows: [{ w: 31 }] }]);
    assert.deepEqual(dropped, ['netflow:shutdown', 'netflow:shutdown'], 'after close, windows are counted as dropped');
    store.failures = 0;
  });
});
