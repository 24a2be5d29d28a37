/* Run-queue latency per container through the real BPF path, checked against libbpf-tools runqlat on
 * the same load and against the kernel's own accounting (run_delay in /proc/PID/schedstat). */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  bpfTest,
  buildFixtures,
  getJson,
  launchChromium,
  makeCgroup,
  randomHex,
  repoRoot,
  removeCgroup,
  spawnInCgroup,
  startKiln,
  tempDir,
  waitExit,
  writeJson,
  type KilnProcess,
} from '../testing/testkit.js';

const WINDOW = 2;

interface RunqRow {
  app: string;
  p50_us: number;
  p95_us: number;
  p99_us: number;
  waits: number;
  total_delay_seconds: number;
  buckets: { le_us: number | null; count: number }[];
}

/** Samples of a Prometheus text exposition: series name + labels -> value. */
type Samples = Map<string, number>;

/** run_delay (ns waiting on a run queue), the second field of /proc/PID/schedstat. */
function runDelayNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
}

/** The p50 bucket of runqlat's log2 histogram ("  lo -> hi : count |***|" lines, usecs). */
function runqlatP50(out: string): { lo: number; hi: number } {
  const rows = [...out.matchAll(/^\s*(\d+)\s*->\s*(\d+)\s*:\s*(\d+)/gm)].map((m) => ({ lo: Number(m[1]), hi: Number(m[2]), n: Number(m[3]) }));
  const total = rows.reduce((s, r) => s + r.n, 0);
  assert.ok(total > 100, `runqlat saw enough waits:\n${out}`);
  let cum = 0;
  for (const r of rows) {
    cum += r.n;
    if (cum >= total / 2) return r;
  }
  throw new Error('no p50');
}

/**
 * Scrapes /metrics, has Prometheus's own parser and linter (promtool check metrics) accept it, and
 * returns its samples keyed as written: `name{label="v",...}`.
 */
