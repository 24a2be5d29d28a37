/* Shared measurement helpers for bench/: process CPU time, RSS, BPF run time, busy workloads. */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** CPU time of all live threads of a process, seconds, from schedstat (nanosecond resolution;
 *  /proc/PID/stat counts 10 ms ticks, too coarse for a process using well under 1% of a core). */
export function cpuSecondsPrecise(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread exited between readdir and read
    }
  }
  return ns / 1e9;
}

export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Total run time of BPF programs with this name, from the kernel's accounting (bpftool). */
export function bpfRunTimeNs(progName: string): { runTimeNs: number; runCount: number } {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8' })) as { name?: string; run_time_ns?: number; run_cnt?: number }[];
  let runTimeNs = 0;
  let runCount = 0;
  for (const p of progs) {
    if (p.name === progName) {
      runTimeNs += p.run_time_ns ?? 0;
      runCount += p.run_cnt ?? 0;
    }
  }
  return { runTimeNs, runCount };
}

export function killAll(ps: ChildProcess[]): void {
  for (const p of ps) if (p.exitCode === null) p.kill('SIGKILL');
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export function fmtPct(x: number): string {
  return `${(x * 100).toFixed(3)}%`;
}

export function fmtMB(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}
