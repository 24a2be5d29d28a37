import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { tempDir } from '../testing/testkit.js';
import type { Frame } from '../profiler/types.js';
import { ChdbStore } from '../store/adapters/chdb.js';
import { ProfileRepository } from '../store/tables/profiles.js';
import { LossRepository } from '../store/tables/collector-losses.js';
import { runInserts } from '../store/store.js';
import { schemaStatements } from '../store/schema.js';
import { createApi } from './api.js';
import { isLoopback } from './auth.js';
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
      { app: 'svc', container_id: 'c'.repeat(64), host: 'h1', first_seen: new Date((NOW - 600) * 1000).toISOString().replace('.000', ''), last_seen: new Date((NOW - 480) * 1000).toISOString().replace('.000', ''), cpu_seconds: 0.8 },
    ]);
    assert.deepEqual(await (await get(`/api/v1/apps?from=${NOW - 100}&to=${NOW}`)).json(), []);
  });

  it("gives an app's CPU over time in cores; a bad step is a 400 with the reason, an unknown app a 404", async () => {
    const r = await get(`/api/v1/profile/series?app=svc&from=${NOW - 3600}&to=${NOW}`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { step: number; points: { t: number; cores: number }[] };
    const cpu = body.points.reduce((s, p) => s + p.cores * body.step, 0);
    assert.ok(Math.abs(cpu - 0.8) < 1e-3, `the points hold the app's CPU seconds: ${cpu}`);
    const bad = await get(`/api/v1/profile/series?app=svc&from=now-1h&to=now&step=0`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /step must be at least 1 second/);
    assert.equal((await get(`/api/v1/profile/series?app=nope&from=now-1h&to=now`)).status, 404);
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

  it('with a CPU price, gives dollars beside CPU time: the range, the month at its rate, per function, and in pprof', async () => {
    const price = { usdPerCoreHour: 0.09, instanceType: '', source: 'test price' };
    const priced = createApi({ profiles: new ProfileRepository(store), defaultPeriodNs: 10_000_000, now: () => NOW, cpuPrice: price });
    // 80 samples of 10 ms: 0.8 CPU-s over an hour at 0.09 $/core-hour
    const fg = (await (await priced.request(`/api/v1/profile/flamegraph?app=svc&from=${NOW - 3600}&to=${NOW}`)).json()) as { value: number; cost: Record<string, unknown> };
    assert.equal(fg.value, 80);
    assert.deepEqual(fg.cost, { cpu_seconds: 0.8, usd: 0.00002, usd_per_month: 0.0146, range_seconds: 3600, unit_price: 0.09, unit: 'USD per core-hour', instance_type: '', price_source: 'test price' });
    // without a price, no dollars (null), the tree as before
    assert.equal(((await (await get(`/api/v1/profile/flamegraph?app=svc&from=${NOW - 3600}&to=${NOW}`)).json()) as { cost: unknown }).cost, null);

    // two one-minute windows, the same work: each side 0.4 CPU-s a minute = 0.438 $/month; memcpy 3/4 of it
    const ch = (await (await priced.request(`/api/v1/profile/changes?app=svc&from=${NOW - 540}&to=${NOW - 480}&base_from=${NOW - 600}&base_to=${NOW - 540}&min_samples=1`)).json()) as {
      cost: { usd_per_month: number };
      base_cost: { usd_per_month: number };
      functions: { function: string; total_usd_per_month: number; total_usd_per_month_base: number; total_usd_per_month_delta: number; self_usd_per_month: number }[];
    };
    assert.equal(ch.cost.usd_per_month, 0.438);
    assert.equal(ch.base_cost.usd_per_month, 0.438);
    const memcpy = ch.functions.find((r) => r.function === 'memcpy')!;
    assert.deepEqual([memcpy.total_usd_per_month, memcpy.total_usd_per_month_base, memcpy.total_usd_per_month_delta, memcpy.self_usd_per_month], [0.3285, 0.3285, 0, 0.3285]);
    const r = await priced.request(`/api/v1/profile/pprof?app=svc&from=${NOW - 3600}&to=${NOW}`);
    const p = Profile.decode(gunzipSync(Buffer.from(await r.arrayBuffer())));
    const types = p.sampleType.map((t) => `${p.stringTable.strings[Number(t.type)]}/${p.stringTable.strings[Number(t.unit)]}`);
    assert.deepEqual(types, ['samples/count', 'cpu/nanoseconds', 'cost/microdollars']);
    // each sample's cost is its CPU time at the price, in micro-dollars: 0.6 s -> 15, 0.2 s -> 5
    assert.deepEqual(p.sample.map((s) => [Number(s.value[1]), Number(s.value[2])]).sort((x, y) => y[0] - x[0]), [[600_000_000, 15], [200_000_000, 5]]);
    assert.ok(p.comment.some((c) => /cost: 0\.09 USD per core-hour \(test price\)/.test(p.stringTable.strings[Number(c)])));
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
    assert.deepEqual(await r.json(), { name: 'svc', value: 0, children: [], cost: null });
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

describe('process labels in the API', () => {
  let store: ChdbStore;
  let api: ReturnType<typeof createApi>;
  const t = NOW - 1200;
  const A = { pid: 501, exe: '/usr/bin/python3.11', cmdline: 'python3 orders.py' };
  const B = { pid: 502, exe: '/usr/bin/python3.11', cmdline: 'python3 billing.py' };

  before(async () => {
    store = new ChdbStore(tempDir('api-labels'));
    for (const s of schemaStatements({ retentionDays: 7 })) await store.exec(s);
    const profiles = new ProfileRepository(store);
    const st = (leaf: string, count: number) => [{ frames: [f('main', exe, 1n), f(leaf, exe, 2n + BigInt(leaf.length))], count }];
    // A: orders 40 then 80; B: billing 60 then 60
    for (const [start, a] of [
      [t, 40],
      [t + 600, 80],
    ] as const) {
      await profiles.writeWindow({
        start,
        seconds: 60,
        host: 'h',
        periodNs: 10_000_000,
        truncatedSamples: 0,
        apps: [
          { app: 'python3.11', containerId: '', ...A, stacks: st('orders', a) },
          { app: 'python3.11', containerId: '', ...B, stacks: st('billing', 60) },
        ],
      });
    }
    api = createApi({ profiles, defaultPeriodNs: 10_000_000, now: () => NOW });
  });

  after(() => store.close());

  const json = async <T>(path: string, status = 200): Promise<T> => {
    const r = await api.request(path);
    const body = (await r.json()) as T;
    assert.equal(r.status, status, `${path}: ${JSON.stringify(body)}`);
    return body;
  };

  it('lists the processes, the most CPU first, and narrows the flamegraph, series and pprof to one', async () => {
    const procs = await json<{ pid: number; cmdline: string; samples: number; cpu_seconds: number }[]>(`/api/v1/processes?app=python3.11&from=${t}&to=${NOW}`);
    assert.deepEqual(
      procs.map((p) => [p.pid, p.cmdline, p.samples, p.cpu_seconds]),
      [
        [A.pid, A.cmdline, 120, 1.2],
        [B.pid, B.cmdline, 120, 1.2],
      ].sort((x, y) => (x[0] as number) - (y[0] as number)),
    );
    const tree = await json<{ value: number; children: { children: { name: string }[] }[] }>(`/api/v1/profile/flamegraph?app=python3.11&from=${t}&to=${NOW}&cmdline=${encodeURIComponent(B.cmdline)}`);
    assert.equal(tree.value, 120);
    assert.deepEqual(
      tree.children[0].children.map((c) => c.name),
      ['billing'],
    );
    const series = await json<{ step: number; points: { cores: number }[] }>(`/api/v1/profile/series?app=python3.11&from=${t}&to=${NOW}&pid=${A.pid}`);
    assert.ok(Math.abs(series.points.reduce((s, p) => s + p.cores * series.step, 0) - 1.2) < 1e-3);
    const r = await api.request(`/api/v1/profile/pprof?app=python3.11&from=${t}&to=${NOW}&pid=${A.pid}`);
    assert.match(r.headers.get('content-disposition') ?? '', /python3\.11-pid501-/);
    const p = Profile.decode(gunzipSync(Buffer.from(await r.arrayBuffer())));
    assert.equal(
      p.sample.reduce((s, x) => s + Number(x.value[0]), 0),
      120,
    );
    assert.ok(p.comment.map((i) => p.stringTable.strings[Number(i)]).includes(`pid=${A.pid}`));
    // unfiltered, each sample carries its process as labels (go tool pprof -tagfocus pid=501)
    const all = Profile.decode(gunzipSync(Buffer.from(await (await api.request(`/api/v1/profile/pprof?app=python3.11&from=${t}&to=${NOW}`)).arrayBuffer())));
    const str = (i: number | bigint) => all.stringTable.strings[Number(i)];
    const byProcess: Record<string, number> = {};
    for (const x of all.sample) {
      const pid = x.label.find((l) => str(l.key) === 'pid');
      const cmd = x.label.find((l) => str(l.key) === 'cmdline');
      const k = `${Number(pid?.num)} ${cmd ? str(cmd.str) : ''}`;
      byProcess[k] = (byProcess[k] ?? 0) + Number(x.value[0]);
    }
    assert.deepEqual(byProcess, { [`${A.pid} ${A.cmdline}`]: 120, [`${B.pid} ${B.cmdline}`]: 120 });
    await json(`/api/v1/processes?app=ghost&from=${t}&to=${NOW}`, 404);
    assert.match((await json<{ error: string }>(`/api/v1/profile/flamegraph?app=python3.11&pid=abc`, 400)).error, /pid: pid must be a process id/);
    assert.match((await json<{ error: string }>(`/api/v1/profile/flamegraph?app=python3.11&cmdline=${'x'.repeat(1100)}`, 400)).error, /cmdline: cmdline is too long/);
  });

  it("compares one process's two ranges (the base keeps its labels), or two processes (base_ labels)", async () => {
    type Changes = { total: number; base_total: number; functions: { function: string; total_share: number; total_share_base: number }[] };
    const ranges = `from=${t + 600}&to=${t + 660}&base_from=${t}&base_to=${t + 60}`;
    const one = await json<Changes>(`/api/v1/profile/changes?app=python3.11&${ranges}&pid=${A.pid}`);
    assert.deepEqual([one.total, one.base_total], [80, 40]);
    const two = await json<Changes>(`/api/v1/profile/changes?app=python3.11&from=${t}&to=${NOW}&base_app=python3.11&pid=${A.pid}&base_pid=${B.pid}`);
    assert.deepEqual([two.total, two.base_total], [120, 120]);
    const orders = two.functions.find((x) => x.function === 'orders')!;
    assert.deepEqual([orders.total_share, orders.total_share_base], [1, 0]);
    // another app without base labels: all of it
    const all = await json<Changes>(`/api/v1/profile/changes?app=python3.11&from=${t}&to=${NOW}&base_app=python3.11&pid=${A.pid}`);
    assert.deepEqual([all.total, all.base_total], [120, 240]);
  });
});

describe('comparison endpoints, OpenAPI and access', () => {
  let store: ChdbStore;
  let api: ReturnType<typeof createApi>;
  const t = NOW - 1200;

  before(async () => {
    store = new ChdbStore(tempDir('api-cmp'));
    for (const s of schemaStatements({ retentionDays: 7 })) await store.exec(s);
    const profiles = new ProfileRepository(store);
    const w = (start: number, app: string, stacks: { frames: Frame[]; count: number }[]) =>
      profiles.writeWindow({ start, seconds: 60, host: 'h', periodNs: 1, truncatedSamples: 0, apps: [{ app, containerId: '', stacks }] });
    // base window: parse 50, encode 50; compared window: parse 150, encode 50
    await w(t, 'svc', [
      { frames: [f('main', exe, 1n), f('parse', exe, 2n)], count: 50 },
      { frames: [f('main', exe, 1n), f('encode', exe, 3n)], count: 50 },
    ]);
    await w(t + 600, 'svc', [
      { frames: [f('main', exe, 1n), f('parse', exe, 2n)], count: 150 },
      { frames: [f('main', exe, 1n), f('encode', exe, 3n)], count: 50 },
    ]);
    await w(t + 600, 'other', [
      { frames: [f('main', exe, 1n), f('encode', exe, 3n)], count: 100 },
      { frames: [f('main', exe, 1n), f('gc', exe, 4n)], count: 50 },
    ]);
    api = createApi({ profiles, defaultPeriodNs: 1, now: () => NOW });
  });

  after(() => store.close());

  const base = `base_from=${t}&base_to=${t + 60}`;
  const cmp = `from=${t + 600}&to=${t + 660}`;

  it('diff of two ranges, relative by default, absolute on request', async () => {
    const rel = (await (await api.request(`/api/v1/profile/diff?app=svc&${cmp}&${base}`)).json()) as { mode: string; scale: number; children: { children: { name: string; delta: number }[] }[] };
    assert.equal(rel.mode, 'relative');
    assert.equal(rel.scale, 2);
    assert.deepEqual(
      rel.children[0].children.map((c) => [c.name, c.delta]),
      [
        ['parse', 50],
        ['encode', -50],
      ],
    );
    const abs = (await (await api.request(`/api/v1/profile/diff?app=svc&${cmp}&${base}&mode=absolute`)).json()) as typeof rel;
    assert.deepEqual(
      abs.children[0].children.map((c) => [c.name, c.delta]),
      [
        ['parse', 100],
        ['encode', 0],
      ],
    );
  });

  it('diff and changes of two apps over the same range', async () => {
    const r = await api.request(`/api/v1/profile/changes?app=svc&base_app=other&${cmp}`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { base_app: string; total: number; base_total: number; functions: { function: string; status: string; total_delta: number }[] };
    assert.equal(body.base_app, 'other');
    assert.deepEqual([body.total, body.base_total], [200, 150]);
    // parse 0% -> 75% (+75 pp), encode 66.7% -> 25% (-41.7 pp), gc 33.3% -> 0%
    assert.deepEqual(
      body.functions.slice(0, 3).map((x) => [x.function, x.status, x.total_delta]),
      [
        ['parse', 'changed', 0.75],
        ['encode', 'changed', -0.4167],
        ['gc', 'changed', -0.3333],
      ],
    );
  });

  it('answers 400 with the reason for bad comparison parameters, 404 for unknown apps', async () => {
    const cases: [string, number, RegExp][] = [
      [`/api/v1/profile/diff?app=svc&${cmp}`, 400, /base: give base_from and base_to/],
      [`/api/v1/profile/diff?app=svc&${cmp}&${base}&mode=sideways`, 400, /mode: mode must be relative or absolute/],
      [`/api/v1/profile/diff?app=svc&${cmp}&base_from=${t + 60}&base_to=${t}`, 400, /base_from: base_from must be before base_to/],
      [`/api/v1/profile/changes?app=svc&${cmp}&${base}&limit=0`, 400, /limit: limit must be at least 1/],
      [`/api/v1/profile/changes?app=svc&${cmp}&${base}&limit=many`, 400, /limit/],
      [`/api/v1/profile/diff?app=svc&${cmp}&base_app=ghost`, 404, /"ghost" has never been seen/],
      [`/api/v1/profile/changes?app=ghost&${cmp}&${base}`, 404, /"ghost" has never been seen/],
    ];
    for (const [path, status, reason] of cases) {
      const r = await api.request(path);
      assert.equal(r.status, status, path);
      assert.match(((await r.json()) as { error: string }).error, reason, path);
    }
  });

  it('serves an OpenAPI document whose parameters match the validators', async () => {
    const doc = (await (await api.request('/api/v1/openapi.json')).json()) as { openapi: string; paths: Record<string, { get: { parameters: { name: string; required: boolean }[] } }> };
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/api/v1/apps', '/api/v1/processes', '/api/v1/profile/flamegraph', '/api/v1/profile/diff', '/api/v1/profile/changes', '/api/v1/profile/pprof']) assert.ok(doc.paths[p], p);
    const diffParams = doc.paths['/api/v1/profile/diff'].get.parameters;
    const labels = (prefix: string) => ['host', 'container_id', 'pid', 'exe', 'cmdline'].map((l) => `${prefix}${l}`);
    assert.deepEqual(
      diffParams.map((x) => x.name),
      ['app', 'from', 'to', ...labels(''), 'base_app', 'base_from', 'base_to', ...labels('base_'), 'mode'],
    );
    // every parameter is described
    assert.deepEqual(
      diffParams.filter((x) => !(x as { description?: string }).description).map((x) => x.name),
      [],
    );
    assert.equal(diffParams.find((x) => x.name === 'app')!.required, true);
    assert.equal(diffParams.find((x) => x.name === 'from')!.required, false);
  });

  it('with a token, every route needs it: header, query or the cookie the UI gets', async () => {
    const locked = createApi({ profiles: new ProfileRepository(store), defaultPeriodNs: 1, now: () => NOW, token: 's3cret-token', extend: (a) => a.get('/', (c) => c.text('ui')) });
    const no = await locked.request(`/api/v1/apps`);
    assert.equal(no.status, 401);
    assert.match(no.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.match(((await no.json()) as { error: string }).error, /authentication required/);
    assert.equal((await locked.request('/')).status, 401, 'the UI too');
    assert.equal((await locked.request('/api/v1/apps', { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await locked.request('/api/v1/apps', { headers: { authorization: 'Bearer s3cret-token' } })).status, 200);
    const viaQuery = await locked.request('/?token=s3cret-token');
    assert.equal(viaQuery.status, 200);
    const cookie = viaQuery.headers.get('set-cookie') ?? '';
    assert.match(cookie, /kiln_token=[^;]+; .*HttpOnly/);
    assert.doesNotMatch(cookie, /s3cret-token/, 'the cookie does not hold the token');
    assert.doesNotMatch(cookie, /Secure/, 'plain HTTP: no Secure flag');
    assert.equal((await locked.request('/api/v1/apps', { headers: { cookie: cookie.split(';')[0] } })).status, 200);
    assert.equal((await locked.request('/api/v1/apps', { headers: { cookie: 'kiln_token=s3cret-token' } })).status, 401, 'the raw token is no cookie');
    assert.equal((await locked.request('/api/v1/nope', { headers: { authorization: 'Bearer s3cret-token' } })).status, 404);
    const overTls = await locked.request('https://kiln.example/?token=s3cret-token');
    assert.match(overTls.headers.get('set-cookie') ?? '', /Secure/, 'over TLS the cookie is Secure');
  });

  it('serves what the collectors lost in a range, per reason, with its meaning', async () => {
    const losses = new LossRepository(store);
    await runInserts(
      store,
      losses.prepare([
        { start: NOW - 600, seconds: 60, host: 'h1', collector: 'profiler', reason: 'stack_map_full', count: 7 },
        { start: NOW - 540, seconds: 60, host: 'h1', collector: 'profiler', reason: 'stack_map_full', count: 5 },
        { start: NOW - 540, seconds: 60, host: 'h1', collector: 'runq', reason: 'store_queue_full', count: 3 },
        { start: NOW - 7200, seconds: 60, host: 'h1', collector: 'profiler', reason: 'counts_map_full', count: 99 },
      ]),
    );
    const withLosses = createApi({ profiles: new ProfileRepository(store), losses, defaultPeriodNs: 1, now: () => NOW });
    const r = await withLosses.request(`/api/v1/losses?from=${NOW - 3600}&to=${NOW}&collector=profiler`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), [{ collector: 'profiler', reason: 'stack_map_full', count: 12, meaning: 'samples kept without their stack: the kernel stack map was full' }]);
    const all = (await (await withLosses.request(`/api/v1/losses?from=${NOW - 3600}&to=${NOW}`)).json()) as { collector: string }[];
    assert.deepEqual(all.map((x) => x.collector), ['profiler', 'runq']);
    assert.equal((await withLosses.request(`/api/v1/losses?collector=nope`)).status, 400);
  });

  it('on a loopback listener, refuses Host headers that are not loopback names (DNS rebinding)', async () => {
    const local = createApi({ profiles: new ProfileRepository(store), defaultPeriodNs: 1, now: () => NOW, loopbackOnly: true });
    for (const host of ['localhost', 'localhost:7070', '127.0.0.1:7070', '127.9.9.9', '[::1]:7070']) {
      assert.equal((await local.request('/api/v1/apps', { headers: { host } })).status, 200, host);
    }
    for (const host of ['evil.example', 'evil.example:7070', '127.0.0.1.evil.example', '']) {
      const r = await local.request('http://x/api/v1/apps', { headers: { host } });
      assert.equal(r.status, 421, host);
      assert.match(((await r.json()) as { error: string }).error, /not a loopback name/);
    }
  });

  it('bounds concurrent queries: past the running and waiting limits, 429 with the reason; too long a wait, 503', async () => {
    const limited = createApi({ profiles: new ProfileRepository(store), defaultPeriodNs: 1, now: () => NOW, queryLimits: { maxRunning: 2, maxWaiting: 3, waitTimeoutMs: 60_000 } });
    const all = await Promise.all(Array.from({ length: 30 }, () => limited.request(`/api/v1/profile/flamegraph?app=svc&from=${NOW - 3600}&to=${NOW}`)));
    const statuses = all.map((r) => r.status);
    assert.equal(statuses.filter((x) => x === 200).length, 5, `2 running + 3 waiting served: ${statuses}`);
    assert.equal(statuses.filter((x) => x === 429).length, 25);
    const busy = all.find((r) => r.status === 429)!;
    assert.match(((await busy.json()) as { error: string }).error, /too many queries in flight/);
    assert.equal(busy.headers.get('retry-after'), '2');
    assert.equal((await limited.request('/api/v1/status')).status, 200, 'status is not limited');

    const impatient = createApi({ profiles: new ProfileRepository(store), defaultPeriodNs: 1, now: () => NOW, queryLimits: { maxRunning: 1, maxWaiting: 50, waitTimeoutMs: 1 } });
    const waits = await Promise.all(Array.from({ length: 20 }, () => impatient.request(`/api/v1/profile/flamegraph?app=svc&from=${NOW - 3600}&to=${NOW}`)));
    assert.ok(waits.some((r) => r.status === 503), `some waited past 1 ms: ${waits.map((r) => r.status)}`);
    assert.ok(waits.every((r) => r.status === 200 || r.status === 503));
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

  it('refuses times the store cannot hold, with the reason', () => {
    for (const t of ['now-99999999999d', 'now-60000d', '4294967296', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '1969-12-31T23:59:59Z']) {
      const v = parseTime(t, NOW);
      assert.equal(typeof v, 'string', t);
      assert.match(String(v), /outside the times Kiln stores|not a time|milliseconds/, t);
    }
    assert.equal(parseTime('0', NOW), 0);
    assert.equal(parseTime('4294967295', NOW), 4294967295);
  });

  it('knows loopback listen addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.equal(isLoopback(h), true, h);
    for (const h of ['0.0.0.0', '10.0.0.1', '::', 'example.com']) assert.equal(isLoopback(h), false, h);
  });
});

describe('a comparison priced: what a change costs per month', () => {
  let store: ChdbStore;
  after(() => store?.close());

  it("gives each function's monthly spend on both sides and the change, from its share and each side's rate", async () => {
    store = new ChdbStore(tempDir('api-cost'));
    for (const s of schemaStatements({ retentionDays: 7 })) await store.exec(s);
    const profiles = new ProfileRepository(store);
    const stacks = (handle: number, parse: number) => [
      { frames: [f('main', exe, 0x1100n), f('handle', exe, 0x1200n)], count: handle },
      { frames: [f('main', exe, 0x1100n), f('parse_headers', exe, 0x1300n)], count: parse },
    ];
    // the base minute: 40 samples of 10 ms, a quarter in parse_headers; the compared minute: 80, three quarters
    await profiles.writeWindow({ start: NOW - 600, seconds: 60, host: 'h1', periodNs: 10_000_000, truncatedSamples: 0, apps: [{ app: 'api', containerId: '', stacks: stacks(30, 10) }] });
    await profiles.writeWindow({ start: NOW - 300, seconds: 60, host: 'h1', periodNs: 10_000_000, truncatedSamples: 0, apps: [{ app: 'api', containerId: '', stacks: stacks(20, 60) }] });
    const api = createApi({ profiles, defaultPeriodNs: 10_000_000, now: () => NOW, cpuPrice: { usdPerCoreHour: 0.09, instanceType: '', source: 'test price' } });
    const r = await api.request(`/api/v1/profile/changes?app=api&from=${NOW - 300}&to=${NOW - 240}&base_from=${NOW - 600}&base_to=${NOW - 540}&min_samples=1`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as {
      cost: { usd: number; usd_per_month: number };
      base_cost: { usd_per_month: number };
      functions: { function: string; total_share: number; total_share_base: number; total_usd_per_month: number; total_usd_per_month_base: number; total_usd_per_month_delta: number }[];
    };
    // 0.8 CPU-s a minute at 0.09 $/core-hour: $0.00002 a minute, $0.876 a 730-hour month; the base half that
    assert.equal(body.cost.usd, 0.00002);
    assert.equal(body.cost.usd_per_month, 0.876);
    assert.equal(body.base_cost.usd_per_month, 0.438);
    const parse = body.functions.find((x) => x.function === 'parse_headers')!;
    assert.deepEqual([parse.total_share_base, parse.total_share], [0.25, 0.75]);
    // its share of each side's monthly rate: 0.25 x 0.438 -> 0.75 x 0.876, +$0.5475 a month
    assert.deepEqual([parse.total_usd_per_month_base, parse.total_usd_per_month, parse.total_usd_per_month_delta], [0.1095, 0.657, 0.5475]);
    const handle = body.functions.find((x) => x.function === 'handle')!;
    assert.deepEqual([handle.total_usd_per_month_base, handle.total_usd_per_month, handle.total_usd_per_month_delta], [0.3285, 0.219, -0.1095]);
    // the functions' changes add up to the change of the whole
    const main = body.functions.find((x) => x.function === 'main')!;
    assert.equal(main.total_usd_per_month_delta, Math.round((body.cost.usd_per_month - body.base_cost.usd_per_month) * 1e6) / 1e6);
  });
});
