/* Whole stacks on binaries built as distributions build them, through the real `kiln run`: an -O2
 * program without frame pointers (one chain through libc's qsort) beside `perf record --call-graph
 * dwarf` on the same process, a frame-pointer build whose leaf has no frame, Debian's python3, node
 * with --perf-basic-prof, a binary without unwind information and one deleted after it started. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { bpfTest, getJson, startKiln, storedThrough, tempDir, testdataDir, waitExit, type KilnProcess } from '../../testing/testkit.js';

const HZ = 197;
const WINDOW = 2;
const RUN_SECONDS = 20;

/** Samples of one app's pprof as function names, leaf first, with counts. */
async function stacks(kiln: KilnProcess, app: string, q: string): Promise<{ names: string[]; count: number }[]> {
  const r = await fetch(`${kiln.url}/api/v1/profile/pprof?app=${encodeURIComponent(app)}&${q}`);
  assert.equal(r.status, 200, `pprof of ${app}`);
  const p = Profile.decode(gunzipSync(Buffer.from(await r.arrayBuffer())));
  const str = (i: number | bigint) => p.stringTable.strings[Number(i)];
  const fnName = new Map(p.function.map((f) => [Number(f.id), str(f.name)]));
  const locFn = new Map(p.location.map((l) => [Number(l.id), fnName.get(Number(l.line[0]?.functionId)) ?? '?']));
  return p.sample.map((s) => ({ names: s.locationId.map((id) => locFn.get(Number(id))!), count: Number(s.value[0]) }));
}

