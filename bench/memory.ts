/* Memory with 500 running processes: RSS of the whole `kiln run` (collectors + embedded ClickHouse +
 * API) and of the collectors alone (bench/collector-harness), each after the processes were sampled. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_NODE_FLAGS, repoRoot, startKiln, tempDir } from '../testing/testkit.js';
import { fmtMB, killAll, rssBytes } from './common.js';

export async function memory(processes = 500, settleSeconds = 45): Promise<void> {
  const bin = join(tempDir('sleepy'), 'sleepy');
  execFileSync('cc', ['-O1', '-fno-omit-frame-pointer', '-o', bin, join(repoRoot, 'bench/sleepy.c')]);
  const procs: ChildProcess[] = Array.from({ length: processes }, () => spawn(bin, [], { stdio: 'ignore' }));
  try {
    const kiln = await startKiln(['--window', '10', '--data-dir', tempDir('bench-mem')]);
    await sleep(settleSeconds * 1000);
    const all = rssBytes(kiln.proc.pid!);
    const apps = (await (await fetch(`${kiln.url}/api/v1/apps?from=now-1h`)).json()) as unknown[];
    await kiln.stop();

    const h = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(repoRoot, 'dist/bench/collector-harness.js'), '--window', '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(h.stdout!, 'data');
    await sleep(settleSeconds * 1000);
    const collectors = rssBytes(h.pid!);
    let out = '';
    h.stdout!.on('data', (d) => (out += d));
    h.kill('SIGTERM');
    await once(h, 'exit');
    const stats = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { processes?: number; elfBinaries?: number };
    console.log(`\nMemory with ${processes} running processes, after ${settleSeconds} s (${apps.length} apps in the store, ${stats.processes} processes in the collectors' table):`);
    console.log(`  kiln run (collectors + embedded ClickHouse + API)  RSS ${fmtMB(all)}`);
    console.log(`  collectors alone (bench/collector-harness)          RSS ${fmtMB(collectors)}`);
  } finally {
    killAll(procs);
  }
}
