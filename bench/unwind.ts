/* Unwinding by tables (ARCHITECTURE.md, "Unwinding"), printed:
 *  1. table build: .eh_frame bytes, rows, table bytes and build time for Debian's libc, python3, node,
 *     chromium and the embedded engine's libchdb.so;
 *  2. overhead at 97 Hz with both CPUs busy on -O2 programs without frame pointers (the deepchain
 *     fixture): the profiler alone walking by frame pointers vs by tables ((process CPU + kiln_profile
 *     run time) / wall), and `perf record -a --call-graph dwarf` (its process CPU, plus what the
 *     workload lost), modes alternating;
 *  3. BPF map memory with 500 long-lived processes running now and then (python3, perl, an -O2 C
 *     program), as Kiln reports it. */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ElfFile } from '../profiler/symbols/elf.js';
import { parseCfi } from '../profiler/unwind/cfi.js';
import { UNWIND_PROC } from '../profiler/bpf-layout.js';
import { AGENT_NODE_FLAGS, repoRoot, startKiln, tempDir, testdataDir } from '../testing/testkit.js';
import { bpfRunTimeNs, cpuSecondsPrecise, fmtMB, fmtPct, killAll, median } from './common.js';

const HZ = 97;

function tableBuild(): void {
  const bins = [
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/usr/bin/python3.11',
    process.execPath,
    '/usr/lib/chromium/chromium',
    join(repoRoot, 'node_modules/@chdb/lib-linux-x64-gnu/libchdb.so'),
  ];
  console.log('\nUnwind tables per binary (.eh_frame → 8-byte rows; build = parse + compile, warm):');
  console.log('  binary                                   .eh_frame     rows      table    build     per MB');
  for (const path of bins) {
    let elf: ElfFile;
    try {
      elf = ElfFile.open(path);
    } catch {
      continue;
    }
    const sec = elf.section('.eh_frame', 1 << 30);
    elf.close();
    if (!sec) continue;
    parseCfi({ data: sec.data.subarray(0, 1 << 16), vaddr: sec.vaddr, debugFrame: false }); // warm the JIT
    const t0 = performance.now();
    const { table } = parseCfi({ data: sec.data, vaddr: sec.vaddr, debugFrame: false });
    const ms = performance.now() - t0;
    const mb = sec.data.length / 1e6;
    console.log(
      `  ${path.replace(repoRoot + '/', '').slice(-40).padEnd(40)} ${fmtMB(sec.data.length).padStart(9)} ${String(table.pcs.length).padStart(9)} ${fmtMB(table.pcs.length * 8).padStart(9)} ${ms.toFixed(0).padStart(6)} ms ${(ms / mb).toFixed(0).padStart(6)} ms`,
    );
  }
}

interface Measured {
  cpu: number;
  bpf: number;
  work: number;
  /** perf only: CPU time of `perf report` turning the recorded stacks into call chains (the DWARF
   *  unwinding Kiln does online), per second of recording */
  post: number;
}
type Mode = 'nothing' | 'frame pointers' | 'tables' | 'perf dwarf';

async function stop(p: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill(sig);
  await once(p, 'exit');
}

async function measure(mode: Mode, seconds: number, workload: string): Promise<Measured> {
  let tool: ChildProcess | null = null;
  let perfData = '';
  if (mode === 'frame pointers' || mode === 'tables') {
    tool = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(repoRoot, 'dist/bench/collector-harness.js'), '--only', 'profiler', '--sample-hz', String(HZ), '--window', '60', '--unwind', mode === 'tables' ? 'tables' : 'fp'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(tool.stdout!, 'data');
  } else if (mode === 'perf dwarf') {
    perfData = join(tempDir('perf'), 'perf.data');
    tool = spawn('perf', ['record', '-F', String(HZ), '-a', '--call-graph', 'dwarf', '-q', '-o', perfData], { stdio: 'ignore' });
  }
  try {
    await sleep(2000);
    // two -O2 programs, one per CPU, each counting its rounds of work
    const work = [0, 1].map(() => spawn(workload, [String(seconds + 4)], { stdio: ['ignore', 'pipe', 'ignore'] }));
    await sleep(2000); // their tables loaded
    const c0 = tool?.pid ? cpuSecondsPrecise(tool.pid) : 0;
    const b0 = bpfRunTimeNs('kiln_profile').runTimeNs;
    const w0 = work.map((w) => cpuSecondsPrecise(w.pid!));
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const cpu = tool?.pid ? (cpuSecondsPrecise(tool.pid) - c0) / wall : 0;
    const bpf = mode === 'tables' || mode === 'frame pointers' ? (bpfRunTimeNs('kiln_profile').runTimeNs - b0) / 1e9 / wall : 0;
    // the workload's own CPU time over the same wall time: what the tool (and the kernel work it causes
    // on the sampled CPUs, e.g. perf's 8 KiB stack copies) left to it
    const got = work.reduce((s, w, i) => s + cpuSecondsPrecise(w.pid!) - w0[i], 0) / wall;
    killAll(work);
    let post = 0;
    if (mode === 'perf dwarf') {
      await stop(tool!, 'SIGINT');
      tool = null;
      // what the recorded 8 KiB stack copies cost to become call chains, over the whole recording
      const recorded = (performance.now() - t0) / 1000 + 4;
      const r = spawnSync('bash', ['-c', `TIMEFORMAT=%U+%S; time perf report -i ${perfData} --stdio --no-children -q > /dev/null 2>&1`], { encoding: 'utf8' });
      const [u, s] = (r.stderr.trim().split('\n').pop() ?? '0+0').split('+').map(Number);
      post = (u + s) / recorded;
    }
    return { cpu, bpf, work: got, post };
  } finally {
    if (tool) await stop(tool, mode === 'perf dwarf' ? 'SIGINT' : 'SIGTERM');
  }
}