/** perf script's samples: the symbol of each frame, leaf first, frames of other objects as [dso]. */
function perfStacks(perfData: string): { names: string[]; count: number }[] {
  const out = spawnSync('perf', ['script', '-i', perfData, '-F', 'ip,sym,dso', '--no-inline'], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout;
  return out
    .split('\n\n')
    .map((block) => block.split('\n').filter((l) => l.trim()))
    .filter((lines) => lines.length > 0)
    .map((lines) => ({ names: lines.map((l) => /^\s*[0-9a-f]+\s+(\S+)/.exec(l)?.[1].replace(/\+0x[0-9a-f]+$/, '') ?? '?'), count: 1 }));
}

const CHAIN_A = ['leaf_a', 'step_a', 'run_a', 'main'];
/** leaf_a ← step_a ← run_a ← main, directly */
const wholeA = (n: string[]) => CHAIN_A.every((f, i) => n[i] === f);
/** cmp_b ← libc's sort (one or more frames) ← sort_b ← run_b ← main */
function wholeB(n: string[]): boolean {
  if (n[0] !== 'cmp_b') return false;
  const s = n.indexOf('sort_b');
  return s >= 2 && n[s + 1] === 'run_b' && n[s + 2] === 'main' && n.slice(1, s).every((f) => /qsort|msort/.test(f));
}

function share(st: { names: string[]; count: number }[], leaf: string, whole: (n: string[]) => boolean): { n: number; whole: number } {
  let n = 0;
  let w = 0;
  for (const s of st) {
    if (s.names[0] !== leaf) continue;
    n += s.count;
    if (whole(s.names)) w += s.count;
  }
  return { n, whole: w };
}

describe('unwinding by tables, on the binaries people run', bpfTest(), () => {
  let kiln: KilnProcess;
  let dir: string;
  let q: string;
  let steady: string;
  let perfData: string;
  const procs: ChildProcess[] = [];
  const bin = (name: string) => join(dir, name);

  before(async () => {
    dir = tempDir('unwind');
    const src = join(testdataDir, 'deepchain.c');
    const cc = (args: string[]) => execFileSync('cc', args, { stdio: 'pipe' });
    cc(['-O2', '-o', bin('kiln-dc-o2'), src]); // Debian's defaults: no frame pointers
    cc(['-O2', '-fno-omit-frame-pointer', '-mno-omit-leaf-frame-pointer', '-o', bin('kiln-dc-fp'), src]);
    // frame pointers and no unwind information at all
    cc(['-O2', '-fno-omit-frame-pointer', '-o', bin('kiln-dc-nouw'), src]);
    execFileSync('objcopy', ['--remove-section', '.eh_frame', '--remove-section', '.eh_frame_hdr', bin('kiln-dc-nouw')]);
    copyFileSync(bin('kiln-dc-o2'), bin('kiln-dc-del'));
    copyFileSync('/usr/bin/python3.11', bin('kiln-py-e2e'));
    copyFileSync(process.execPath, bin('kiln-node-e2e'));
    // rules only in .debug_frame, in a separate debug file found through .gnu_debuglink (no .eh_frame)
    cc(['-O2', '-g', '-fno-asynchronous-unwind-tables', '-o', bin('kiln-dc-dbg'), src]);
    execFileSync('objcopy', ['--only-keep-debug', bin('kiln-dc-dbg'), bin('kiln-dc-dbg.debug')]);
    execFileSync('objcopy', ['--strip-debug', '--remove-section', '.eh_frame', '--remove-section', '.eh_frame_hdr', bin('kiln-dc-dbg')]);
    execFileSync('objcopy', ['--add-gnu-debuglink=kiln-dc-dbg.debug', bin('kiln-dc-dbg')], { cwd: dir });
    writeFileSync(
      join(dir, 'hot.py'),
      'import sys, time\ndef inner(n):\n    s = 0\n    for i in range(n): s += i * i\n    return s\ndef outer(t):\n    end = time.time() + t\n    while time.time() < end: inner(20000)\nouter(float(sys.argv[1]))\n',
    );

    const t0 = Math.floor(Date.now() / 1000) - 2;
    kiln = await startKiln(['--window', String(WINDOW), '--sample-hz', String(HZ), '--data-dir', tempDir('data')]);
    // Kiln's own start-up builds the tables of what already runs (node's takes ~0.5 s): a program started
    // in that second is walked by frame pointers until its turn. Start once Kiln has loaded itself.
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(200)) {
      const { body } = await getJson<{ profiler: { unwind: { processes: number; tables: number } } }>(`${kiln.url}/api/v1/status`);
      if (body.profiler.unwind.processes >= 1 && body.profiler.unwind.tables >= 3) break;
    }
    const run = (cmd: string, args: string[]) => {
      const p = spawn(cmd, args, { stdio: 'ignore', cwd: dir });
      procs.push(p);
      return p;
    };
    const startedAt = Date.now(); // the programs start now
    // perf's DWARF unwinding on the same -O2 process, over its whole life (as Kiln sees it): the
    // reference chain and CPU split
    perfData = join(dir, 'perf.data');
    run('perf', ['record', '-q', '-F', String(HZ), '--call-graph', 'dwarf', '-o', perfData, '--', bin('kiln-dc-o2'), String(RUN_SECONDS)]);
    run(bin('kiln-dc-fp'), [String(RUN_SECONDS)]);
    run(bin('kiln-dc-nouw'), [String(RUN_SECONDS)]);
    run(bin('kiln-dc-dbg'), [String(RUN_SECONDS)]);
    const del = run(bin('kiln-dc-del'), [String(RUN_SECONDS)]);
    // Debian's own python3 and node binaries, as copies under names of their own (same bytes, same build
    // ids): other python3 and node processes on the machine must not mix into what is checked
    run(bin('kiln-py-e2e'), [join(dir, 'hot.py'), String(RUN_SECONDS)]);
    run(bin('kiln-node-e2e'), ['--perf-basic-prof', join(testdataDir, 'jit-hot.js'), String(RUN_SECONDS)]);
    // the deleted binary: gone from disk once it runs
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
      if (existsSync(`/proc/${del.pid}/exe`) && readFileSync(`/proc/${del.pid}/comm`, 'utf8').startsWith('kiln-dc-del')) break;
    }
    unlinkSync(bin('kiln-dc-del'));
    assert.deepEqual(await Promise.all(procs.map(waitExit)), procs.map(() => 0));
    // every program has exited: once a marker started after them is stored, so is all of theirs
    await storedThrough(kiln, { timeoutMs: 90_000 });
    const end = Math.ceil(Date.now() / 1000) + 1;
    q = `from=${t0}&to=${end}`;
    // Until Kiln has loaded a new process's tables (~0.1 s on a quiet host, more on a busy one) its
    // samples are walked by frame pointers, counted in walksByFramePointers. Whole chains are checked
    // from the first window 4 s after the programs started; the CPU split over their whole lives.
    steady = `from=${Math.ceil((startedAt / 1000 + 4) / WINDOW) * WINDOW}&to=${end}`;
  });

  after(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await kiln?.stop();
  });

  it('gives the whole chain from main on an -O2 build without frame pointers, through libc qsort, as perf --call-graph dwarf does', async () => {
    const st = await stacks(kiln, 'kiln-dc-o2', steady);
    const a = share(st, 'leaf_a', wholeA);
    const b = share(st, 'cmp_b', wholeB);
    const all = await stacks(kiln, 'kiln-dc-o2', q);
    const aAll = share(all, 'leaf_a', wholeA);
    const bAll = share(all, 'cmp_b', wholeB);
    const broken = st.filter((s) => (s.names[0] === 'leaf_a' && !wholeA(s.names)) || (s.names[0] === 'cmp_b' && !wholeB(s.names)));
    const status = (await getJson<{ profiler: Record<string, unknown> }>(`${kiln.url}/api/v1/status`)).body.profiler;
    const log = () => `not whole: ${JSON.stringify(broken.slice(0, 12))}\n${JSON.stringify(status)}\n${kiln.log()}`;
    assert.ok(a.n > 100 && b.n > 100, `enough samples of both leaves: ${a.n}, ${b.n}; ${log()}`);
    assert.ok(a.whole / a.n >= 0.95, `leaf_a: ${a.whole}/${a.n} with the whole chain; ${log()}`);
    assert.ok(b.whole / b.n >= 0.95, `cmp_b: ${b.whole}/${b.n} with the whole chain; ${log()}`);

    const ps = perfStacks(perfData);
    const pa = share(ps, 'leaf_a', wholeA);
    const pb = share(ps, 'cmp_b', wholeB);
    assert.ok(pa.n > 100 && pb.n > 100, `perf sampled both leaves: ${pa.n}, ${pb.n}`);
    // perf's own chains are the reference: the same chains, mostly whole
    assert.ok(pa.whole / pa.n >= 0.9 && pb.whole / pb.n >= 0.9, `perf dwarf: leaf_a ${pa.whole}/${pa.n}, cmp_b ${pb.whole}/${pb.n}`);
    const kShare = aAll.n / (aAll.n + bAll.n);
    const pShare = pa.n / (pa.n + pb.n);
    assert.ok(Math.abs(kShare - pShare) <= 0.05, `CPU split leaf_a: kiln ${(kShare * 100).toFixed(1)}%, perf ${(pShare * 100).toFixed(1)}%`);
  });

  it("keeps a frameless leaf's caller in a frame-pointer build", async () => {
    // the fixture's premise: GCC 12 gives leaf_a no frame even with -mno-omit-leaf-frame-pointer
    const dis = execFileSync('objdump', ['-d', '--no-show-raw-insn', bin('kiln-dc-fp')], { encoding: 'utf8' });
    const leaf = dis.slice(dis.indexOf('<leaf_a>:'), dis.indexOf('\n\n', dis.indexOf('<leaf_a>:')));
    assert.ok(!/push\s+%rbp/.test(leaf), `leaf_a has no frame:\n${leaf}`);
    const a = share(await stacks(kiln, 'kiln-dc-fp', steady), 'leaf_a', wholeA);
    assert.ok(a.n > 100 && a.whole / a.n >= 0.95, `leaf_a ← step_a ← run_a ← main in ${a.whole}/${a.n}`);
  });

  it("reaches Debian's python3 interpreter entry (Py_RunMain, main, _start)", async () => {
    const st = await stacks(kiln, 'kiln-py-e2e', steady);
    let n = 0;
    let entry = 0;
    for (const s of st) {
      n += s.count;
      if (s.names.includes('Py_RunMain') && s.names.at(-1) === '_start') entry += s.count;
    }
    assert.ok(n > 100 && entry / n >= 0.9, `python3: ${entry}/${n} samples reach Py_RunMain and _start; ${JSON.stringify(st.slice(0, 5))}`);
  });

  it('names JIT frames from the perf map with the native frames below them (node --perf-basic-prof)', async () => {
    const st = await stacks(kiln, 'kiln-node-e2e', steady);
    let jit = 0;
    let rooted = 0;
    for (const s of st) {
      if (!s.names.some((f) => f.includes('kilnJitHot'))) continue;
      jit += s.count;
      if (s.names.some((f) => f.startsWith('node::Start(')) && s.names.at(-1) === '_start') rooted += s.count;
    }
    assert.ok(jit > 100 && rooted / jit >= 0.9, `node: ${rooted}/${jit} JIT samples with node::Start and _start below; ${JSON.stringify(st.filter((s) => s.names.some((f) => f.includes('kilnJitHot'))).slice(0, 3))}`);
  });

  it('falls back to frame pointers for a binary without unwind information, and counts it', async () => {
    const st = await stacks(kiln, 'kiln-dc-nouw', steady);
    // frame pointers reach main from leaf_a, but skip its caller (leaf_a has no frame): what the table
    // walk of the same code with .eh_frame (kiln-dc-fp above) gets right
    const viaFp = share(st, 'leaf_a', (n) => n[1] === 'run_a' && n[2] === 'main');
    assert.ok(viaFp.n > 100 && viaFp.whole / viaFp.n >= 0.9, `frame pointers: leaf_a ← run_a ← main in ${viaFp.whole}/${viaFp.n}; ${JSON.stringify(st.slice(0, 6))}`);
    const { body } = await getJson<{ profiler: { framesByFramePointers: number; unwind: { fallbackBinaries: Record<string, number> } } }>(`${kiln.url}/api/v1/status`);
    assert.ok(body.profiler.unwind.fallbackBinaries.no_unwind_info >= 1, JSON.stringify(body.profiler.unwind));
    assert.ok(body.profiler.framesByFramePointers > 0);
    const metrics = await (await fetch(`${kiln.url}/metrics`)).text();
    assert.match(metrics, /kiln_profiler_unwind_fallback_binaries\{reason="no_unwind_info"\} [1-9]/);
    assert.match(metrics, /kiln_profiler_user_stack_walks_total\{walk="tables"\} [1-9]/);
    assert.match(metrics, /kiln_profiler_unwind_table_rows\{state="capacity"\} 4194304/);
  });

  it('unwinds by .debug_frame from a separate debug file when the binary has no .eh_frame', async () => {
    const sections = execFileSync('readelf', ['-SW', bin('kiln-dc-dbg')], { encoding: 'utf8' });
    assert.ok(!sections.includes('.eh_frame') && !sections.includes('.debug_frame'), 'the binary itself has neither');
    const a = share(await stacks(kiln, 'kiln-dc-dbg', steady), 'leaf_a', wholeA);
    assert.ok(a.n > 100 && a.whole / a.n >= 0.95, `.debug_frame: ${a.whole}/${a.n} whole`);
  });

  it('still unwinds a process whose binary was deleted after it started (read through /proc/PID/map_files)', async () => {
    const st = await stacks(kiln, 'kiln-dc-del', steady);
    const a = share(st, 'leaf_a', wholeA);
    assert.ok(a.n > 100 && a.whole / a.n >= 0.95, `deleted binary: ${a.whole}/${a.n} whole`);
  });
});
