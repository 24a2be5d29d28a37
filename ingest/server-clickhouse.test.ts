/* `kiln server --clickhouse-url`: agents' windows pushed over gRPC land in a ClickHouse server through
 * @clickhouse/client (here the loopback endpoint that executes on the embedded engine, over the client's
 * real HTTP transport), the schema versioned there, and the server's API reads them back. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WindowEnvelope } from '../pipeline/contracts.js';
import { ClickHouseStore } from '../store/adapters/clickhouse.js';
import { SCHEMA_VERSION } from '../store/schema.js';
import { startClickHouseHttp, type ClickHouseHttpEndpoint } from '../testing/clickhouse-http.js';
import { freePort, getJson, startKilnCommand, tempDir, type KilnProcess } from '../testing/testkit.js';
import { PushSink } from './push-sink.js';
import { Spool } from './spool.js';

const WINDOW = 60;

describe('kiln server storing in a ClickHouse server', () => {
  let endpoint: ClickHouseHttpEndpoint;
  let server: KilnProcess;
  let reader: ClickHouseStore;
  let apiPort: number;
  let ingestPort: number;
  const base = Math.floor(Date.now() / 1000 / WINDOW) * WINDOW - 10 * WINDOW;

  before(async () => {
    endpoint = await startClickHouseHttp(tempDir('ch-server'));
    reader = new ClickHouseStore({ url: endpoint.url });
    [apiPort, ingestPort] = [await freePort(), await freePort()];
    server = await startKilnCommand(
      'server',
      ['--clickhouse-url', endpoint.url, '--data-dir', tempDir('ch-server-journal'), '--listen', `127.0.0.1:${apiPort}`, '--ingest-listen', `127.0.0.1:${ingestPort}`],
      'server listening on',
      60_000,
    );
  });

  after(async () => {
    await server?.stop();
    await reader?.close();
    await endpoint?.close();
  });

  it('stores what an agent pushes there, and serves it from there', async () => {
    assert.match(server.log(), /data in ClickHouse at http:\/\/127\.0\.0\.1:\d+/);
    const m = { file: '/srv/api/bin/api', buildId: 'ab'.repeat(20), start: 0x1000n, limit: 0x9000n, offset: 0x1000n };
    const windows: WindowEnvelope[] = [0, 1, 2].map((i) => ({
      kind: 'profile',
      start: base + i * WINDOW,
      seconds: WINDOW,
      host: 'ignored',
      periodNs: 10_000_000,
      truncatedSamples: 0,
      apps: [{ app: 'api', containerId: '', pid: 700 + i, exe: m.file, cmdline: 'api --port 80', stacks: [{ frames: [{ name: 'main', mapping: m, address: 0x1100n }, { name: 'serve', mapping: m, address: 0x1200n }], count: 10 * (i + 1) }] }],
    }));
    const sink = new PushSink({
      target: { address: `127.0.0.1:${ingestPort}` },
      agentId: 'agent-ch-0001',
      host: { name: 'host-ch', addresses: [], zone: '', zoneId: '', region: '', provider: 'other', agentVersion: 'test' },
      spool: new Spool({ dir: tempDir('ch-spool'), maxBytes: 1 << 30, maxAgeMs: 86_400_000 }),
      minRetryMs: 50,
      maxRetryMs: 400,
      deadlineMs: 10_000,
      log: () => undefined,
    });
    for (const w of windows) {
      sink.write(w);
      sink.seal();
    }
    await sink.flush(30_000);
    assert.equal(sink.stats().pushes.OK, 3, JSON.stringify(sink.stats()));
    await sink.close(1000);

    // in the ClickHouse server, once, with the schema version recorded there
    const [row] = await reader.query<{ n: string; procs: string }>(`SELECT sum(samples) AS n, uniqExact(pid) AS procs FROM profile_samples WHERE host = 'host-ch'`);
    assert.deepEqual([Number(row.n), Number(row.procs)], [60, 3]);
    const [hourly] = await reader.query<{ n: string }>(`SELECT sum(samples) AS n FROM profile_samples_1h WHERE host = 'host-ch'`);
    assert.equal(Number(hourly.n), 60, 'the rollup filled by the server\'s view');
    const [v] = await reader.query<{ version: number }>('SELECT max(version) AS version FROM kiln_schema');
    assert.equal(Number(v.version), SCHEMA_VERSION);

    // and the server's API reads it back from there
    const q = `from=${base}&to=${base + 3 * WINDOW}`;
    const apps = await getJson<{ app: string; host: string; cpu_seconds: number }[]>(`http://127.0.0.1:${apiPort}/api/v1/apps?${q}`);
    assert.deepEqual(apps.body, [{ app: 'api', host: 'host-ch', cpu_seconds: 0.6, first_seen: new Date(base * 1000).toISOString().replace('.000', ''), last_seen: new Date((base + 3 * WINDOW) * 1000).toISOString().replace('.000', '') }]);
    const tree = await getJson<{ value: number }>(`http://127.0.0.1:${apiPort}/api/v1/profile/flamegraph?app=api&${q}&pid=701`);
    assert.equal(tree.body.value, 20);
    const status = await getJson<{ store: { engine: { kind: string } } }>(`http://127.0.0.1:${apiPort}/api/v1/status`);
    assert.equal(status.body.store.engine.kind, 'clickhouse');
  });

  it('refuses to start, with one line, when the ClickHouse server does not answer', async () => {
    const port = await freePort();
    const r = await startKilnCommand('server', ['--clickhouse-url', `http://127.0.0.1:${port}`, '--data-dir', tempDir('ch-none'), '--listen', `127.0.0.1:${await freePort()}`, '--ingest-listen', `127.0.0.1:${await freePort()}`], 'server listening on', 30_000).then(
      () => null,
      (e: Error) => e.message,
    );
    assert.match(r ?? 'it started', /exited with 1:\n/);
    const out = (r ?? '').split('exited with 1:\n')[1].trim();
    assert.equal(out.split('\n').length, 1, out);
    assert.match(out, new RegExp(`^kiln: the ClickHouse server at http://127\\.0\\.0\\.1:${port} does not answer: .*ECONNREFUSED`));
  });
});
