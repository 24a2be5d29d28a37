/* The profiler end to end: real BPF sampling of our own programs, `kiln run` as a user starts it,
 * answers read over HTTP, pprof checked by pprof-format and by `go tool pprof`. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import type { FlameNode } from './flamegraph.js';
import {
  bpfTest,
  buildFixtures,
  getJson,
  makeCgroup,
  randomHex,
  removeCgroup,
  spawnInCgroup,
  startKiln,
  storedThrough,
  tempDir,
  waitExit,
  writeJson,
  type Fixtures,
  type KilnProcess,
} from '../testing/testkit.js';

const HZ = 297;
/** the host's price of a core-hour (--cpu-price-usd-per-core-hour) */
const PRICE = 0.0456;
const WINDOW = 3;

function findNode(n: FlameNode, name: string, maxDepth = 8): FlameNode | null {
  if (n.name === name) return n;
  if (maxDepth === 0) return null;
  for (const c of n.children) {
    const hit = findNode(c, name, maxDepth - 1);
    if (hit) return hit;
  }
  return null;
}

function allNames(n: FlameNode, out = new Set<string>()): Set<string> {
  out.add(n.name);
  for (const c of n.children) allNames(c, out);
  return out;
}

/** Share of kiln_hot_a in main → kiln_caller → {kiln_hot_a, kiln_hot_b}, from a flamegraph. */
function flamegraphSplit(tree: FlameNode): { a: number; b: number } {
  const main = findNode(tree, 'main');
  assert.ok(main, 'main is in the flamegraph');
  const caller = main.children.find((c) => c.name === 'kiln_caller');
  assert.ok(caller, 'main → kiln_caller');
  const a = caller.children.find((c) => c.name === 'kiln_hot_a')?.value ?? 0;
  const b = caller.children.find((c) => c.name === 'kiln_hot_b')?.value ?? 0;
  return { a, b };
}

function decodePprof(gz: Buffer): Profile {
  return Profile.decode(gunzipSync(gz));
}

function str(p: Profile, i: number | bigint): string {
  return p.stringTable.strings[Number(i)];
}

/** Leaf-function sample counts of samples whose stack is kiln_hot_x ← kiln_caller ← main. */
function pprofSplit(p: Profile): { a: number; b: number } {
  const fnName = new Map(p.function.map((f) => [Number(f.id), str(p, f.name)]));
  const locFn = new Map(p.location.map((l) => [Number(l.id), fnName.get(Number(l.line[0].functionId)) ?? '']));
  let a = 0;
  let b = 0;
  for (const s of p.sample) {
    const names = s.locationId.map((id) => locFn.get(Number(id)));
    if (names[1] !== 'kiln_caller' || names[2] !== 'main') continue;
    if (names[0] === 'kiln_hot_a') a += Number(s.value[0]);
    if (names[0] === 'kiln_hot_b') b += Number(s.value[0]);
  }
  return { a, b };
}

