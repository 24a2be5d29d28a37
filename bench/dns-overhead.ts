/* DNS collector cost: the query rate it captures with zero unreported losses, and the BPF run time per
 * captured query (kernel accounting), with dnsblast (bench/dnsblast.c) as the load: WORKERS clients
 * with connected UDP sockets asking a responder on 127.0.0.53:53 as fast as they can. */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_NODE_FLAGS, repoRoot, tempDir } from '../testing/testkit.js';
import { DNS_PROGRAMS } from '../dns/collector.js';
import { bpfRunTimeNs, cpuSecondsPrecise, median } from './common.js';

function bpf(): { ns: number; runs: number } {
  let ns = 0;
  let runs = 0;
  for (const p of DNS_PROGRAMS) {
    const r = bpfRunTimeNs(p.slice(0, 15));
    ns += r.runTimeNs;
    runs += r.runCount;
  }
  return { ns, runs };
}

function blast(bin: string, secs: number, workers: number): { queries: number; secs: number } {
  const [queries, s] = execFileSync(bin, [String(secs), String(workers), '127.0.0.53'], { encoding: 'utf8' }).trim().split(' ').map(Number);
  return { queries, secs: s };
}

export async function dnsOverhead(): Promise<void> {
  const bin = join(tempDir('bench-dns'), 'dnsblast');
  execFileSync('cc', ['-O2', '-o', bin, join(repoRoot, 'bench/dnsblast.c')]);
  console.log('\n## DNS collector: queries per second captured, attached vs detached (5 s runs, 2 client processes, 3 pairs alternating)');
  const rates = { attached: [] as number[], detached: [] as number[] };
  const perQuery: number[] = [];
  const agentCpu: number[] = [];
  let lost = 0;
  let captured = 0;
  let sent = 0;
  let last: Record<string, number> = {};
  for (let i = 0; i < 3; i++) {
    for (const mode of i % 2 === 0 ? (['detached', 'attached'] as const) : (['attached', 'detached'] as const)) {
      if (mode === 'detached') {
        const r = blast(bin, 5, 2);
        rates.detached.push(r.queries / r.secs);
        continue;
      }
      const proc = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(repoRoot, 'dist/bench/collector-harness.js'), '--only', 'dns', '--window', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await once(proc.stdout!, 'data');
      await sleep(1000);
      const b0 = bpf();
      const c0 = cpuSecondsPrecise(proc.pid!);
      const r = blast(bin, 5, 2);
      const b1 = bpf();
      const cpu = cpuSecondsPrecise(proc.pid!) - c0;
      await sleep(1000); // let it drain the ring buffer
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      proc.kill('SIGTERM');
      await once(proc, 'exit');
      last = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
      rates.attached.push(r.queries / r.secs);
      perQuery.push((b1.ns - b0.ns) / r.queries);
      agentCpu.push(cpu / r.secs);
      lost += last.ringbufFull + last.argsMapFull + last.pendingEvicted + last.partsNotRead + last.sockRegisterFailed;
      captured += last.responses;
      sent += r.queries;
    }
  }
  const f = (x: number) => x.toFixed(0);
  console.log(`detached median ${f(median(rates.detached))} queries/s; attached median ${f(median(rates.attached))} queries/s (ratio ${((median(rates.attached) / median(rates.detached)) * 100).toFixed(1)}%) — goal ≥ 20,000/s captured`);
  console.log(`captured: ${captured} answered queries matched of ${sent} sent (${((captured / sent) * 100).toFixed(3)}%); losses reported: ${lost} (ring buffer full ${last.ringbufFull}, unmatched responses ${last.unmatchedResponses}, malformed ${last.malformed})`);
  console.log(`BPF run time: ${median(perQuery).toFixed(0)} ns per query (query and answer, both programs, including the cheap misses on other sockets)`);
  console.log(`collector process CPU: ${(median(agentCpu) * 100).toFixed(1)}% of a core at that rate`);
}