async function overhead(seconds: number, rounds: number): Promise<void> {
  const workload = join(tempDir('deepchain'), 'deepchain');
  execFileSync('cc', ['-O2', '-o', workload, join(testdataDir, 'deepchain.c')]);
  const modes: Mode[] = ['nothing', 'frame pointers', 'tables', 'perf dwarf'];
  const results = new Map<Mode, Measured[]>(modes.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    for (const m of [...modes.slice(r % modes.length), ...modes.slice(0, r % modes.length)]) results.get(m)!.push(await measure(m, seconds, workload));
  }
  const med = (m: Mode, f: keyof Measured) => median(results.get(m)!.map((x) => x[f]));
  const base = med('nothing', 'work');
  console.log(`\nProfiler overhead at ${HZ} Hz, 2 CPUs busy with -O2 programs without frame pointers, ${rounds} rounds x ${seconds} s (medians, % of one core):`);
  console.log('  mode               agent CPU   BPF run time   perf report      total   workload CPU lost');
  const totals: Partial<Record<Mode, number>> = {};
  for (const m of modes.slice(1)) {
    const lost = Math.max(0, base - med(m, 'work'));
    totals[m] = med(m, 'cpu') + med(m, 'bpf') + med(m, 'post');
    console.log(`  ${m.padEnd(16)} ${fmtPct(med(m, 'cpu')).padStart(10)}   ${fmtPct(med(m, 'bpf')).padStart(11)}   ${fmtPct(med(m, 'post')).padStart(11)}   ${fmtPct(totals[m]!).padStart(8)}   ${fmtPct(lost).padStart(17)}`);
  }
  console.log(`  tables / frame pointers (agent + BPF): ${(totals.tables! / totals['frame pointers']!).toFixed(2)}`);
  console.log(`  tables / perf dwarf (agent + BPF vs record + report): ${(totals.tables! / totals['perf dwarf']!).toFixed(3)}`);
  console.log('  (perf record copies 8 KiB of stack per sample and unwinds them in perf report, afterwards; Kiln unwinds and');
  console.log('  symbolizes as it goes. Workload CPU lost: the two programs\' CPU time against the run with nothing, noise ~1%)');
}

async function hostOf500(): Promise<void> {
  const dir = tempDir('fivehundred');
  const light = join(dir, 'light');
  execFileSync('cc', ['-O2', '-o', light, join(testdataDir, 'light.c')]);
  const kiln = await startKiln(['--sample-hz', String(HZ), '--data-dir', tempDir('bench-data')]);
  const procs: ChildProcess[] = [];
  try {
    // 500 long-lived processes that each run a millisecond a second (half a core in all): python3,
    // perl, and an -O2 C program
    for (let i = 0; i < 500; i++) {
      const kind = i % 3;
      if (kind === 0) procs.push(spawn('python3', ['-c', 'import time\nwhile True:\n  s=sum(range(20000)); time.sleep(1)'], { stdio: 'ignore' }));
      else if (kind === 1) procs.push(spawn('perl', ['-e', 'while (1) { my $s = 0; $s += $_ for 1..20000; select(undef, undef, undef, 1) }'], { stdio: 'ignore' }));
      else procs.push(spawn(light, ['1000000'], { stdio: 'ignore' }));
    }
    let u: Record<string, number> = {};
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(2000)) {
      const s = (await (await fetch(`${kiln.url}/api/v1/status`)).json()) as { profiler: { unwind: Record<string, number> } };
      u = s.profiler.unwind;
      if (u.processes >= 450) break;
    }
    const procMap = u.processes * (UNWIND_PROC.size + 64);
    console.log(`\nBPF map memory for unwinding with ${procs.length} processes running (${u.processes} with an entry, ${u.tables} tables):`);
    console.log(`  rows map (preallocated, --unwind-table-mb): ${fmtMB(u.rowBytes)}; rows in use ${u.rowsUsed} (${fmtMB(u.rowsUsed * 8)})`);
    console.log(`  process entries (allocated on use, ${UNWIND_PROC.size} bytes each): ${fmtMB(procMap)}`);
    console.log(`  total: ${fmtMB(u.rowBytes + procMap)} (goal ≤ 64 MB); table build time so far ${Number(u.buildMsTotal).toFixed(0)} ms for ${fmtMB(u.cfiBytesParsed)} of CFI`);
  } finally {
    killAll(procs);
    await kiln.stop();
  }
}

export async function unwindBench(seconds = Number(process.env.KILN_BENCH_SECONDS ?? 20), rounds = 3): Promise<void> {
  tableBuild();
  await overhead(seconds, rounds);
  await hostOf500();
}
