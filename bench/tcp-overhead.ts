/* TCP collector cost, modes alternating so drift hits both alike:
 * - loopback throughput (64 KiB writes) with the collector attached vs detached: the ratio;
 * - the connection rate the collector keeps up with: connections made vs seen, and its losses;
 * - BPF run time per connection and per MB, from the kernel's accounting. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_NODE_FLAGS, repoRoot, tempDir } from '../profiler/testkit.js';
import { bpfRunTimeNs, median } from './common.js';

const PROGS = ['tcp_state', 'tcp_send', 'tcp_recv', 'tcp_retransmit'];

function bpfNs(): number {
  return PROGS.reduce((s, p) => s + bpfRunTimeNs(p).runTimeNs, 0);
}

/** The harness with the TCP collector, or (`none`) the same node process with no collector at all, so
 *  both modes pay for one idle Node.js process and differ only by the collector. */
async function attach(only: 'tcp' | 'none' = 'tcp'): Promise<{ proc: ChildProcess; stop: () => Promise<Record<string, number>> }> {
  const proc = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(repoRoot, 'dist/bench/collector-harness.js'), '--only', only, '--window', '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(proc.stdout!, 'data');
  await sleep(1000); // past its start-up (compilation, first collect)
  return {
    proc,
    stop: async () => {
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      proc.kill('SIGTERM');
      await once(proc, 'exit');
      return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
    },
  };
}

export async function tcpOverhead(): Promise<void> {
  const dir = tempDir('bench-tcp');
  const blast = join(dir, 'tcpblast');
  const conn = join(dir, 'connrate');
  execFileSync('cc', ['-O2', '-o', blast, join(repoRoot, 'bench/tcpblast.c')]);
  execFileSync('cc', ['-O2', '-o', conn, join(repoRoot, 'bench/connrate.c')]);

  console.log('\n## TCP collector: loopback throughput, attached vs detached (3 s runs, alternating order, 10 pairs; detached = the same harness process without the collector)');
  const ratios: number[] = [];
  const rates = { attached: [] as number[], detached: [] as number[] };
  const nsPerMB: number[] = [];
  for (let i = 0; i < 10; i++) {
    for (const mode of i % 2 === 0 ? (['detached', 'attached'] as const) : (['attached', 'detached'] as const)) {
      const a = await attach(mode === 'attached' ? 'tcp' : 'none');
      const ns0 = bpfNs();
      const bps = Number(execFileSync(blast, ['3'], { encoding: 'utf8' }).trim());
      if (mode === 'attached') nsPerMB.push((bpfNs() - ns0) / ((bps * 3) / 1e6));
      await a.stop();
      rates[mode].push(bps);
      await sleep(300);
    }
    ratios.push(rates.attached[i] / rates.detached[i]);
  }
  const gb = (x: number) => `${(x / 1e9).toFixed(2)} GB/s`;
  console.log(`detached median ${gb(median(rates.detached))}, attached median ${gb(median(rates.attached))}`);
  console.log(`attached / detached: ratio of medians ${((median(rates.attached) / median(rates.detached)) * 100).toFixed(1)}%; median of pair ratios ${(median(ratios) * 100).toFixed(1)}% (pairs: ${ratios.map((r) => `${(r * 100).toFixed(1)}%`).join(', ')}) — goal ≥ 97%`);
  console.log(`BPF run time: ${median(nsPerMB).toFixed(0)} ns per MB transferred`);

  console.log('\n## TCP collector: connection rate kept up with (10 s, 2 client processes, attached)');
  const detached = execFileSync(conn, ['10', '2'], { encoding: 'utf8' }).trim().split(' ').map(Number);
  await sleep(500);
  const a = await attach();
  const ns0 = bpfNs();
  const [made, secs] = execFileSync(conn, ['10', '2'], { encoding: 'utf8' }).trim().split(' ').map(Number);
  const ns = bpfNs() - ns0;
  await sleep(1500);
  const s = await a.stop();
  const seen = s.connectionsSeen;
  console.log(`detached: ${(detached[0] / detached[1]).toFixed(0)} connections/s; attached: ${(made / secs).toFixed(0)} connections/s (${made} made)`);
  // each connection has two ends on loopback, both counted
  console.log(`connection ends seen ${seen} of ${2 * made} (${((seen / (2 * made)) * 100).toFixed(2)}%); losses: conns map full ${s.connsMapFull}, closed map full ${s.closedMapFull} — goal ≥ 20,000/s with zero unreported losses`);
  console.log(`BPF run time: ${(ns / made).toFixed(0)} ns per connection (both ends, all four programs)`);
}
