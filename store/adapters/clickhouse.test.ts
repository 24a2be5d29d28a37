/* The @clickhouse/client adapter passes the Store contract over the client's real HTTP transport,
 * against a loopback endpoint that executes on the embedded engine (testing/clickhouse-http.ts); it
 * sends every setting the answers depend on, compresses both ways, and reports errors as StoreError. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startClickHouseHttp, type ClickHouseHttpEndpoint } from '../../testing/clickhouse-http.js';
import { tempDir } from '../../testing/testkit.js';
import { runStoreContract } from '../store.contract.js';
import { StoreError } from '../store.js';
import { ClickHouseStore, parseClickHouseUrl } from './clickhouse.js';

// one engine per process: one endpoint for the file
let shared: Promise<ClickHouseHttpEndpoint> | undefined;
const endpoint = () => (shared ??= startClickHouseHttp(tempDir('ch-http')));
after(async () => {
  await (await shared)?.close();
});

runStoreContract({
  name: '@clickhouse/client over HTTP',
  make: async () => new ClickHouseStore({ url: (await endpoint()).url }),
});

describe('@clickhouse/client adapter', () => {
  let e: ClickHouseHttpEndpoint;
  let store: ClickHouseStore;

  before(async () => {
    e = await endpoint();
    store = new ClickHouseStore({ url: `${e.url.replace('http://', 'http://kiln:s3cret@')}/default`, queryTimeoutSeconds: 12 });
  });

  after(() => store?.close());

  it('sends the settings answers depend on with every call, compressed both ways, as the URL\'s user', async () => {
    const seen = e.log.settings.length;
    await store.exec('CREATE TABLE t (id UInt64, at DateTime) ENGINE = MergeTree ORDER BY id');
    await store.insert('t', [{ id: '18446744073709551615', at: 0 }]);
    const rows = await store.query<{ id: string; at: string }>('SELECT id, at FROM t');
    // 64-bit as a string, the DateTime in UTC whatever the server's zone
    assert.deepEqual(rows, [{ id: '18446744073709551615', at: '1970-01-01 00:00:00' }]);
    assert.equal(e.log.settings.length - seen, 3);
    for (const s of e.log.settings.slice(seen)) {
      assert.equal(s.output_format_json_quote_64bit_integers, '1');
      assert.equal(s.session_timezone, 'UTC');
      assert.equal(s.async_insert, '0');
      assert.equal(s.max_execution_time, '12');
    }
    assert.ok(e.log.gzipRequests >= 1, 'the insert body went gzipped');
    assert.ok(e.log.gzipResponses >= 1, 'answers came gzipped');
    assert.deepEqual([...new Set(e.log.users.slice(seen))], ['kiln']);
  });

  it('reports the server\'s errors as StoreError with its message, and a server that is not there', async () => {
    await assert.rejects(store.query('SELECT nope FROM nowhere'), (x: unknown) => x instanceof StoreError && /UNKNOWN_TABLE|nowhere/.test((x as Error).message));
    const gone = new ClickHouseStore({ url: 'http://127.0.0.1:1' });
    try {
      await assert.rejects(gone.query('SELECT 1'), (x: unknown) => x instanceof StoreError && /ECONNREFUSED/.test((x as Error).message));
      const ping = await gone.ping();
      assert.equal(ping.ok, false);
    } finally {
      await gone.close();
    }
    assert.deepEqual(await store.ping(), { ok: true });
  });

  it('takes credentials and the database from the URL, and refuses what is not a ClickHouse URL', () => {
    assert.deepEqual(parseClickHouseUrl('https://kiln:p%40ss@ch.internal:8443/profiles'), { url: 'https://ch.internal:8443', username: 'kiln', password: 'p@ss', database: 'profiles' });
    assert.deepEqual(parseClickHouseUrl('http://ch:8123'), { url: 'http://ch:8123' });
    assert.throws(() => parseClickHouseUrl('ch:8123'), /ch: is not http: or https:/);
    assert.throws(() => parseClickHouseUrl('not a url'), /is not a URL/);
    assert.throws(() => parseClickHouseUrl('http://ch:8123/a/b'), /is not a database name/);
  });
});
