/* Kiln against what a local user or an odd program can throw at it, through the real `kiln run`:
 * perf maps that are a FIFO, huge, or growing; a process that execs hundreds of times a second; and
 * a fuzz run over every endpoint's parameters. Kiln keeps sampling and serving, with bounded memory,
 * and every request ends in 200, 400 or 404 in bounded time. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chownSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FlameNode } from './flamegraph.js';
import { bpfTest, buildFixtures, getJson, startKiln, tempDir, waitExit, type Fixtures, type KilnProcess } from '../testing/testkit.js';

const WINDOW = 3;

function names(n: FlameNode, out = new Set<string>()): Set<string> {
  out.add(n.name);
  for (const c of n.children) names(c, out);
  return out;
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Starts a copy of the anonymous-code spinner under its own name; resolves with the loop's address. */
async function spinner(fx: Fixtures, name: string): Promise<{ proc: ChildProcess; loop: bigint }> {
  const bin = join(fx.dir, name);
  copyFileSync(fx.anonloop, bin);
  const proc = spawn(bin, [], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    proc.once('exit', (c) => reject(new Error(`${name} exited ${c}`)));
  });
  return { proc, loop: BigInt(`0x${line}`) };
}

describe('Kiln under hostile input', bpfTest(), () => {
  let fx: Fixtures;
  let kiln: KilnProcess;
  let dataDir: string;
  const procs: ChildProcess[] = [];
  const files: string[] = [];
  const t0 = Math.floor(Date.now() / 1000) - 2 * WINDOW;

  before(async () => {
    fx = buildFixtures();
    dataDir = tempDir('hostile');
    kiln = await startKiln(['--data-dir', dataDir, '--window', String(WINDOW), '--sample-hz', '197']);
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map(waitExit));
    for (const f of files) rmSync(f, { force: true });
    await kiln?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(fx.dir, { recursive: true, force: true });
  });

  async function flamegraph(app: string): Promise<FlameNode | null> {
    const r = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=${encodeURIComponent(app)}&from=${t0}&to=now`);
    return r.status === 200 ? r.body : null;
  }

  async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 45_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v) return v;
      assert.ok(Date.now() < deadline, `${what} within ${timeoutMs / 1000} s\n${kiln.log().slice(-2000)}`);
      await sleep(500);
    }
  }

  it('a FIFO, a huge and a growing perf map: sampling and serving go on, memory stays bounded', { timeout: 180_000 }, async () => {
    const busy = spawn(fx.busy, [], { stdio: 'ignore' });
    procs.push(busy);
    await waitFor('busy profiled', async () => ((await flamegraph('busy'))?.value ?? 0) > 50);
    const rssBefore = rssBytes(kiln.proc.pid!);

    // a FIFO owned by nobody where the perf map should be: opening it for reading would block forever
    const fifo = await spinner(fx, 'jit-fifo');
    procs.push(fifo.proc);
    const fifoPath = `/tmp/perf-${fifo.proc.pid}.map`;
    files.push(fifoPath);
    execFileSync('mkfifo', [fifoPath]);
    chownSync(fifoPath, 65534, 65534);

    // a huge one: 48 MB of lines (Kiln reads 32 MiB of a map at most), the loop's name among the first
    const huge = await spinner(fx, 'jit-huge');
    procs.push(huge.proc);
    const hugePath = `/tmp/perf-${huge.proc.pid}.map`;
    files.push(hugePath);
    writeFileSync(hugePath, `${huge.loop.toString(16)} 2 LazyCompile:*hugeLoop big.js:1\n`);
    const block = Array.from({ length: 20_000 }, (_, i) => `${(0x10000000 + i * 0x80).toString(16)} 40 LazyCompile:*filler_${i} /srv/app/node_modules/some-package/lib/file_${i % 50}.js:${i}\n`).join('');
    for (let written = 0; written < 48 << 20; written += block.length) appendFileSync(hugePath, block);

    // a growing one: a line every 100 ms, the loop's own name only after a few seconds
    const grow = await spinner(fx, 'jit-grow');
    procs.push(grow.proc);
    const growPath = `/tmp/perf-${grow.proc.pid}.map`;
    files.push(growPath);
    writeFileSync(growPath, '');
    let n = 0;
    const appender = setInterval(() => {
      appendFileSync(growPath, `${(0x20000000 + n * 0x40).toString(16)} 40 LazyCompile:*early_${n}\n`);
      if (++n === 40) appendFileSync(growPath, `${grow.loop.toString(16)} 2 LazyCompile:*growLoop grow.js:7\n`);
    }, 100);
    try {
      const fifoTree = await waitFor('the FIFO process profiled', () => flamegraph('jit-fifo'));
      // its JIT code, unnamed, is one frame for the region (not one per address)
      assert.ok(names(fifoTree).has('[anon]'), `its JIT frame is [anon]: ${[...names(fifoTree)].join(', ')}`);
      assert.ok(![...names(fifoTree)].some((x) => x.startsWith('[anon]+')), 'no frame per address');
      const hugeTree = await waitFor('the huge map read', async () => {
        const t = await flamegraph('jit-huge');
        return t && names(t).has('LazyCompile:*hugeLoop big.js:1') ? t : null;
      });
      assert.ok(hugeTree.value > 0);
      await waitFor('the appended name found', async () => {
        const t = await flamegraph('jit-grow');
        return t && names(t).has('LazyCompile:*growLoop grow.js:7');
      });
    } finally {
      clearInterval(appender);
    }

    // sampling went on: busy keeps gaining samples, and the status answers at once
    const a = (await flamegraph('busy'))!.value;
    await waitFor('busy still sampled', async () => ((await flamegraph('busy'))?.value ?? 0) > a + 100);
    const t = performance.now();
    const status = await getJson<{ profiler: { perfMapsRefused: number } }>(`${kiln.url}/api/v1/status`);
    assert.ok(performance.now() - t < 2000, 'status answered promptly');
    assert.ok(status.body.profiler.perfMapsRefused >= 1, 'the FIFO was refused and counted');
    const grown = rssBytes(kiln.proc.pid!) - rssBefore;
    assert.ok(grown < 160 << 20, `Kiln's RSS grew ${(grown / 2 ** 20).toFixed(0)} MiB for a 48 MB perf map (bounded at 32 MiB read)`);
    for (const p of [busy, fifo.proc, huge.proc, grow.proc]) p.kill('SIGKILL');
    await Promise.all([busy, fifo.proc, huge.proc, grow.proc].map(waitExit));
  });

  it('a process exec-ing hundreds of times a second: each sample credited to the binary that ran', { timeout: 120_000 }, async () => {
    const from = Math.floor(Date.now() / 1000) - WINDOW;
    const pair = spawn(fx.execA, [], { stdio: 'ignore' });
    procs.push(pair);
    const tree = async (app: string) => {
      const r = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=${app}&from=${from}&to=now`);
      return r.status === 200 ? r.body : null;
    };
    await waitFor('both sides profiled', async () => {
      const [a, b] = await Promise.all([tree('kiln-exec-a'), tree('kiln-exec-b')]);
      return a && b && a.value + b.value > 1500;
    }, 90_000);
    pair.kill('SIGKILL');
    const [a, b] = (await Promise.all([tree('kiln-exec-a'), tree('kiln-exec-b')])) as [FlameNode, FlameNode];
    const share = a.value / (a.value + b.value);
    assert.ok(share > 0.6 && share < 0.88, `A spins 3/4 of the time: its share ${share.toFixed(3)} (${a.value} vs ${b.value} samples)`);
    assert.ok(!names(a).has('kiln_exec_b_spin'), "B's function never shows under A");
    assert.ok(!names(b).has('kiln_exec_a_spin'), "A's function never shows under B");
  });

  it('a short-lived multi-threaded process: named by its process name, never by its threads\' name', { timeout: 120_000 }, async () => {
    const from = Math.floor(Date.now() / 1000) - WINDOW;
    // runs of 300 ms: most of their samples are named after the process is gone, from what the
    // kernel said at the sample, since /proc no longer has it
    let cpu = 0;
    for (let i = 0; i < 12; i++) {
      const out = execFileSync(fx.shortThreads, ['300'], { encoding: 'utf8' });
      cpu += Number(out.trim());
    }
    const expected = cpu * 197;
    const tree = async (app: string) => {
      const r = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?app=${app}&from=${from}&to=now`);
      return r.status === 200 ? r.body : null;
    };
    const short = await waitFor('the runs profiled', async () => {
      const t = await tree('kiln-short');
      return t && t.value >= 0.8 * expected ? t : null;
    }, 60_000).catch(async (e: Error) => {
      const t = await tree('kiln-short');
      const apps = (await getJson<unknown>(`${kiln.url}/api/v1/apps?from=${from}&to=now`)).body;
      throw new Error(`${e.message.split('\n')[0]}: kiln-short has ${t?.value ?? 0} samples of ${expected.toFixed(0)} its CPU time gives; apps: ${JSON.stringify(apps)}`);
    });
    assert.ok(names(short).has('short_worker_spin'), `its threads' function is under it: ${JSON.stringify([...names(short)])} ${short.value}`);
    assert.equal((await tree('hot-worker'))?.value ?? 0, 0, 'no application is named after its threads');
  });

  it('two processes of one executable with different command lines: told apart by a label, each flamegraph only its own', { timeout: 120_000 }, async () => {
    const from = Math.floor(Date.now() / 1000) - WINDOW;
    const CPU_SECONDS = 2;
    const orders = spawn(fx.roles, ['orders', String(CPU_SECONDS)], { stdio: 'ignore' });
    const billing = spawn(fx.roles, ['billing', String(CPU_SECONDS)], { stdio: 'ignore' });
    procs.push(orders, billing);
    assert.deepEqual(await Promise.all([waitExit(orders), waitExit(billing)]), [0, 0]);
    const want = { [orders.pid!]: `${fx.roles} orders ${CPU_SECONDS}`, [billing.pid!]: `${fx.roles} billing ${CPU_SECONDS}` };
    type Proc = { pid: number; exe: string; cmdline: string; samples: number };
    const list = async () => (await getJson<Proc[]>(`${kiln.url}/api/v1/processes?app=kiln-roles&from=${from}&to=now`)).body;
    // both under one application, each process with (nearly) all the samples its CPU time gives
    const procsSeen = await waitFor('both processes profiled', async () => {
      const rows = await list();
      const mine = Array.isArray(rows) ? rows.filter((r) => want[r.pid] !== undefined) : [];
      return mine.length === 2 && mine.every((r) => r.samples >= 0.7 * CPU_SECONDS * 197) ? mine : null;
    }, 60_000).catch(async (e: Error) => {
      throw new Error(`${e.message.split('\n')[0]}: processes of kiln-roles ${JSON.stringify(await list())}`);
    });
    for (const r of procsSeen) {
      assert.equal(r.cmdline, want[r.pid], 'the command line, arguments joined by spaces');
      assert.equal(r.exe, fx.roles);
    }
    const tree = async (filter: Record<string, string>) => {
      const r = await getJson<FlameNode>(`${kiln.url}/api/v1/profile/flamegraph?${new URLSearchParams({ app: 'kiln-roles', from: String(from), to: 'now', ...filter })}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    };
    const all = names(await tree({}));
    assert.ok(all.has('kiln_role_orders') && all.has('kiln_role_billing'), 'the application holds both');
    for (const [filter, own, other] of [
      [{ pid: String(orders.pid) }, 'kiln_role_orders', 'kiln_role_billing'],
      [{ cmdline: want[billing.pid!] }, 'kiln_role_billing', 'kiln_role_orders'],
      [{ pid: String(billing.pid), exe: fx.roles }, 'kiln_role_billing', 'kiln_role_orders'],
    ] as const) {
      const t = names(await tree(filter));
      assert.ok(t.has(own), `${JSON.stringify(filter)}: its own function ${own} is there`);
      assert.ok(!t.has(other), `${JSON.stringify(filter)}: the other process's ${other} is not`);
    }
    // a process that never ran: nothing, not everything
    assert.equal((await tree({ pid: '1' })).value, 0);
    // pprof narrowed the same way, named after the process
    const r = await fetch(`${kiln.url}/api/v1/profile/pprof?${new URLSearchParams({ app: 'kiln-roles', from: String(from), to: 'now', pid: String(orders.pid) })}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-disposition') ?? '', new RegExp(`kiln-roles-pid${orders.pid}-`));
    const bad = await getJson<{ error: string }>(`${kiln.url}/api/v1/profile/flamegraph?app=kiln-roles&pid=-3`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /pid must be a process id/);
  });

  it('fuzzed parameters on every endpoint: only 200, 400 or 404, each in bounded time, and Kiln alive', { timeout: 240_000 }, async () => {
    const values = [
      '', 'now', 'now-1h', 'now-99999999999d', 'now-99999999999w', '0', '-1', '1.5', '4294967295', '4294967296', '99999999999', '1e308', 'NaN', 'Infinity', '-Infinity',
      '0x10', '2026-13-45T99:99:99Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '1970-01-01T00:00:00Z', 'a'.repeat(5000), '%00', "' OR 1=1 --", '{app:String}', '../../etc/passwd',
      'busy', 'kernel', 'app', 'peer', 'class', 'json', 'csv', 'focus', '2026-02', '1969-12', '0000-00', '2026-1', 'relative', 'absolute', '1', '1000', '1000000000', 'profiler',
    ];
    const endpoints: Record<string, string[]> = {
      '/api/v1/apps': ['from', 'to'],
      '/api/v1/processes': ['app', 'from', 'to'],
      '/api/v1/profile/flamegraph': ['app', 'from', 'to', 'pid', 'cmdline', 'exe', 'host', 'container_id'],
      '/api/v1/profile/pprof': ['app', 'from', 'to', 'pid', 'cmdline'],
      '/api/v1/profile/series': ['app', 'from', 'to', 'step', 'pid'],
      '/api/v1/profile/diff': ['app', 'from', 'to', 'base_app', 'base_from', 'base_to', 'mode', 'pid', 'base_pid', 'base_cmdline'],
      '/api/v1/profile/changes': ['app', 'from', 'to', 'base_from', 'base_to', 'limit', 'min_samples'],
      '/api/v1/runq': ['app', 'from', 'to'],
      '/api/v1/dns': ['app', 'from', 'to'],
      '/api/v1/netcost': ['from', 'to', 'app', 'group_by'],
      '/api/v1/netcost/series': ['from', 'to', 'step'],
      '/api/v1/reports/monthly': ['month', 'format'],
      '/api/v1/losses': ['from', 'to', 'collector'],
    };
    const defaults: Record<string, string> = { app: 'busy', from: 'now-1h', to: 'now', base_from: 'now-2h', base_to: 'now-1h', month: '2026-11', format: 'json' };
    let seed = 12345;
    const rand = (k: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % k;
    };
    const urls: string[] = [];
    for (const [path, params] of Object.entries(endpoints)) {
      for (const p of params) for (const v of values) urls.push(`${path}?${new URLSearchParams({ ...Object.fromEntries(params.filter((x) => defaults[x]).map((x) => [x, defaults[x]])), [p]: v })}`);
      // repeated parameters, and random combinations
      urls.push(`${path}?from=now-1h&from=now-2h&to=now&to=0&app=busy&app=kernel&month=2026-11&month=2026-12`);
      for (let i = 0; i < 40; i++) urls.push(`${path}?${params.map((p) => `${p}=${encodeURIComponent(values[rand(values.length)])}`).join('&')}`);
    }
    urls.push('/api/v1/status', '/metrics', '/api/v1/openapi.json', '/', '/cost', '/dns', '/api/v1/nope?from=now', '/%2e%2e/%2e%2e/etc/passwd');
    const seen = new Map<number, number>();
    for (const u of urls) {
      const t = performance.now();
      const r = await fetch(`${kiln.url}${u}`, { signal: AbortSignal.timeout(20_000) });
      await r.arrayBuffer();
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
      assert.ok([200, 400, 404].includes(r.status), `${u.slice(0, 200)} → ${r.status}`);
      assert.ok(performance.now() - t < 20_000, `${u.slice(0, 200)} answered in bounded time`);
    }
    assert.ok((seen.get(400) ?? 0) > 100 && (seen.get(200) ?? 0) > 100, `a mix of answers: ${JSON.stringify([...seen])}`);
    // alive and collecting
    assert.equal(kiln.proc.exitCode, null);
    const status = await getJson<{ profiler: { samplesRecorded: number } }>(`${kiln.url}/api/v1/status`);
    const before = status.body.profiler.samplesRecorded;
    await waitFor('still sampling', async () => (await getJson<{ profiler: { samplesRecorded: number } }>(`${kiln.url}/api/v1/status`)).body.profiler.samplesRecorded > before);
  });
});
