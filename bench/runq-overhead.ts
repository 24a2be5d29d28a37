/* Run-queue collector overhead during a context-switch-heavy load (pipe ping-pong between two
 * processes): BPF run time per second of Kiln's runq programs vs libbpf-tools runqlat's on the same
 * load, plus the collector process's CPU and the ping-pong rate, modes alternating. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_NODE_FLAGS, repoRoot, tempDir } from '../testing/testkit.js';
import { bpfRunTimeNs, cpuSecondsPrecise, fmtPct, median } from './common.js';

type Mode = 'nothing' | 'kiln runq' | 'runqlat';
const PROGS: Record<Mode, string[]> = {
  nothing: [],
  'kiln runq': ['runq_wakeup', 'runq_wakeup_new', 'runq_switch'],
  runqlat: ['sched_wakeup', 'sched_wakeup_new', 'sched_switch'],
};

function bpfNs(mode: Mode): { ns: number; runs: number } {
  let ns = 0;
  let runs = 0;
  for (const p of PROGS[mode]) {
    const r = bpfRunTimeNs(p);
    ns += r.runTimeNs;
    runs += r.runCount;
  }
  return { ns, runs };
}

async function stop(p: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill(sig);
  await once(p, 'exit');
}

async function round(mode: Mode, seconds: number, pingpong: string) {
  let tool: ChildProcess | null = null;
  if (mode === 'kiln runq') {
    tool = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(repoRoot, 'dist/bench/collector-harness.js'), '--only', 'runq', '--window', '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(tool.stdout!, 'data');
  } else if (mode === 'runqlat') {
    tool = spawn('runqlat', ['60', '1'], { stdio: 'ignore' });
  }
  await sleep(2000);
  const load = spawn(pingpong, [], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  load.stdout!.on('data', (d) => (out += d));
  const b0 = bpfNs(mode);
  const c0 = tool ? cpuSecondsPrecise(tool.pid!) : 0;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = (performance.now() - t0) / 1000;
  const b1 = bpfNs(mode);
  const cpu = tool ? (cpuSecondsPrecise(tool.pid!) - c0) / wall : 0;
  await stop(load, 'SIGTERM');
  if (tool) await stop(tool, mode === 'runqlat' ? 'SIGINT' : 'SIGTERM');
  return { bpf: (b1.ns - b0.ns) / 1e9 / wall, runs: (b1.runs - b0.runs) / wall, cpu, rate: Number(out.trim()) / wall };
}

export async function runqOverhead(seconds = 10, rounds = 3): Promise<void> {
  const pingpong = join(tempDir('pingpong'), 'pingpong');
  execFileSync('cc', ['-O2', '-o', pingpong, join(repoRoot, 'bench/pingpong.c')]);
  // runqlat does not turn on the kernel's BPF run-time accounting by itself
  const sysctl = '/proc/sys/kernel/bpf_stats_enabled';
  const before = readFileSync(sysctl, 'utf8').trim();
  writeFileSync(sysctl, '1');
  const modes: Mode[] = ['nothing', 'kiln runq', 'runqlat'];
  const res = new Map(modes.map((m) => [m, [] as Awaited<ReturnType<typeof round>>[]]));
  try {
    for (let r = 0; r < rounds; r++) for (const m of r % 2 ? [...modes].reverse() : modes) res.get(m)!.push(await round(m, seconds, pingpong));
  } finally {
    writeFileSync(sysctl, before);
  }
  const med = (m: Mode, k: 'bpf' | 'runs' | 'cpu' | 'rate') => median(res.get(m)!.map((x) => x[k]));
  console.log(`\nRun-queue collector overhead, pipe ping-pong (2 processes), ${rounds} rounds x ${seconds} s, medians:`);
  console.log('  tool         BPF run time (% of one core)   program runs/s   ns/run   agent CPU   ping-pong rate vs nothing');
  for (const m of ['kiln runq', 'runqlat'] as Mode[]) {
    console.log(
      `  ${m.padEnd(11)}  ${fmtPct(med(m, 'bpf')).padStart(28)}   ${med(m, 'runs').toFixed(0).padStart(14)}   ${((med(m, 'bpf') * 1e9) / med(m, 'runs')).toFixed(0).padStart(6)}   ${fmtPct(med(m, 'cpu')).padStart(9)}   ${((med(m, 'rate') / med('nothing', 'rate')) * 100).toFixed(1)}%`,
    );
  }
  console.log(`  ratio Kiln / runqlat (BPF run time): ${(med('kiln runq', 'bpf') / med('runqlat', 'bpf')).toFixed(2)}   (ping-pong: ${med('nothing', 'rate').toFixed(0)} round trips/s with nothing attached)`);
}
