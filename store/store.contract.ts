/* The contract every Store adapter runs (in the style of hono's router/common.case.test.ts): the
 * embedded engine now, the ClickHouse server adapter next. The same SQL text, the same answers. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { schemaStatements, TABLES } from './schema.js';
import { StoreError, runInserts, type Store } from './store.js';
import { ProfileRepository } from './tables/profiles.js';

export interface StoreCase {
  name: string;
  /** a fresh, empty store */
  make(): Promise<Store> | Store;
}

export function runStoreContract(c: StoreCase): void {
  describe(`Store contract: ${c.name}`, () => {
    let store: Store;
    // near now: rows older than the retention TTL may be dropped as soon as they are inserted
    const NOW = Math.floor(Date.now() / 1000);

    before(async () => {
      store = await c.make();
      for (const sql of schemaStatements({ retentionDays: 7 })) await store.exec(sql);
    });

    after(() => store.close());

    it('creates every table of the schema, and applying it again changes nothing', async () => {
      for (const sql of schemaStatements({ retentionDays: 7 })) await store.exec(sql);
      const rows = await store.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name');
      const names = rows.map((r) => r.name);
      for (const t of TABLES) assert.ok(names.includes(t.name), `${t.name} in ${names.join(', ')}`);
      for (const t of TABLES) {
        const cols = await store.query<{ name: string }>('SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position', { t: t.name });
        assert.deepEqual(cols.map((x) => x.name), Object.keys(t.columns), `${t.name}: columns as defined`);
      }
    });

    it('inserts rows with 64-bit values given as strings, and answers them as strings', async () => {
      const big = '18446744073709551615';
      await store.insert('profile_stacks', [{ stack_id: big, functions: ['main'], addresses: ['18446744073709551000'], mapping_ids: [big], last_seen: NOW }]);
      const rows = await store.query<{ stack_id: unknown; addresses: unknown[] }>('SELECT stack_id, addresses FROM profile_stacks WHERE stack_id = {id:UInt64}', { id: BigInt(big) });
      assert.deepEqual(rows, [{ stack_id: big, addresses: ['18446744073709551000'] }]);
    });

    it('binds {name:Type} parameters, arrays included', async () => {
      const rows = await store.query<{ n: string; s: string; a: number[] }>('SELECT toUInt64({n:UInt64}) AS n, {s:String} AS s, {a:Array(UInt32)} AS a', { n: 42n, s: "it's", a: [1, 2, 3] });
      assert.deepEqual(rows, [{ n: '42', s: "it's", a: [1, 2, 3] }]);
    });

    it('does nothing for an empty insert, refuses a bad table name, and reports engine errors as StoreError', async () => {
      await store.insert('profile_samples', []);
      await assert.rejects(store.insert('x; DROP TABLE profile_samples', [{ a: 1 }]), StoreError);
      await assert.rejects(store.query('SELECT nope FROM nowhere'), (e: unknown) => e instanceof StoreError && /nowhere|UNKNOWN_TABLE|doesn't exist/i.test((e as Error).message));
    });

    it('stores an insert sent again with the same token once, its rollups included; without a token, twice', async () => {
      const ts = Math.floor(NOW / 60) * 60 - 120;
      const row = { ts, window_seconds: 60, host: 'dedup', app: 'dedup-app', container_id: '', stack_id: '7', samples: 5, period_ns: 10_000_000 };
      const sum = async (table: string) => Number((await store.query<{ n: string }>(`SELECT sum(samples) AS n FROM ${table} WHERE app = 'dedup-app'`))[0].n);
      await store.insert('profile_samples', [row], { dedupToken: 'agent-1:1:profile_samples' });
      await store.insert('profile_samples', [row], { dedupToken: 'agent-1:1:profile_samples' });
      assert.equal(await sum('profile_samples'), 5);
      assert.equal(await sum('profile_samples_1h'), 5, 'the rollup is not fed twice');
      await store.insert('profile_samples', [row], { dedupToken: 'agent-1:2:profile_samples' });
      await store.insert('profile_samples', [row]);
      await store.insert('profile_samples', [row]);
      assert.equal(await sum('profile_samples'), 20);
      assert.equal(await sum('profile_samples_1d'), 20);
    });

    it('round-trips a profile window through the table modules', async () => {
      const profiles = new ProfileRepository(store);
      const m = { file: '/bin/x', buildId: 'ab', start: 0x1000n, limit: 0x2000n, offset: 0n };
      const start = Math.floor(Date.now() / 60_000) * 60;
      await runInserts(store, profiles.prepareWindow({ start, seconds: 60, host: 'h', periodNs: 10_000_000, truncatedSamples: 0, apps: [{ app: 'x', containerId: '', stacks: [{ frames: [{ name: 'main', mapping: m, address: 0x1100n }], count: 7 }] }] }));
      assert.equal(await profiles.appExists('x'), true);
      assert.equal(await profiles.appExists('y'), false);
      assert.deepEqual(await profiles.stacks('x', { from: start, to: start + 60 }), [{ functions: ['main'], samples: 7, cpu_ns: 70_000_000 }]);
    });

    it('runs one call at a time however many are issued at once, writes included', async () => {
      const n = 40;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => (i % 4 === 0 ? store.insert('collector_losses', [{ ts: NOW - i, window_seconds: 1, host: 'h', collector: 'c', reason: 'r', count: 1 }]).then(() => null) : store.query<{ x: string }>('SELECT {i:UInt32} AS x', { i }))));
      results.forEach((r, i) => {
        if (r) assert.deepEqual(r, [{ x: i }]);
      });
      const [{ c }] = await store.query<{ c: string }>("SELECT count() AS c FROM collector_losses WHERE collector = 'c'");
      assert.equal(Number(c), n / 4);
    });
  });
}
