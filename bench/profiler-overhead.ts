/* Profiler overhead at 97 Hz with both CPUs busy (DESIGN.md: (agent CPU + BPF run time) / wall),
 * for the collectors alone and for the whole `kiln run`, against `perf record -F 97 -a -g` in the
 * same run. Rounds alternate so drift in the machine hits all three alike. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot, startKiln, tempDir } from '../profiler/testkit.js';
import { bpfRunTimeNs, busyLoops, cpuSeconds, fmtPct, killAll, median } from './common.js';

const HZ = 97;

interface Measured {
  cpu: number;
  bpf: number;
  total: number;
}

async function measure(pid: number, seconds: number, bpfProg: string | null): Promise<Measured> {
  await sleep(3000); // warm-up: first symbolization of every binary, table creation
  const c0 = cpuSeconds(pid);
  const b0 = bpfProg ? bpfRunTimeNs(bpfProg).runTimeNs : 0;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = (performance.now() - t0) / 1000;
  const cpu = (cpuSeconds(pid) - c0) / wall;
  const bpf = bpfProg ? (bpfRunTimeNs(bpfProg).runTimeNs - b0) / 1e9 / wall : 0;
  return { cpu, bpf, total: cpu + bpf };
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill('SIGTERM');
  await once(p, 'exit');
}

export async function profilerOverhead(seconds = 20, rounds = 2): Promise<void> {
  const load = busyLoops(2);
  const results: Record<string, Measured[]> = { collectors: [], 'kiln run': [], 'perf record': [] };
  try {
    for (let r = 0; r < rounds; r++) {
      // the collectors alone
      const h = spawn(process.execPath, [join(repoRoot, 'dist/bench/collector-harness.js'), '--sample-hz', String(HZ), '--window', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await once(h.stdout!, 'data');
      results.collectors.push(await measure(h.pid!, seconds, 'kiln_profile'));
      await stop(h);

      // all in one: collectors + embedded ClickHouse + API
      const k = await startKiln(['--sample-hz', String(HZ), '--window', '10', '--data-dir', tempDir('bench-data')]);
      results['kiln run'].push(await measure(k.proc.pid!, seconds, 'kiln_profile'));
      await k.stop();

      // the peer: perf sampling the same CPUs at the same rate with call graphs
      const p = spawn('perf', ['record', '-F', String(HZ), '-a', '-g', '-q', '-o', join(tempDir('perf'), 'perf.data')], { stdio: 'ignore' });
      results['perf record'].push(await measure(p.pid!, seconds, null));
      p.kill('SIGINT');
      await once(p, 'exit');
    }
  } finally {
    killAll(load);
  }
  const med = (k: string, f: keyof Measured) => median(results[k].map((m) => m[f]));
  console.log(`\nProfiler overhead at ${HZ} Hz, 2 CPUs busy, ${rounds} alternating rounds of ${seconds} s (median), % of one core:`);
  console.log('  what                      agent CPU    BPF run time   total');
  for (const k of Object.keys(results)) {
    console.log(`  ${k.padEnd(24)}  ${fmtPct(med(k, 'cpu')).padStart(9)}    ${fmtPct(med(k, 'bpf')).padStart(11)}   ${fmtPct(med(k, 'total')).padStart(7)}`);
  }
  const perf = med('perf record', 'total');
  console.log(`  ratio collectors / perf record: ${(med('collectors', 'total') / perf).toFixed(2)}`);
  console.log(`  ratio kiln run   / perf record: ${(med('kiln run', 'total') / perf).toFixed(2)}`);
}
