/* npm run bench -- ingest: the fleet path.
 *
 * 1. A real `kiln agent` (15 s windows) runs with no server for ~50 s: its batches stay in the spool. Its
 *    CPU and memory while spooling are measured, and its batches are the load: real window sizes. Once
 *    on this host as it is, once with a busy host's programs running (more processes, more stacks).
 * 2. A real `kiln server` (embedded store) takes pushes from simulated agents: each recorded batch sent
 *    again under many agent ids and sequences, 64 agents at once. Batches per second, the server's CPU and
 *    memory. Goal: >= 200 batches/s (12,000 hosts at one batch a minute).
 * 3. A 30-minute backlog (30 batches of one agent, busy-host batches, in its spool) drained by the push sink.
 * Bytes on the wire per batch: the protobuf and its gzip (what crosses with gzip on). */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { decodeBatch, encodeBatch, type Batch } from '../ingest/codec.js';
import { PushSink } from '../ingest/push-sink.js';
import { AUTH_KEY, INGEST_SERVICE, bearer } from '../ingest/service.js';
import { Spool, decodeSpoolFile } from '../ingest/spool.js';
import { freePort, startKilnCommand, tempDir, type KilnProcess } from '../testing/testkit.js';
import { cpuSecondsPrecise, killAll, median, percentile, rssBytes } from './common.js';

const TOKEN = randomBytes(16).toString('hex');