async function metrics(url: string): Promise<Samples> {
  const r = await fetch(`${url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/i.exec(line);
    if (m) samples.set(m[1], Number(m[2]));
  }
  return samples;
}

function find(samples: Samples, name: string, labels: Record<string, string>): number | undefined {
  for (const [key, v] of samples) {
    if (!key.startsWith(`${name}{`) && key !== name) continue;
    if (Object.entries(labels).every(([k, val]) => key.includes(`${k}="${val}"`))) return v;
  }
  return undefined;
}

/**
 * Waits until every window up to `t` is stored: once one that starts after it is (windows are written in
 * order, and each has rows: Kiln's own threads wait too). On a busy machine the last window's write can
 * lag well past its end; a fixed sleep cut it off (Kiln's total read as half the kernel's).
 */
async function windowsStoredThrough(kiln: KilnProcess, t: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const later = await getJson<RunqRow[]>(`${kiln.url}/api/v1/runq?from=${t + WINDOW}&to=${t + 3600}`);
    if (later.status === 200 && later.body.length > 0) return;
    assert.ok(Date.now() < deadline, `a window after ${t} stored within 90 s\n${kiln.log().slice(-2000)}`);
    await sleep(250);
  }
}

describe('run-queue latency per container', bpfTest(), () => {
  let kiln: KilnProcess;
  const busyId = randomHex(32);
  const lightId = randomHex(32);
  const cgroups = [`system.slice/docker-${busyId}.scope`, `system.slice/docker-${lightId}.scope`];
  let before0: Samples;
  let runqlatOut = '';
  let runDelaySeconds = 0;
  let t0 = 0;
  let t1 = 0;

  before(async () => {
    const fx = buildFixtures();
    const runtimeRoot = tempDir('runq-rt');
    writeJson(join(runtimeRoot, 'var/lib/docker/containers', busyId, 'config.v2.json'), { Name: '/runq-busy', Config: { Labels: {} } });
    writeJson(join(runtimeRoot, 'var/lib/docker/containers', lightId, 'config.v2.json'), { Name: '/runq-light', Config: { Labels: {} } });
    kiln = await startKiln(['--window', String(WINDOW), '--data-dir', tempDir('runq-data'), '--runtime-root', runtimeRoot]);
    before0 = await metrics(kiln.url);
    t0 = Math.floor(Date.now() / 1000);

    // two CPU-bound programs sharing CPU 0; a light one alone on CPU 1
    const busyCg = makeCgroup(cgroups[0]);
    const busy = [spawnInCgroup(busyCg, 'taskset', ['-c', '0', fx.busy]), spawnInCgroup(busyCg, 'taskset', ['-c', '0', fx.busy])];
    const light = spawnInCgroup(makeCgroup(cgroups[1]), 'taskset', ['-c', '1', fx.light]);
    await sleep(1000);
    // the peer on the same load: libbpf-tools runqlat for one of the busy processes, one 5 s interval
    const runqlat = spawn('runqlat', ['-p', String(busy[0].pid), '5', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    runqlat.stdout!.on('data', (d) => (runqlatOut += d));
    runqlat.stderr!.on('data', (d) => (runqlatOut += d));
    assert.equal(await waitExit(runqlat), 0, runqlatOut);
    await sleep(1000);
    // the kernel's own accounting, read just before the processes end
    runDelaySeconds = busy.reduce((s, p) => s + runDelayNs(p.pid!), 0) / 1e9;
    for (const p of [...busy, light]) p.kill('SIGKILL');
    await Promise.all([...busy, light].map(waitExit));
    t1 = Math.ceil(Date.now() / 1000);
    await windowsStoredThrough(kiln, t1);
  });

  after(async () => {
    await kiln?.stop();
    for (const cg of cgroups) removeCgroup(cg);
  });

  const runq = async (app: string) => {
    const { status, body } = await getJson<RunqRow[]>(`${kiln.url}/api/v1/runq?app=${app}&from=${t0 - WINDOW}&to=${t1 + WINDOW}`);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.length, 1);
    return body[0];
  };

  it('the busy container waits milliseconds, the light one far less', async () => {
    const busy = await runq('runq-busy');
    const light = await runq('runq-light');
    assert.ok(busy.p50_us >= 1000, `busy p50 ${busy.p50_us} us is in the millisecond range`);
    assert.ok(light.p50_us * 10 < busy.p50_us, `light p50 ${light.p50_us} us is far below busy ${busy.p50_us} us`);
    assert.ok(busy.p50_us <= busy.p95_us && busy.p95_us <= busy.p99_us);
    assert.equal(
      busy.buckets.reduce((s, b) => s + b.count, 0),
      busy.waits,
    );
  });

  it('agrees with runqlat -p PID within one log2 bucket at p50', async () => {
    const busy = await runq('runq-busy');
    const peer = runqlatP50(runqlatOut);
    const kilnBucket = Math.floor(Math.log2(busy.p50_us));
    const peerBucket = Math.floor(Math.log2(peer.lo || 1));
    assert.ok(Math.abs(kilnBucket - peerBucket) <= 1, `Kiln p50 ${busy.p50_us} us (2^${kilnBucket}) vs runqlat p50 bucket ${peer.lo}-${peer.hi} us (2^${peerBucket})\n${runqlatOut}`);
  });

  it("agrees with the kernel's run_delay within 10% on the busy container's total delay", async () => {
    const busy = await runq('runq-busy');
    const ratio = busy.total_delay_seconds / runDelaySeconds;
    assert.ok(Math.abs(ratio - 1) <= 0.1, `Kiln ${busy.total_delay_seconds.toFixed(3)} s vs run_delay ${runDelaySeconds.toFixed(3)} s (ratio ${ratio.toFixed(3)})`);
  });

  it("shows the container's run-queue panel beside its flamegraph in the UI", async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 700 } });
      await page.goto(`${kiln.url}/?app=runq-busy&from=${t0 - WINDOW}&to=${t1 + WINDOW}`);
      await page.waitForSelector('#runq-chart rect', { timeout: 15_000 });
      await page.waitForTimeout(600); // the flamegraph's transition
      mkdirSync(join(repoRoot, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(repoRoot, 'test-artifacts/ui-runq.png') });
      const summary = (await page.textContent('#runq-summary')) ?? '';
      assert.match(summary, /p50\s*[\d.]+ ms/, summary);
      assert.ok((await page.$$('#runq-chart rect')).length >= 3, 'histogram bars');
      const frames = await page.$$eval('#chart svg g title', (ts) => ts.map((t) => t.textContent ?? ''));
      assert.ok(frames.some((t) => t.startsWith('main\n')), `flamegraph beside it: ${frames.join(' | ')}`);
    } finally {
      await browser.close();
    }
  });

  it('/metrics passes promtool and moves with the load', async () => {
    const now = await metrics(kiln.url);
    const count = find(now, 'kiln_runqueue_latency_seconds_count', { app: 'runq-busy' });
    assert.ok(count !== undefined && count > 100, `runq-busy waits: ${count}`);
    assert.equal(find(before0, 'kiln_runqueue_latency_seconds_count', { app: 'runq-busy' }), undefined, 'absent before the load');
    const buckets = [...now].filter(([k]) => k.startsWith('kiln_runqueue_latency_seconds_bucket{') && k.includes('app="runq-busy"')).map(([, v]) => v);
    assert.equal(buckets.length, 28, '27 power-of-two bounds and +Inf');
    assert.ok(buckets.every((v, i) => i === 0 || v >= buckets[i - 1]), 'cumulative buckets');
    assert.equal(buckets.at(-1), count, '+Inf bucket equals the count');
    assert.ok(find(now, 'kiln_runqueue_latency_seconds_sum', { app: 'runq-busy' })! > 0.1, 'sum of waits in seconds');

    assert.equal(find(before0, 'kiln_cpu_samples_total', { app: 'runq-busy' }), undefined);
    assert.ok(find(now, 'kiln_cpu_samples_total', { app: 'runq-busy' })! > 100, 'CPU samples of runq-busy counted');
    const lost = [...now].filter(([k]) => k.startsWith('kiln_collector_events_lost_total{'));
    assert.equal(lost.length, 15, JSON.stringify(lost)); // profiler 5 (egress_map_full), runq 2, tcp 2, dns 6
    assert.ok(lost.every(([, v]) => v === 0), JSON.stringify(lost));
    assert.ok(find(now, 'kiln_bpf_program_run_time_seconds_total', { program: 'runq_switch' })! > 0);
    assert.ok(find(now, 'kiln_bpf_program_runs_total', { program: 'kiln_profile' })! > 0);
    assert.ok(find(now, 'kiln_agent_resident_memory_bytes', {})! > 10e6);
    assert.ok(find(now, 'kiln_windows_written_total', { kind: 'runq' })! > 0);
    // the test's own HTTP requests to Kiln are TCP traffic of this process (named by its executable)
    assert.ok([...now].some(([k, v]) => k.startsWith('kiln_tcp_sent_bytes_total{') && k.includes('class="same-host"') && v > 0), 'TCP bytes per app and class');
});
});

describe('run-queue latency of processes outside containers', bpfTest(), () => {
  let kiln: KilnProcess;
  const plain = `kiln-runq-plain-${randomHex(4)}`; // a cgroup no runtime or unit names
  const peers: Record<string, string> = {};
  let t0 = 0;
  let t1 = 0;

  before(async () => {
    const fx = buildFixtures();
    for (const name of ['rq-busy-a', 'rq-busy-b', 'rq-light']) copyFileSync(name === 'rq-light' ? fx.light : fx.busy, join(fx.dir, name));
    kiln = await startKiln(['--window', String(WINDOW), '--data-dir', tempDir('runq-plain')]);
    t0 = Math.floor(Date.now() / 1000);
    // two CPU-bound programs sharing CPU 0, a light one alone on CPU 1: plain processes, named by executable
    const cg = makeCgroup(plain);
    const procs = [
      spawnInCgroup(cg, 'taskset', ['-c', '0', join(fx.dir, 'rq-busy-a')]),
      spawnInCgroup(cg, 'taskset', ['-c', '0', join(fx.dir, 'rq-busy-b')]),
      spawnInCgroup(cg, 'taskset', ['-c', '1', join(fx.dir, 'rq-light')]),
    ];
    await sleep(1000);
    // the peer: runqlat -p for each busy process over the same 5 s
    const runs = ['rq-busy-a', 'rq-busy-b'].map((name, i) => {
      const p = spawn('runqlat', ['-p', String(procs[i].pid), '5', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      peers[name] = '';
      p.stdout!.on('data', (d) => (peers[name] += d));
      p.stderr!.on('data', (d) => (peers[name] += d));
      return p;
    });
    assert.deepEqual(await Promise.all(runs.map(waitExit)), [0, 0], JSON.stringify(peers));
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map(waitExit));
    t1 = Math.ceil(Date.now() / 1000);
    await windowsStoredThrough(kiln, t1);
  });

  after(async () => {
    await kiln?.stop();
    removeCgroup(plain);
  });

  it('gives each process its own row named by its executable; the busy ones agree with runqlat -p within one log2 bucket at p50', async () => {
    const { body } = await getJson<RunqRow[]>(`${kiln.url}/api/v1/runq?from=${t0 - WINDOW}&to=${t1 + WINDOW}`);
    const rows = new Map(body.map((r) => [r.app, r]));
    for (const name of ['rq-busy-a', 'rq-busy-b', 'rq-light']) assert.ok(rows.has(name), `a row for ${name}: ${body.map((r) => r.app).join(', ')}`);
    assert.ok(!body.some((r) => r.app.startsWith('cgroup:') && r.app.includes(plain)), 'no cgroup row for plain processes');
    for (const name of ['rq-busy-a', 'rq-busy-b']) {
      const r = rows.get(name)!;
      const peer = runqlatP50(peers[name]);
      const kilnBucket = Math.floor(Math.log2(r.p50_us));
      const peerBucket = Math.floor(Math.log2(peer.lo || 1));
      assert.ok(Math.abs(kilnBucket - peerBucket) <= 1, `${name}: Kiln p50 ${r.p50_us} us (2^${kilnBucket}) vs runqlat ${peer.lo}-${peer.hi} us (2^${peerBucket})\n${peers[name]}`);
    }
    assert.ok(rows.get('rq-light')!.p50_us * 10 < rows.get('rq-busy-a')!.p50_us, 'the light one waits far less');
  });
});
