import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { tempDir } from '../profiler/testkit.js';
import type { Frame } from '../profiler/types.js';
import { ChdbStore } from '../store/chdb-store.js';
import { ProfileRepository } from '../store/profiles.js';
import { schemaStatements } from '../store/schema.js';
import { createApi } from './api.js';
import { parseTime } from './time-params.js';

// the API's clock, near the real one: data older than the retention TTL is dropped on insert
const NOW = Math.floor(Date.now() / 60_000) * 60;
const exe = { file: '/usr/bin/svc', buildId: 'ab'.repeat(20), start: 0x1000n, limit: 0x9000n, offset: 0x1000n };
const libc = { file: '/usr/lib/x86_64-linux-gnu/libc.so.6', buildId: 'cd'.repeat(20), start: 0x28000n, limit: 0x1bd000n, offset: 0x28000n };
const f = (name: string, mapping: typeof exe, address: bigint): Frame => ({ name, mapping, address });

describe('HTTP API over the embedded store', () => {
  let store: ChdbStore;
  let api: ReturnType<typeof createApi>;

  before(async () => {
    store = new ChdbStore(tempDir('api'));
    for (const s of schemaStatements({ retentionDays: 7 })) await store.exec(s);
    const profiles = new ProfileRepository(store);
    const stacks = [
      { frames: [f('main', exe, 0x1100n), f('handle', exe, 0x1200n), f('memcpy', libc, 0x30000n)], count: 30 },
      { frames: [f('main', exe, 0x1100n), f('handle', exe, 0x1210n)], count: 10 },
    ];
    for (const start of [NOW - 600, NOW - 540]) {
      await profiles.writeWindow({ start, seconds: 60, host: 'h1', periodNs: 10_000_000, truncatedSamples: 0, apps: [{ app: 'svc', containerId: 'c'.repeat(64), stacks }] });
    }
    api = createApi({ profiles, defaultPeriodNs: 10_000_000, now: () => NOW });
  });

  after(() => store.close());

  const get = (path: string) => api.request(path);

  it('lists apps seen in the range, with container and times', async () => {
    const r = await get(`/api/v1/apps?from=${NOW - 3600}&to=${NOW}`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), [
      { app: 'svc', container_id: 'c'.repeat(64), host: 'h1', first_seen: new Date((NOW - 600) * 1000).toISOString().replace('.000', ''), last_seen: new Date((NOW - 480) * 1000).toISOString().replace('.000', '') },
    ]);
    assert.deepEqual(await (await get(`/api/v1/apps?from=${NOW - 100}&to=${NOW}`)).json(), []);
  });

  it('returns the flamegraph tree summed over windows, accepting RFC 3339 and relative times', async () => {
    for (const q of [`from=${NOW - 3600}&to=${NOW}`, `from=now-1h&to=now`, `from=${new Date((NOW - 3600) * 1000).toISOString()}&to=now`]) {
      const r = await get(`/api/v1/profile/flamegraph?app=svc&${q}`);
      assert.equal(r.status, 200, q);
      const t = (await r.json()) as { name: string; value: number; children: { name: string; value: number; children: { name: string; value: number }[] }[] };
      assert.equal(t.name, 'svc');
      assert.equal(t.value, 80);
      assert.equal(t.children[0].name, 'main');
      assert.deepEqual(
        t.children[0].children.map((c) => [c.name, c.value]),
        [['handle', 80]],
      );
    }
  });

  it('serves pprof that decodes to the same totals, with mappings and addresses', async () => {
    const r = await get(`/api/v1/profile/pprof?app=svc&from=${NOW - 3600}&to=${NOW}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-disposition') ?? '', /attachment; filename="svc-\d+-\d+\.pb\.gz"/);
    const p = Profile.decode(gunzipSync(Buffer.from(await r.arrayBuffer())));
    assert.equal(p.sample.reduce((s, x) => s + Number(x.value[0]), 0), 80);
    assert.equal(p.sample.reduce((s, x) => s + Number(x.value[1]), 0), 80 * 10_000_000);
    assert.equal(Number(p.period), 10_000_000);
    assert.equal(Number(p.timeNanos), (NOW - 3600) * 1e9);
    assert.equal(Number(p.durationNanos), 3600 * 1e9);
    const files = p.mapping.map((m) => p.stringTable.strings[Number(m.filename)]).sort();
    assert.deepEqual(files, [exe.file, libc.file]);
    // mappings do not overlap and each location lies inside its mapping
    const byId = new Map(p.mapping.map((m) => [Number(m.id), m]));
    for (const l of p.location) {
      const m = byId.get(Number(l.mappingId))!;
      assert.ok(BigInt(l.address) >= BigInt(m.memoryStart) && BigInt(l.address) < BigInt(m.memoryLimit));
      assert.equal(BigInt(l.address) - BigInt(m.memoryStart) + BigInt(m.fileOffset) >= 0n, true);
    }
    // memcpy is the leaf of the 30-sample stack
    const memcpy = p.function.find((fn) => p.stringTable.strings[Number(fn.name)] === 'memcpy')!;
    const loc = p.location.find((l) => Number(l.line[0].functionId) === Number(memcpy.id))!;
    const leafSamples = p.sample.filter((s) => Number(s.locationId[0]) === Number(loc.id)).reduce((a, s) => a + Number(s.value[0]), 0);
    assert.equal(leafSamples, 60);
  });

  it('answers 400 with the reason for bad parameters', async () => {
    const cases: [string, RegExp][] = [
      ['/api/v1/profile/flamegraph?from=now-1h', /app: app is required/],
      ['/api/v1/profile/flamegraph?app=', /app is required/],
      ['/api/v1/profile/flamegraph?app=svc&from=now&to=now-1h', /from must be before to/],
      ['/api/v1/profile/flamegraph?app=svc&from=yesterday', /"yesterday" is not a time/],
      ['/api/v1/profile/pprof?app=svc&from=2026-13-45T99:00:00Z', /is not a time/],
      ['/api/v1/profile/flamegraph?app=svc&from=1790000000000', /looks like milliseconds/],
      ['/api/v1/apps?to=banana', /to: "banana" is not a time/],
    ];
    for (const [path, reason] of cases) {
      const r = await get(path);
      assert.equal(r.status, 400, path);
      assert.match(((await r.json()) as { error: string }).error, reason, path);
    }
  });

  it('answers 404 for an app never seen and for unknown paths', async () => {
    for (const path of ['/api/v1/profile/flamegraph?app=ghost', '/api/v1/profile/pprof?app=ghost']) {
      const r = await get(path);
      assert.equal(r.status, 404);
      assert.match(((await r.json()) as { error: string }).error, /"ghost" has never been seen/);
    }
    assert.equal((await get('/api/v1/nope')).status, 404);
  });

  it('keeps data for the retention period only (TTL)', async () => {
    const profiles = new ProfileRepository(store);
    const old = NOW - 8 * 86400;
    await profiles.writeWindow({ start: old, seconds: 60, host: 'h1', periodNs: 1, truncatedSamples: 0, apps: [{ app: 'ancient', containerId: '', stacks: [{ frames: [f('main', exe, 0x1100n)], count: 1 }] }] });
    await store.exec('OPTIMIZE TABLE profile_samples FINAL');
    await store.exec('OPTIMIZE TABLE app_windows FINAL');
    const rows = await store.query("SELECT count() AS n FROM profile_samples WHERE app = 'ancient'");
    assert.equal(Number((rows[0] as { n: string }).n), 0);
    assert.equal((await get(`/api/v1/profile/flamegraph?app=ancient&from=${old - 60}&to=${old + 120}`)).status, 404);
  });

  it('answers 200 with an empty tree for a known app outside its data', async () => {
    const r = await get(`/api/v1/profile/flamegraph?app=svc&from=${NOW - 60}&to=${NOW}`);
    assert.deepEqual(await r.json(), { name: 'svc', value: 0, children: [] });
  });

  it('answers 500 without internals when the store fails', async () => {
    const broken = createApi({
      profiles: { appExists: async () => true, stacks: async () => Promise.reject(new Error('secret table detail')) } as unknown as ProfileRepository,
      defaultPeriodNs: 1,
      now: () => NOW,
      onError: () => {},
    });
    const r = await broken.request('/api/v1/profile/flamegraph?app=svc');
    assert.equal(r.status, 500);
    assert.deepEqual(await r.json(), { error: 'internal error' });
  });
});

describe('time parameters', () => {
  it('parses unix seconds, RFC 3339 and now-N', () => {
    assert.equal(parseTime('1700000000', NOW), 1700000000);
    assert.equal(parseTime('1700000000.5', NOW), 1700000000.5);
    assert.equal(parseTime('2023-11-14T22:13:20Z', NOW), 1700000000);
    assert.equal(parseTime('2023-11-14T23:13:20+01:00', NOW), 1700000000);
    assert.equal(parseTime('now', NOW), NOW);
    assert.equal(parseTime('now-90m', NOW), NOW - 5400);
    assert.equal(parseTime('now-2d', NOW), NOW - 172800);
    assert.equal(typeof parseTime('now+1h', NOW), 'string');
  });
});