describe('CPU profiler through the real BPF path', bpfTest(), () => {
  let fx: Fixtures;
  let kiln: KilnProcess;
  const cgroups: string[] = [];
  const podUid = `${randomHex(4)}-${randomHex(2)}-${randomHex(2)}-${randomHex(2)}-${randomHex(6)}`;
  const k8sId = randomHex(32);
  const dockerId = randomHex(32);
  const unit = `kiln-jit-e2e-${randomHex(3)}.service`;
  const t0 = Math.floor(Date.now() / 1000) - 5;
  let q: string;

  before(async () => {
    fx = buildFixtures();
    const runtimeRoot = tempDir('runtime');
    // what containerd and docker keep on disk for these containers
    writeJson(join(runtimeRoot, 'run/containerd/io.containerd.runtime.v2.task/k8s.io', k8sId, 'config.json'), {
      ociVersion: '1.1.0',
      annotations: {
        'io.kubernetes.cri.container-type': 'container',
        'io.kubernetes.cri.container-name': 'app',
        'io.kubernetes.cri.sandbox-name': 'checkout-7d9f8b6c5d-x2x4z',
        'io.kubernetes.cri.sandbox-namespace': 'shop',
      },
    });
    writeJson(join(runtimeRoot, 'var/lib/docker/containers', dockerId, 'config.v2.json'), { ID: dockerId, Name: '/web-frontend', Config: { Labels: {} } });

    const k8sCg = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUid.replace(/-/g, '_')}.slice/cri-containerd-${k8sId}.scope`;
    const dockerCg = `system.slice/docker-${dockerId}.scope`;
    const unitCg = `system.slice/${unit}`;
    cgroups.push(k8sCg, dockerCg, unitCg);

    kiln = await startKiln(['--window', String(WINDOW), '--sample-hz', String(HZ), '--data-dir', tempDir('data'), '--runtime-root', runtimeRoot, '--cpu-price-usd-per-core-hour', String(PRICE)]);

    // phase 1: the two split programs alone, one per CPU, for a steady sample count
    const phase1 = [spawnInCgroup(makeCgroup(k8sCg), fx.cpusplit, ['6']), spawnInCgroup(makeCgroup(dockerCg), fx.cpusplit, ['6'])];
    assert.deepEqual(await Promise.all(phase1.map(waitExit)), [0, 0]);
    // phase 2: symbolization cases
    const phase2 = [
      spawn(fx.libuser, ['4'], { stdio: 'ignore' }),
      spawn(fx.syscaller, ['4'], { stdio: 'ignore' }),
      spawn(fx.cpusplitStripped, ['4'], { stdio: 'ignore' }),
      spawn(fx.cpusplitDebuglink, ['4'], { stdio: 'ignore' }),
      spawnInCgroup(makeCgroup(unitCg), process.execPath, ['--perf-basic-prof', fx.jitScript, '5'], { ...process.env }, fx.dir),
    ];
    assert.deepEqual(await Promise.all(phase2.map(waitExit)), [0, 0, 0, 0, 0]);
    jitPid = phase2[4].pid;
    // every workload has exited: once a marker started after them is stored, so is all of theirs
    // (a cold first run can take long: the first symbolization of node's 100 MB binary under load)
    await storedThrough(kiln, { timeoutMs: 90_000 });
    q = `from=${t0}&to=${Math.ceil(Date.now() / 1000) + 1}`;
  });

  let jitPid: number | undefined;

  after(async () => {
    await kiln?.stop();
    if (jitPid) rmSync(`/tmp/perf-${jitPid}.map`, { force: true });
    for (const cg of cgroups) removeCgroup(cg);
  });

  async function flamegraph(app: string): Promise<FlameNode> {
    const r = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=${encodeURIComponent(app)}&${q}`);
    assert.equal(r.status, 200, `flamegraph of ${app}: ${JSON.stringify(r.body)}\n${kiln.log()}`);
    return r.body;
  }

  it('names containers from their cgroups: a Kubernetes pod container and a docker container', async () => {
    const { body: apps } = await getJson<{ app: string; container_id?: string }[]>(`${kiln.url}/api/v1/apps?${q}`);
    const byName = new Map(apps.map((a) => [a.app, a]));
    assert.equal(byName.get('shop/checkout/app')?.container_id, k8sId, JSON.stringify(apps));
    assert.equal(byName.get('web-frontend')?.container_id, dockerId, JSON.stringify(apps));
    const seen = `apps: ${apps.map((a) => a.app).join(', ')}\nkiln log:\n${kiln.log()}`;
    assert.ok(byName.has(unit), `systemd unit ${unit} is an app; ${seen}`);
    assert.ok(byName.has('libuser') && byName.has('syscaller'), `plain processes are named by executable; ${seen}`);
  });

  it('shows the known 70/30 split under main → kiln_caller in the flamegraph', async () => {
    for (const app of ['shop/checkout/app', 'web-frontend']) {
      const { a, b } = flamegraphSplit(await flamegraph(app));
      assert.ok(a + b > 300, `${app}: enough samples (${a + b})`);
      const share = a / (a + b);
      // ±5 points, or 4.5 standard errors of a binomial share when a busy machine gave fewer samples
      const tol = Math.max(0.05, 4.5 * Math.sqrt((0.7 * 0.3) / (a + b)));
      assert.ok(Math.abs(share - 0.7) <= tol, `${app}: kiln_hot_a share ${(share * 100).toFixed(1)}% should be 70% ± ${(tol * 100).toFixed(1)} (${a + b} samples)`);
    }
  });

  it('serves a pprof with the same split, real mappings and the same totals as the flamegraph', async () => {
    const app = 'shop/checkout/app';
    const tree = await flamegraph(app);
    const r = await fetch(`${kiln.url}/api/v1/profile/pprof?app=${encodeURIComponent(app)}&${q}`);
    assert.equal(r.status, 200);
    const p = decodePprof(Buffer.from(await r.arrayBuffer()));
    assert.deepEqual(
      p.sampleType.map((t) => [str(p, t.type), str(p, t.unit)]),
      [
        ['samples', 'count'],
        ['cpu', 'nanoseconds'],
        ['cost', 'microdollars'],
      ],
    );
    assert.deepEqual([str(p, p.periodType!.type), str(p, p.periodType!.unit)], ['cpu', 'nanoseconds']);
    assert.equal(Number(p.period), Math.round(1e9 / HZ));
    assert.ok(Number(p.timeNanos) > 0 && Number(p.durationNanos) > 0);
    const total = p.sample.reduce((s, x) => s + Number(x.value[0]), 0);
    const totalNs = p.sample.reduce((s, x) => s + Number(x.value[1]), 0);
    assert.equal(total, tree.value, 'pprof and flamegraph count the same samples');
    assert.equal(totalNs, total * Math.round(1e9 / HZ));
    const { a, b } = pprofSplit(p);
    assert.ok(Math.abs(a / (a + b) - 0.7) <= Math.max(0.05, 4.5 * Math.sqrt(0.21 / (a + b))), `pprof split ${a}/${a + b}`);
    const exe = p.mapping.find((m) => str(p, m.filename).endsWith('/cpusplit'));
    assert.ok(exe, 'a mapping for the executable');
    assert.match(str(p, exe.buildId), /^[0-9a-f]{40}$/);
    assert.ok(BigInt(exe.memoryLimit) > BigInt(exe.memoryStart));
    const fnA = p.function.find((f) => str(p, f.name) === 'kiln_hot_a')!;
    const locA = p.location.find((l) => Number(l.line[0].functionId) === Number(fnA.id))!;
    assert.equal(Number(locA.mappingId), Number(exe.id));
    assert.ok(BigInt(locA.address) >= BigInt(exe.memoryStart) && BigInt(locA.address) < BigInt(exe.memoryLimit), 'address inside its mapping');
  });

  it("prices each function's CPU time at the host's price: its dollars are its CPU seconds times the unit price, and the month is projected from the range", async () => {
    const app = 'shop/checkout/app';
    const r = await getJson<FlameNode & { cost: { cpu_seconds: number; usd: number; usd_per_month: number; range_seconds: number; unit_price: number; unit: string; price_source: string } }>(
      `${kiln.url}/api/v1/profile/flamegraph?app=${encodeURIComponent(app)}&${q}`,
    );
    const { cost } = r.body;
    const period = 1 / HZ;
    // the app's CPU time is its samples at the sampling period; its dollars that time at the price
    assert.ok(Math.abs(cost.cpu_seconds - r.body.value * period) < 0.01, `${cost.cpu_seconds} CPU-s for ${r.body.value} samples`);
    assert.ok(Math.abs(cost.usd - (cost.cpu_seconds * PRICE) / 3600) < 1e-9, JSON.stringify(cost));
    assert.equal(cost.unit_price, PRICE);
    assert.equal(cost.unit, 'USD per core-hour');
    assert.match(cost.price_source, /--cpu-price-usd-per-core-hour/);
    const [from, to] = q.split('&').map((kv) => Number(kv.split('=')[1]));
    assert.equal(cost.range_seconds, to - from);
    const month = (cost.usd * 730 * 3600) / (to - from);
    assert.ok(Math.abs(cost.usd_per_month / month - 1) < 1e-4, `month at the range's rate: ${cost.usd_per_month} vs ${month}`);
    // cpusplit ran 6 CPU-s: the app's dollars are that time at the price (what the profiler sampled of it)
    const programUsd = (6 * PRICE) / 3600;
    assert.ok(Math.abs(cost.usd / programUsd - 1) <= 0.15, `the app: $${cost.usd.toExponential(3)} for ${cost.cpu_seconds} CPU-s; 6 CPU-s at ${PRICE} $/core-hour is $${programUsd.toExponential(3)}`);
    // a function's dollars are its CPU seconds at the price, and kiln_hot_a's are 70% of the hot pair's
    const { a, b } = flamegraphSplit(r.body);
    const usdA = (a / r.body.value) * cost.usd;
    assert.ok(Math.abs(usdA - (a * period * PRICE) / 3600) < 1e-9, `kiln_hot_a: $${usdA} for ${(a * period).toFixed(2)} CPU-s`);
    const want = (0.7 * (a + b) * period * PRICE) / 3600;
    const tol = Math.max(0.05, 4.5 * Math.sqrt(0.21 / (a + b)));
    assert.ok(Math.abs(usdA / want - 1) <= tol / 0.7, `kiln_hot_a: $${usdA.toExponential(3)}; 70% of the pair's ${((a + b) * period).toFixed(2)} CPU-s is $${want.toExponential(3)}`);
    // pprof's cost sample type says the same, in micro-dollars per stack
    const p = decodePprof(Buffer.from(await (await fetch(`${kiln.url}/api/v1/profile/pprof?app=${encodeURIComponent(app)}&${q}`)).arrayBuffer()));
    const micro = p.sample.reduce((n, x) => n + Number(x.value[2]), 0);
    assert.ok(Math.abs(micro - cost.usd * 1e6) <= p.sample.length / 2 + 1, `pprof cost ${micro} µ$ vs ${cost.usd * 1e6}`);
  });

  it('go tool pprof reads the downloaded file and the URL', async () => {
    const url = `${kiln.url}/api/v1/profile/pprof?app=web-frontend&${q}`;
    const file = join(tempDir('pprof'), 'web.pb.gz');
    writeFileSync(file, Buffer.from(await (await fetch(url)).arrayBuffer()));
    const env = { ...process.env, PPROF_TMPDIR: tempDir('pproftmp'), HOME: tempDir('home') };
    for (const source of [file, url]) {
      const out = execFileSync('go', ['tool', 'pprof', '-top', '-nodecount=20', source], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
      assert.match(out, /Type: cpu/);
      assert.match(out, /kiln_hot_a/);
      assert.match(out, /kiln_hot_b/);
    }
    // the cost sample type, as go tool pprof -sample_index names it
    const cost = execFileSync('go', ['tool', 'pprof', '-top', '-sample_index=cost', file], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(cost, /Type: cost/);
    assert.match(cost, /kiln_hot_a/);
  });

  it('symbolizes a shared-library function, kernel frames and perf-map JIT frames by name', async () => {
    const lib = allNames(await flamegraph('libuser'));
    assert.ok(lib.has('kiln_lib_spin'), 'kiln_lib_spin from libkilnhot.so');
    const sys = [...allNames(await flamegraph('syscaller'))];
    assert.ok(
      sys.some((n) => /^(__x64_sys_read|ksys_read|vfs_read|read_zero|iov_iter_zero)$/.test(n)),
      `kernel frames by name: ${sys.slice(0, 30).join(', ')}`,
    );
    const jit = [...allNames(await flamegraph(unit))];
    assert.ok(jit.some((n) => n.includes('kilnJitHot')), `JIT frame from perf-PID.map: ${jit.slice(0, 30).join(', ')}`);
  });

  it('reports its counters, with no samples or stacks lost at this load', async () => {
    const { status, body } = await getJson<{ profiler: Record<string, number> }>(`${kiln.url}/api/v1/status`);
    assert.equal(status, 200);
    const p = body.profiler;
    assert.equal(p.sampleHz, HZ);
    assert.ok(p.samples > 1000 && p.samplesRecorded > 1000, JSON.stringify(p));
    assert.equal(p.countsFull, 0);
    assert.equal(p.stacksFull, 0);
    assert.equal(p.stacksMissing, 0);
    assert.equal(p.drainErrors, 0, JSON.stringify(p));
    assert.equal(p.stackFaults, 0, `${JSON.stringify(p)}\n${kiln.log()}`);
    assert.ok(p.windowsFlushed >= 3 && p.windowErrors === 0);
  });

  it('shows a stripped binary as binary+0x…, and finds symbols through .gnu_debuglink', async () => {
    const stripped = [...allNames(await flamegraph('cpusplit-stripped'))];
    assert.ok(stripped.some((n) => /^cpusplit-stripped\+0x[0-9a-f]+$/.test(n)), stripped.join(', '));
    assert.ok(!stripped.includes('kiln_hot_a'));
    const dbg = allNames(await flamegraph('cpusplit-dbglink'));
    assert.ok(dbg.has('kiln_hot_a') && dbg.has('kiln_caller'), 'symbols from the separate debug file');
  });
});
