/* npm run bench -- soak: the whole `kiln run` (default 60 s windows, 97 Hz) for 30 minutes under what
 * fills things up: thousands of distinct recurring stacks on both CPUs, process and thread churn, TCP
 * connections and DNS sends (to 127.0.0.1:53, where nothing answers). Every 5 minutes it prints RSS
 * (anonymous and file-backed), Kiln's CPU, its BPF programs' run time, the fill of every kernel map of
 * Kiln's, the store queue and every loss counter. KILN_SOAK_MINUTES and KILN_SOAK_EVERY_MINUTES shorten it. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildFixtures, startKiln, tempDir, waitExit } from '../testing/testkit.js';
import { cpuSecondsPrecise, fmtMB, killAll } from './common.js';

/** Entries in each hash map the process holds (its BPF map fds, from /proc/PID/fdinfo: map_id). */
function mapFill(pid: number): string {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^map_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  const out: string[] = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const info = JSON.parse(execFileSync('bpftool', ['map', 'show', 'id', String(id), '--json'], { encoding: 'utf8' })) as { name?: string; type?: string; max_entries?: number };
    if (!info.type?.includes('hash')) continue;
    const n = (JSON.parse(execFileSync('bpftool', ['map', 'dump', 'id', String(id), '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 })) as unknown[]).length;
    out.push(`${info.name} ${n}/${info.max_entries}`);
  }
  return out.join(', ');
}

function rssSplit(pid: number): { anon: number; file: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

/** Kiln's own BPF run time so far, from its /metrics (the kernel's accounting per program). */
async function bpfSeconds(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let s = 0;
  for (const m of text.matchAll(/^kiln_bpf_program_run_time_seconds_total\{[^}]*\} (\S+)$/gm)) s += Number(m[1]);
  return s;
}

export async function soak(): Promise<void> {
  const minutes = Number(process.env.KILN_SOAK_MINUTES ?? 30);
  const every = Number(process.env.KILN_SOAK_EVERY_MINUTES ?? 5);
  const fx = buildFixtures();
  const kiln = await startKiln(['--data-dir', tempDir('soak')]);
  const pid = kiln.proc.pid!;
  const procs: ChildProcess[] = [spawn(fx.manypaths, ['2'], { stdio: 'ignore' })];
  // stopped early (Ctrl-C, kill): its workload and Kiln go with it, never left spinning
  const onSignal = (sig: NodeJS.Signals) => {
    killAll([...procs, kiln.proc]);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  // TCP: a loopback server, a connection a second that sends and closes, and 50 that stay open
  const server = createServer((s) => s.on('data', () => undefined).on('error', () => undefined)).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  const kept = Array.from({ length: 50 }, () => createConnection({ host: '127.0.0.1', port }).on('error', () => undefined));
  let stop = false;
  const churn = (async () => {
    for (let i = 0; !stop; i++) {
      // process churn: 20 short-lived processes a second, a thread storm now and then, a DNS send
      execFileSync('bash', ['-c', `for j in $(seq 20); do /bin/true; done; (printf x > /dev/udp/127.0.0.1/53) 2>/dev/null; true`]);
      if (i % 30 === 0) await waitExit(spawn(fx.threadchurn, ['500'], { stdio: 'ignore' }));
      const c = createConnection({ host: '127.0.0.1', port }, () => c.end(Buffer.alloc(4096)));
      c.on('error', () => undefined);
      await sleep(1000);
    }
  })();

  console.log(`\nSoak: kiln run (60 s windows, 97 Hz), ${minutes} min of 4,096 recurring stacks on both CPUs, ~20 processes/s, thread storms, TCP and DNS churn`);
  const t0 = Date.now();
  let cpu0 = cpuSecondsPrecise(pid);
  let bpf0 = await bpfSeconds(kiln.url);
  let last = t0;
  try {
    for (let m = every; m <= minutes; m += every) {
      await sleep(Math.max(0, t0 + m * 60_000 - Date.now()));
      const now = Date.now();
      const cpu = cpuSecondsPrecise(pid);
      const bpf = await bpfSeconds(kiln.url);
      const wall = (now - last) / 1000;
      const rss = rssSplit(pid);
      const status = (await (await fetch(`${kiln.url}/api/v1/status`)).json()) as { store: Record<string, unknown>; profiler: Record<string, number>; dns: Record<string, number> };
      const metrics = await (await fetch(`${kiln.url}/metrics`)).text();
      const losses = metrics
        .split('\n')
        .filter((l) => l.startsWith('kiln_collector_events_lost_total{') && !l.endsWith(' 0'))
        .map((l) => l.replace('kiln_collector_events_lost_total', ''));
      console.log(`  ${String(m).padStart(3)} min  RSS ${fmtMB(rss.anon + rss.file)} (anon ${fmtMB(rss.anon)}, file ${fmtMB(rss.file)})  CPU ${((100 * (cpu - cpu0)) / wall).toFixed(2)}% of a core + BPF ${((100 * (bpf - bpf0)) / wall).toFixed(2)}%`);
      console.log(`           kernel maps: ${mapFill(pid)}`);
      const mem = (kind: string) => Number(new RegExp(`^kiln_agent_memory_bytes\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);
      console.log(`           JS heap ${fmtMB(mem('js_heap_used'))} used of ${fmtMB(mem('js_heap_total'))}, external ${fmtMB(mem('external'))}`);
      console.log(`           stack cache ${status.profiler.stackCacheEntries} entries (${fmtMB(status.profiler.stackCacheBytes)}), symbolized stacks ${fmtMB(status.profiler.resolvedCacheBytes)}, symbol tables ${fmtMB(status.profiler.elfSymbolBytes)}, processes ${status.profiler.processes}, DNS sockets ${status.dns.dnsSockets}`);
      console.log(`           store queue ${JSON.stringify(status.store)}`);
      console.log(`           losses: ${losses.length ? losses.join(', ') : 'none'}`);
      cpu0 = cpu;
      bpf0 = bpf;
      last = now;
    }
  } finally {
    stop = true;
    await churn;
    for (const c of kept) c.destroy();
    server.close();
    killAll(procs);
    await kiln.stop();
    execFileSync('rm', ['-rf', fx.dir]);
  }
}