async function waitFor(what: string, f: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`bench ingest: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function spoolBatches(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.batch')).sort()) {
    const d = decodeSpoolFile(readFileSync(join(dir, f)));
    if (typeof d !== 'string') out.push(d.body);
  }
  return out;
}

/** What a busy host runs while its batches are recorded: an interpreter with deep and varied stacks,
 *  a shell starting short programs (new processes, new binaries), and Node parsing JSON. */
function busyHost(): ChildProcess[] {
  const py = [
    'import json, re, random',
    'def parse(n): return json.loads(json.dumps({"k%d" % i: [i] * 8 for i in range(n)}))',
    'def match(n): return [re.findall(r"[a-z]+\\d", "ab1 cd2 ef3 " * n) for _ in range(4)]',
    'def walk(d): return 0 if d == 0 else walk(d - 1) + random.random()',
    'while True: parse(200); match(200); walk(300)',
  ].join('\n');
  return [
    spawn('python3', ['-c', py], { stdio: 'ignore' }),
    spawn('sh', ['-c', 'while :; do find /usr/lib -name "*.so*" > /dev/null; ls -R /usr/share/doc > /dev/null; sort /etc/services > /dev/null; done'], { stdio: 'ignore' }),
    spawn(process.execPath, ['-e', 'const o = { a: Array.from({ length: 2000 }, (_, i) => ({ i, s: String(i).repeat(5) })) }; for (;;) JSON.parse(JSON.stringify(o));'], { stdio: 'ignore' }),
  ];
}

/** A real agent's batches: `kiln agent` (15 s windows) with no server, until three are spooled. */
async function record(label: string, busy: boolean): Promise<Batch[]> {
  const load = busy ? busyHost() : [];
  const agentDir = tempDir('bench-ingest-agent');
  const deadPort = await freePort();
  const agent = await startKilnCommand('agent', ['--server', `127.0.0.1:${deadPort}`, '--data-dir', agentDir, '--window', '15', '--listen', `127.0.0.1:${await freePort()}`, '--host-name', 'bench-recorded'], 'pushing', 120_000);
  const pid = agent.proc.pid!;
  const cpu0 = cpuSecondsPrecise(pid);
  const t0 = Date.now();
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssBytes(pid)), 1000);
  const spoolDir = join(agentDir, 'spool');
  try {
    await waitFor('three batches in the agent spool', () => readdirSync(spoolDir).filter((n) => n.endsWith('.batch')).length >= 3, 120_000);
  } finally {
    killAll(load);
  }
  const agentCpu = (cpuSecondsPrecise(pid) - cpu0) / ((Date.now() - t0) / 1000);
  clearInterval(sampler);
  await agent.stop();
  const recorded = spoolBatches(spoolDir).slice(0, 3);
  const batches = recorded.map((b) => decodeBatch(b));
  const sizes = recorded.map((b) => b.byteLength);
  const gz = recorded.map((b) => gzipSync(b).byteLength);
  const shape = (b: Batch) => {
    let stacks = 0;
    let apps = 0;
    let flows = 0;
    let dns = 0;
    for (const w of b.windows) {
      if (w.kind === 'profile') {
        apps += w.apps.length;
        stacks += w.apps.reduce((n, a) => n + a.stacks.length, 0);
      } else if (w.kind === 'netflow') flows += w.rows.length;
      else if (w.kind === 'dns') dns += w.rows.length;
    }
    return `${b.windows.length} windows, ${apps} process rows, ${stacks} stacks, ${flows} flows, ${dns} DNS rows`;
  };
  console.log(`recorded (${label}): ${batches.length} batches of a real agent (15 s windows on this host); the last: ${shape(batches[batches.length - 1])}`);
  console.log(`  bytes per batch: protobuf median ${median(sizes)} B, gzip (on the wire) median ${median(gz)} B (${(median(gz) / median(sizes)).toFixed(2)}x)`);
  console.log(`  agent while spooling (server away): CPU ${(agentCpu * 100).toFixed(2)}% of a core, RSS median ${(median(rss) / 1048576).toFixed(0)} MiB, max ${(Math.max(...rss) / 1048576).toFixed(0)} MiB`);
  return batches;
}

/** A real `kiln server` (embedded store) taking `batches` again and again from 64 simulated agents at once. */
async function serverIngest(label: string, batches: Batch[], ingestPort: number, server: KilnProcess): Promise<void> {
  const AGENTS = 64;
  const PER_AGENT = 40;
  const bodies: Buffer[][] = [];
  for (let a = 0; a < AGENTS; a++) {
    const id = `bench-${label}-${String(a).padStart(4, '0')}`;
    const list: Buffer[] = [];
    for (let s = 0; s < PER_AGENT; s++) {
      const b = batches[s % batches.length];
      // each agent's windows a minute apart, as its minutes would be
      const shift = (s - PER_AGENT) * 60;
      const windows = b.windows.map((w) => ({ ...w, start: w.start + shift }));
      list.push(Buffer.from(encodeBatch({ ...b, agentId: id, sequence: BigInt(s + 1), host: { ...b.host, name: `bench-${label}-${a}` }, windows })));
    }
    bodies.push(list);
  }
  const client = new grpc.Client(`127.0.0.1:${ingestPort}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2, 'grpc.max_send_message_length': 64 << 20 });
  const md = new grpc.Metadata();
  md.set(AUTH_KEY, bearer(TOKEN));
  const push = (body: Buffer) =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(INGEST_SERVICE.push.path, INGEST_SERVICE.push.requestSerialize, INGEST_SERVICE.push.responseDeserialize, body, md, { deadline: Date.now() + 60_000 }, (err) => (err ? reject(err) : resolve())),
    );
  const spid = server.proc.pid!;
  const srss: number[] = [];
  const ssampler = setInterval(() => srss.push(rssBytes(spid)), 500);
  const scpu0 = cpuSecondsPrecise(spid);
  const latencies: number[] = [];
  const start = Date.now();
  let unavailable = 0;
  await Promise.all(
    bodies.map(async (list) => {
      for (const body of list) {
        for (;;) {
          const t = Date.now();
          try {
            await push(body);
            latencies.push(Date.now() - t);
            break;
          } catch (e) {
            if ((e as grpc.ServiceError).code !== grpc.status.UNAVAILABLE) throw e;
            unavailable++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    }),
  );
  const secs = (Date.now() - start) / 1000;
  const scpu = (cpuSecondsPrecise(spid) - scpu0) / secs;
  clearInterval(ssampler);
  client.close();
  const n = AGENTS * PER_AGENT;
  console.log(
    `server ingest (${label} batches): ${n} batches from ${AGENTS} agents at once in ${secs.toFixed(1)} s = ${(n / secs).toFixed(0)} batches/s (goal >= 200/s); push latency p50 ${median(latencies)} ms, p99 ${percentile(latencies, 99)} ms; ${unavailable} answered UNAVAILABLE and retried`,
  );
  console.log(`  server: CPU ${(scpu * 100).toFixed(0)}% of a core, RSS median ${(median(srss) / 1048576).toFixed(0)} MiB, max ${(Math.max(...srss) / 1048576).toFixed(0)} MiB`);
}

export async function ingestBench(): Promise<void> {
  console.log('\n## ingest: agents → kiln server over gRPC, into the embedded store');
  // 1. record, on this host as it is and with a busy host's programs running
  const quiet = await record('quiet host', false);
  const busy = await record('busy host', true);

  // 2. server ingest
  const serverDir = tempDir('bench-ingest-server');
  const ingestPort = await freePort();
  const server = await startKilnCommand('server', ['--data-dir', serverDir, '--listen', `127.0.0.1:${await freePort()}`, '--ingest-listen', `127.0.0.1:${ingestPort}`, '--token', TOKEN], 'server listening on', 60_000);
  await serverIngest('quiet', quiet, ingestPort, server);
  await serverIngest('busy', busy, ingestPort, server);
  const batches = busy;

  // 3. a 30-minute backlog
  const backlog = new Spool({ dir: tempDir('bench-ingest-backlog'), maxBytes: 1 << 30, maxAgeMs: 86_400_000 });
  const id = 'bench-backlog-0001';
  for (let s = 0; s < 30; s++) {
    const b = batches[s % batches.length];
    const seq = backlog.nextSequence();
    backlog.append(seq, encodeBatch({ ...b, agentId: id, sequence: seq, host: { ...b.host, name: 'bench-backlog' }, windows: b.windows.map((w) => ({ ...w, start: w.start - (30 - s) * 60 })) }));
  }
  const sink = new PushSink({ target: { address: `127.0.0.1:${ingestPort}`, token: TOKEN }, agentId: id, host: { ...batches[0].host, name: 'bench-backlog' }, spool: backlog, log: () => undefined });
  const d0 = Date.now();
  sink.start();
  await sink.flush(120_000);
  const drained = backlog.size === 0;
  console.log(`30-minute backlog (30 batches) drained in ${((Date.now() - d0) / 1000).toFixed(2)} s${drained ? '' : ' (NOT drained within 120 s)'}`);
  await sink.close(100);
  await server.stop();
}
