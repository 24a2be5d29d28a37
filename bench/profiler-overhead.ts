/* Profiler overhead at 97 Hz with both CPUs busy (DESIGN.md: (agent CPU + BPF run time) / wall) for the
 * collectors alone and for the whole `kiln run`, against `perf record -F 97 -a -g` in the same run; and
 * workload slowdown: spinner iterations in a fixed time with each tool running vs nothing. Modes
 * alternate within each round so drift in the machine hits all of them alike. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot, startKiln, tempDir } from '../profiler/testkit.js';
import { bpfRunTimeNs, cpuSecondsPrecise, fmtPct, median } from './common.js';

const HZ = 97;

interface Measured {
  cpu: number;
  bpf: number;
  total: number;
  /** spinner iterations per second, both spinners */
  work: number;
}

type Mode = 'nothing' | 'collectors' | 'kiln run' | 'perf record';

async function startTool(mode: Mode): Promise<{ pid: number | null; stop: () => Promise<void> }> {
  if (mode === 'nothing') return { pid: null, stop: async () => {} };
  if (mode === 'collectors') {
    const h = spawn(process.execPath, [join(repoRoot, 'dist/bench/collector-harness.js'), '--sample-hz', String(HZ), '--window', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(h.stdout!, 'data');
    return { pid: h.pid!, stop: () => stopProc(h, 'SIGTERM') };
  }
  if (mode === 'kiln run') {
    const k = await startKiln(['--sample-hz', String(HZ), '--window', '10', '--data-dir', tempDir('bench-data')]);
    return { pid: k.proc.pid!, stop: k.stop };
  }
  const p = spawn('perf', ['record', '-F', String(HZ), '-a', '-g', '-q', '-o', join(tempDir('perf'), 'perf.data')], { stdio: 'ignore' });
  return { pid: p.pid!, stop: () => stopProc(p, 'SIGINT') };
}

async function stopProc(p: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill(sig);
  await once(p, 'exit');
}

async function measure(mode: Mode, seconds: number, spinBin: string): Promise<Measured> {
  const tool = await startTool(mode);
  try {
    await sleep(3000); // warm-up: first symbolization of every binary, table creation
    const spinners = [spawn(spinBin, [], { stdio: ['ignore', 'pipe', 'ignore'] }), spawn(spinBin, [], { stdio: ['ignore', 'pipe', 'ignore'] })];
    const outputs = spinners.map((s) => {
      let out = '';
      s.stdout!.on('data', (d) => (out += d));
      return () => out;
    });
    await sleep(500);
    const c0 = tool.pid ? cpuSecondsPrecise(tool.pid) : 0;
    const b0 = mode === 'collectors' || mode === 'kiln run' ? bpfRunTimeNs('kiln_profile').runTimeNs : 0;
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const wall = (performance.now() - t0) / 1000;
    const cpu = tool.pid ? (cpuSecondsPrecise(tool.pid) - c0) / wall : 0;
    const bpf = b0 ? (bpfRunTimeNs('kiln_profile').runTimeNs - b0) / 1e9 / wall : 0;
    // spinners ran 0.5 s before and until now: work per second of their whole life
    const lived = (performance.now() - t0) / 1000 + 0.5;
    await Promise.all(spinners.map((s) => stopProc(s, 'SIGTERM')));
    const work = outputs.reduce((sum, o) => sum + Number(o().trim()), 0) / lived;
    return { cpu, bpf, total: cpu + bpf, work };
  } finally {
    await tool.stop();
  }
}

export async function profilerOverhead(seconds = 12, rounds = 3): Promise<void> {
  const spinBin = join(tempDir('spin'), 'spin');
  execFileSync('cc', ['-O1', '-o', spinBin, join(repoRoot, 'bench/spin.c')]);
  const modes: Mode[] = ['nothing', 'collectors', 'kiln run', 'perf record'];
  const results = new Map<Mode, Measured[]>(modes.map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    // rotate the order each round
    for (const m of [...modes.slice(r % modes.length), ...modes.slice(0, r % modes.length)]) results.get(m)!.push(await measure(m, seconds, spinBin));
  }
  const med = (m: Mode, f: keyof Measured) => median(results.get(m)!.map((x) => x[f]));
  const base = med('nothing', 'work');
  console.log(`\nProfiler overhead at ${HZ} Hz, 2 CPUs busy, ${rounds} rounds x ${seconds} s, modes alternating (medians; % of one core):`);
  console.log('  tool                 agent CPU   BPF run time    total   workload rate vs nothing');
  for (const m of modes.slice(1)) {
    console.log(
      `  ${m.padEnd(18)}  ${fmtPct(med(m, 'cpu')).padStart(9)}   ${fmtPct(med(m, 'bpf')).padStart(11)}   ${fmtPct(med(m, 'total')).padStart(7)}   ${((med(m, 'work') / base) * 100).toFixed(2)}%`,
    );
  }
  const perf = med('perf record', 'total');
  console.log(`  ratio collectors / perf record: ${(med('collectors', 'total') / perf).toFixed(2)}   kiln run / perf record: ${(med('kiln run', 'total') / perf).toFixed(2)}`);
  console.log('  (perf record\'s sampling and call-graph work runs in the kernel on the sampled CPUs and shows only in the workload rate)');
}
