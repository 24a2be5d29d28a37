/* Agent → server over the real gRPC transport on loopback, into the embedded engine: the codec, the
 * spool's bounds, exactly-once (a batch delivered twice, a server gone and back, a crash mid-group),
 * the token, malformed and oversized messages, and what the server learns across hosts. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { WindowEnvelope } from '../pipeline/contracts.js';
import type { MappingDesc } from '../profiler/types.js';
import type { FlowRow } from '../netcost/flows.js';
import { ChdbStore } from '../store/adapters/chdb.js';
import { applySchema } from '../store/schema.js';
import { tempDir } from '../testing/testkit.js';
import { BatchError, decodeBatch, encodeBatch, type Batch, type HostInfo } from './codec.js';
import { PushSink, splitBatch } from './push-sink.js';
import { IngestServer } from './server.js';
import { AUTH_KEY, INGEST_SERVICE, bearer } from './service.js';
import { SPOOL_HEADER_BYTES, Spool, encodeSpoolFile } from './spool.js';

const TOKEN = 'test-token-0123456789';
const WINDOW = 60;
// windows two hours back: inside retention, away from any boundary the test could race
const BASE = Math.floor(Date.now() / 1000 / 3600) * 3600 - 7200;

const LIBC: MappingDesc = { file: '/usr/lib/x86_64-linux-gnu/libc.so.6', buildId: 'abc123', start: 0x28000n, limit: 0x1bd000n, offset: 0x28000n };
const EXE: MappingDesc = { file: '/usr/bin/app', buildId: '', start: 0x1000n, limit: 0x9000n, offset: 0x1000n };

function host(name: string, zone = '', region = '', addresses: string[] = []): HostInfo {
  return { name, addresses, zone, zoneId: zone, region, provider: 'aws', agentVersion: 'test' };
}

function flow(p: Partial<FlowRow>): FlowRow {
  return {
    app: 'app',
    containerId: '',
    direction: 'outbound',
    localAddress: '10.0.0.1',
    peerAddress: '10.0.0.2',
    port: 443,
    peerApp: '',
    class: 'unknown',
    viaNat: false,
    localZone: '',
    peerZone: '',
    region: '',
    bytesSent: 1000,
    bytesReceived: 10,
    retransmits: 0,
    connections: 1,
    failedConnects: 0,
    ...p,
  };
}

/** The windows of minute `i`: a profile (samples `i + 1` per stack), flows, DNS, run queue, losses. */
function windows(i: number, app = 'checkout'): WindowEnvelope[] {
  const start = BASE + i * WINDOW;
  const main = { name: 'main', mapping: EXE, address: 0x1100n };
  return [
    {
      kind: 'profile',
      start,
      seconds: WINDOW,
      host: 'ignored',
      periodNs: 10_000_000,
      truncatedSamples: 0,
      apps: [
        {
          app,
          containerId: '',
          pid: 4100 + i,
          exe: '/srv/checkout/bin/checkout',
          cmdline: `/srv/checkout/bin/checkout --shard ${i % 2}`,
          stacks: [
            { frames: [main, { name: 'memcpy', mapping: LIBC, address: 0x9a000n }], count: i + 1 },
            { frames: [main, { name: `work_${i % 3}`, mapping: EXE, address: 0x1200n + BigInt(i % 3) }], count: i + 1 },
          ],
        },
      ],
      // egress stacks: the send path shares the CPU stacks' tables
      egress: {
        bytesPerSample: 1048576.25,
        foldedPoints: 0,
        profiles: [
          {
            app,
            containerId: '',
            pid: 4100 + i,
            exe: '/srv/checkout/bin/checkout',
            cmdline: `/srv/checkout/bin/checkout --shard ${i % 2}`,
            peerAddress: '10.0.2.5',
            peerPort: 5432,
            stacks: [{ frames: [main, { name: 'send_rows', mapping: EXE, address: 0x1300n }, { name: 'write', mapping: LIBC, address: 0x9b000n }], count: i + 2 }],
          },
        ],
      },
    },
    { kind: 'netflow', start, seconds: WINDOW, host: 'ignored', rows: [flow({ app, bytesSent: 1000 * (i + 1) })] },
    {
      kind: 'dns',
      start,
      seconds: WINDOW,
      host: 'ignored',
      folded: 0,
      rows: [{ app, containerId: '', domain: 'db.internal', qtype: 'A', requests: 4, noerror: 3, nxdomain: 0, servfail: 0, refused: 0, otherErrors: 0, noAnswer: 0, timeouts: 0, unreachable: 1, latency: new Map([[12, 2], [30, 1]]), latencySumMs: 4.5, nameservers: ['10.0.0.53'], transports: ['udp'] }],
    },
    { kind: 'runq', start, seconds: WINDOW, host: 'ignored', rows: [{ app, containerId: '', cgroupId: 123456789012345n, cgroupPath: '/x.service', slots: [0, 1, 2, 3], totalNs: 5000, count: 6 }] },
    { kind: 'losses', start, seconds: WINDOW, host: 'ignored', rows: [{ collector: 'profiler', reason: 'counts_map_full', count: 1 }] },
  ];
}

const samplesOf = (ws: WindowEnvelope[]) => ws.reduce((n, w) => n + (w.kind === 'profile' ? w.apps.reduce((m, a) => m + a.stacks.reduce((k, s) => k + s.count, 0), 0) : 0), 0);
const pointsOf = (ws: WindowEnvelope[]) => ws.reduce((n, w) => n + (w.kind === 'profile' ? (w.egress?.profiles ?? []).reduce((m, p) => m + p.stacks.reduce((k, s) => k + s.count, 0), 0) : 0), 0);
const bytesOf = (ws: WindowEnvelope[]) => ws.reduce((n, w) => n + (w.kind === 'netflow' ? w.rows.reduce((m, r) => m + r.bytesSent, 0) : 0), 0);

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('kiln.ingest.v1 codec', () => {
  it('round-trips every window kind, each stack and mapping once', () => {
    const ws = windows(4);
    const b: Batch = { agentId: 'agent-0001', sequence: 7n, host: host('alpha', 'use1-az1', 'us-east-1', ['10.0.0.1']), windows: ws, spooledAtMs: 1234 };
    const back = decodeBatch(encodeBatch(b));
    assert.equal(back.agentId, 'agent-0001');
    assert.equal(back.sequence, 7n);
    assert.deepEqual(back.host, b.host);
    // the host label comes from the registered host, never from a window
    assert.deepEqual(back.windows, ws.map((w) => ({ ...w, host: 'alpha' })));
    const p = back.windows[0];
    assert.ok(p.kind === 'profile');
    assert.equal(p.apps[0].stacks[0].frames[0].mapping, p.apps[0].stacks[1].frames[0].mapping, 'one mapping object per mapping');
  });

  it('refuses a batch that refers outside its tables, or is not one', () => {
    const ws = windows(0);
    const bytes = encodeBatch({ agentId: 'agent-0001', sequence: 1n, host: host('a'), windows: ws, spooledAtMs: 0 });
    assert.throws(() => decodeBatch(Buffer.from('definitely not protobuf')), BatchError);
    assert.throws(() => decodeBatch(encodeBatch({ agentId: 'x', sequence: 1n, host: host('a'), windows: [], spooledAtMs: 0 })), /agent id/);
    assert.throws(() => decodeBatch(encodeBatch({ agentId: 'agent-0001', sequence: 1n, host: host('a'), windows: [{ ...ws[1], start: 61 } as WindowEnvelope], spooledAtMs: 0 })), /not a window/);
    // a stack index past the table: cut the profile's stack list after encoding by re-encoding a copy
    const bad = decodeBatch(bytes);
    const prof = bad.windows[0];
    assert.ok(prof.kind === 'profile');
    assert.doesNotThrow(() => decodeBatch(bytes));
  });

  it('splits a batch over the limit into batches under it, losing no row', () => {
    const ws = Array.from({ length: 40 }, (_, i) => windows(i)).flat();
    const size = (g: WindowEnvelope[]) => encodeBatch({ agentId: 'agent-0001', sequence: 1n, host: host('a'), windows: g, spooledAtMs: 0 }).byteLength;
    const limit = Math.ceil(size(ws) / 7);
    const groups = splitBatch(ws, size, limit);
    assert.ok(groups.length >= 7);
    for (const g of groups) assert.ok(size(g) <= limit, `${size(g)} <= ${limit}`);
    assert.equal(samplesOf(groups.flat()), samplesOf(ws));
    assert.equal(pointsOf(groups.flat()), pointsOf(ws), 'egress points once each');
    assert.equal(bytesOf(groups.flat()), bytesOf(ws));
    // one window alone over the limit is cut by its rows
    const big = windows(1)[0];
    assert.ok(big.kind === 'profile');
    const many = { ...big, apps: [{ ...big.apps[0], stacks: Array.from({ length: 400 }, (_, k) => ({ frames: [{ name: `f${k}`, mapping: EXE, address: BigInt(k) }], count: 1 })) }] };
    const cut = splitBatch([many], size, Math.ceil(size([many]) / 3));
    assert.ok(cut.length >= 3);
    assert.equal(samplesOf(cut.flat()), 400);
  });
});

describe('agent spool', () => {
  it('keeps sequences across restarts, drops the oldest past its bound, sets corrupt files aside, and counts both', () => {
    const dir = tempDir('spool');
    const s = new Spool({ dir, maxBytes: 10_000, maxAgeMs: 3600_000 });
    const body = Buffer.alloc(3000, 7);
    for (let i = 0; i < 5; i++) s.append(s.nextSequence(), body);
    const st = s.stats();
    assert.ok(st.bytes <= 10_000, `${st.bytes} bytes within the bound`);
    assert.equal(st.batches, 3);
    assert.equal(st.dropped.spool_full, 2);
    assert.equal(s.head()!.entry.sequence, 3n, 'the oldest went first');
    // a torn write left behind, and a corrupted batch
    writeFileSync(join(dir, '00000000000000000099.batch.tmp'), 'half');
    const files = readdirSync(dir).filter((f) => f.endsWith('.batch'));
    writeFileSync(join(dir, files[0]), encodeSpoolFile(3n, Date.now(), body).subarray(0, 100));
    const again = new Spool({ dir, maxBytes: 10_000, maxAgeMs: 3600_000 });
    assert.equal(again.nextSequence(), 6n, 'no sequence is used twice');
    assert.equal(existsSync(join(dir, '00000000000000000099.batch.tmp')), false);
    const h = again.head()!;
    assert.equal(h.entry.sequence, 4n, 'the corrupt batch is set aside, the next one read');
    assert.equal(again.stats().dropped.corrupt, 1);
    assert.equal(readdirSync(join(dir, 'corrupt')).length, 1);
    again.acknowledge(h.entry);
    assert.equal(again.stats().batches, 1);
    // age
    let now = Date.now();
    const aged = new Spool({ dir: tempDir('spool-age'), maxBytes: 1e9, maxAgeMs: 1000, now: () => now });
    aged.append(aged.nextSequence(), body);
    now += 2000;
    aged.append(aged.nextSequence(), body);
    assert.equal(aged.stats().dropped.too_old, 1);
    assert.equal(aged.stats().batches, 1);
  });
});

describe('agent → server over gRPC', () => {
  let store: ChdbStore;
  let dataDir: string;
  let server: IngestServer;
  let port: number;
  const logs: string[] = [];
  const log = (l: string) => logs.push(l);

  const startServer = async (p = 0) => {
    server = new IngestServer({ store, dataDir, token: TOKEN, log });
    await server.recover();
    port = await server.listen(`127.0.0.1:${p}`, grpc.ServerCredentials.createInsecure());
  };
  const total = async (sql: string, params: Record<string, string> = {}) => Number((await store.query<{ n: string }>(sql, params))[0].n);
  const stored = async (hostName: string) => ({
    samples: await total('SELECT sum(samples) AS n FROM profile_samples WHERE host = {h:String}', { h: hostName }),
    samples1h: await total('SELECT sum(samples) AS n FROM profile_samples_1h WHERE host = {h:String}', { h: hostName }),
    bytes: await total('SELECT sum(bytes_sent) AS n FROM net_flows WHERE host = {h:String}', { h: hostName }),
    dns: await total('SELECT sum(requests) AS n FROM dns_windows WHERE host = {h:String}', { h: hostName }),
    unreachable: await total('SELECT sum(unreachable) AS n FROM dns_windows WHERE host = {h:String}', { h: hostName }),
    runq: await total('SELECT count() AS n FROM runq_windows WHERE host = {h:String}', { h: hostName }),
    losses: await total('SELECT sum(count) AS n FROM collector_losses WHERE host = {h:String}', { h: hostName }),
  });
  const sink = (name: string, h: HostInfo, opts: { token?: string; spoolMaxBytes?: number } = {}) => {
    const spool = new Spool({ dir: tempDir(`spool-${name}`), maxBytes: opts.spoolMaxBytes ?? 1 << 30, maxAgeMs: 86_400_000 });
    return new PushSink({ target: { address: `127.0.0.1:${port}`, token: opts.token ?? TOKEN }, agentId: `agent-${name}-0001`, host: h, spool, minRetryMs: 50, maxRetryMs: 400, deadlineMs: 5000, log });
  };
  const rawPush = (bytes: Uint8Array, token = TOKEN): Promise<{ code: number; details: string; duplicate?: boolean }> => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 128 << 20 });
    const md = new grpc.Metadata();
    md.set(AUTH_KEY, bearer(token));
    return new Promise((resolve) =>
      client.makeUnaryRequest(INGEST_SERVICE.push.path, INGEST_SERVICE.push.requestSerialize, INGEST_SERVICE.push.responseDeserialize, bytes, md, { deadline: Date.now() + 20_000 }, (err, res) => {
        client.close();
        resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', duplicate: res!.duplicate });
      }),
    );
  };

  before(async () => {
    dataDir = tempDir('ingest-server');
    store = new ChdbStore(join(dataDir, 'store'));
    await applySchema(store, { retentionDays: 7 });
    await startServer();
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  it('stores every window an agent pushes, with its host label', async () => {
    const s = sink('one', host('host-one'));
    const sent: WindowEnvelope[] = [];
    for (let i = 0; i < 5; i++) {
      for (const w of windows(i)) {
        s.write(w);
        sent.push(w);
      }
      s.seal();
    }
    await s.flush(20_000);
    assert.equal(s.stats().spool.batches, 0);
    assert.equal(s.stats().pushes.OK, 5);
    const got = await stored('host-one');
    assert.deepEqual(got, { samples: samplesOf(sent), samples1h: samplesOf(sent), bytes: bytesOf(sent), dns: 20, unreachable: 5, runq: 5, losses: 5 });
    await s.close(1000);
  });

  it('stores a batch delivered twice once, and answers the second "duplicate"', async () => {
    const ws = windows(7, 'twice');
    const bytes = encodeBatch({ agentId: 'agent-twice-0001', sequence: 1n, host: host('host-twice'), windows: ws, spooledAtMs: Date.now() });
    const [a, b] = await Promise.all([rawPush(bytes), rawPush(bytes)]); // at once: one joins the other's group
    assert.deepEqual([a.code, b.code], [0, 0]);
    const c = await rawPush(bytes); // later: from the ledger
    assert.equal(c.duplicate, true);
    // after a restart: the ledger table, not memory, answers
    await server.close();
    await startServer(port);
    const d = await rawPush(bytes);
    assert.equal(d.duplicate, true);
    const got = await stored('host-twice');
    assert.equal(got.samples, samplesOf(ws));
    assert.equal(got.samples1h, samplesOf(ws), 'the rollup once too');
    assert.equal(got.bytes, bytesOf(ws));
  });

  it('refuses a wrong token, a malformed and an oversized message, while another agent goes on', async () => {
    const wrong = await rawPush(encodeBatch({ agentId: 'agent-bad-0001', sequence: 1n, host: host('host-bad'), windows: windows(1, 'bad'), spooledAtMs: 0 }), 'not-the-token');
    assert.equal(wrong.code, grpc.status.UNAUTHENTICATED);
    assert.match(wrong.details, /bearer token/);
    assert.ok(logs.some((l) => /refused a push from .*wrong bearer token/.test(l)), logs.join('\n'));
    const malformed = await rawPush(Buffer.from('\x0a\xff\xff\xff\xff\x0fgarbage'));
    assert.equal(malformed.code, grpc.status.INVALID_ARGUMENT);
    assert.match(malformed.details, /malformed batch/);
    const oversized = await rawPush(Buffer.alloc(65 << 20, 1));
    assert.equal(oversized.code, grpc.status.RESOURCE_EXHAUSTED);
    // an agent with the wrong token keeps its batches and says why; a good one is unaffected
    const badAgent = sink('badtoken', host('host-badtoken'), { token: 'wrong-token-xyz' });
    badAgent.write(windows(2, 'badtoken')[0]);
    badAgent.seal();
    const good = sink('good', host('host-good'));
    for (const w of windows(3, 'good')) good.write(w);
    good.seal();
    await good.flush(20_000);
    await until('the refused agent to say so', () => logs.some((l) => /refused the token \(UNAUTHENTICATED/.test(l)));
    assert.equal(badAgent.stats().spool.batches, 1, 'nothing dropped for a wrong token');
    assert.equal((await stored('host-good')).samples, samplesOf(windows(3, 'good')));
    assert.equal((await stored('host-bad')).samples, 0);
    await badAgent.close(100);
    await good.close(100);
  });

  it('loses nothing while the server is away, stores it once when it is back, and keeps the spool within its bound', async () => {
    const s = sink('away', host('host-away'));
    // room for four batches and a half
    const one = SPOOL_HEADER_BYTES + encodeBatch({ agentId: 'agent-bounded-0001', sequence: 1n, host: host('host-bounded'), windows: windows(0, 'bounded'), spooledAtMs: Date.now() }).byteLength;
    const bound = Math.floor(4.5 * one);
    const bounded = sink('bounded', host('host-bounded'), { spoolMaxBytes: bound });
    await server.close();
    const sent: WindowEnvelope[] = [];
    const sentBounded: WindowEnvelope[][] = [];
    for (let i = 0; i < 12; i++) {
      for (const w of windows(i, 'away')) {
        s.write(w);
        sent.push(w);
      }
      s.seal();
      const bw = windows(i, 'bounded');
      for (const w of bw) bounded.write(w);
      bounded.seal();
      sentBounded.push(bw);
    }
    await until('pushes to fail while the server is down', () => s.stats().failures > 0);
    assert.equal(s.stats().spool.batches, 12);
    const b = bounded.stats().spool;
    assert.ok(b.bytes <= bound, `${b.bytes} bytes within the bound of ${bound}`);
    assert.equal(b.batches, 4);
    assert.equal(b.dropped.spool_full, 8);
    assert.equal(b.batches + b.dropped.spool_full, 12, 'every batch is either spooled or counted as dropped');
    await startServer(port);
    await s.flush(30_000);
    await bounded.flush(30_000);
    assert.equal(s.stats().spool.batches, 0);
    const got = await stored('host-away');
    assert.equal(got.samples, samplesOf(sent));
    assert.equal(got.bytes, bytesOf(sent));
    // what the bound kept arrives whole: the newest batches
    const kept = sentBounded.slice(12 - b.batches).flat();
    assert.equal((await stored('host-bounded')).samples, samplesOf(kept));
    await s.close(100);
    await bounded.close(100);
  });

  it('finishes a group a crash interrupted, from its journal, storing nothing twice', async () => {
    // a group of two batches whose first table was stored before the "crash"
    const batches = [1n, 2n].map((seq) => ({ agentId: 'agent-crash-0001', sequence: seq, host: host('host-crash'), windows: windows(Number(seq), 'crash'), spooledAtMs: Date.now() }));
    const raws = batches.map((b) => Buffer.from(encodeBatch(b)));
    await server.close();
    const group = 'c0ffee0000000000000000aa';
    writeFileSync(join(dataDir, 'journal', `${group}.group`), Buffer.concat(raws.map((r, i) => encodeSpoolFile(batches[i].sequence, 0, r))));
    // the samples of both, inserted under the group's token, as the crashed server had done
    const { ProfileRepository } = await import('../store/tables/profiles.js');
    const repo = new ProfileRepository(store);
    const rows = batches.flatMap((b) => repo.prepareWindow(b.windows[0] as never).find((i) => i.table === 'profile_samples')!.rows.map((r) => ({ ...r, host: 'host-crash' })));
    await store.insert('profile_samples', rows, { dedupToken: `${group}:profile_samples` });
    await startServer(port);
    assert.equal(server.stats().journalRecovered, 2);
    const want = batches.flatMap((b) => b.windows);
    const got = await stored('host-crash');
    assert.equal(got.samples, samplesOf(want));
    assert.equal(got.samples1h, samplesOf(want));
    assert.equal(got.bytes, bytesOf(want));
    // the agents' retries of both are answered as stored
    for (const r of raws) assert.equal((await rawPush(r)).duplicate, true);
    assert.equal(readdirSync(join(dataDir, 'journal')).length, 0);
  });

  it("classifies a flow to another registered host with that host's zone, and names its application", async () => {
    const alpha = sink('alpha', host('alpha', 'use1-az1', 'us-east-1', ['10.77.1.2']));
    const beta = sink('beta', host('beta', 'use1-az2', 'us-east-1', ['10.77.2.2']));
    const gamma = sink('gamma', host('gamma', 'euw1-az1', 'eu-west-1', ['10.88.1.2']));
    // each agent registers its host when it starts, before its first window closes
    await Promise.all([alpha, beta, gamma].map((s) => s.flush(20_000)));
    assert.ok([alpha, beta, gamma].every((s) => s.stats().registered));
    const start = BASE + 50 * WINDOW;
    const win = (rows: FlowRow[]): WindowEnvelope => ({ kind: 'netflow', start, seconds: WINDOW, host: '', rows });
    // beta's server side is reported first, in one window; alpha's client side in the next push
    beta.write(win([flow({ app: 'orders-db', direction: 'inbound', localAddress: '10.77.2.2', peerAddress: '10.77.1.2', port: 5432, bytesSent: 10, bytesReceived: 7000 })]));
    beta.seal();
    await beta.flush(20_000);
    alpha.write(win([flow({ app: 'checkout', direction: 'outbound', localAddress: '10.77.1.2', peerAddress: '10.77.2.2', port: 5432, bytesSent: 7000, class: 'unknown' }), flow({ app: 'checkout', direction: 'outbound', localAddress: '10.77.1.2', peerAddress: '10.88.1.2', port: 443, bytesSent: 500 })]));
    alpha.seal();
    await alpha.flush(20_000);
    gamma.write(win([flow({ app: 'edge', direction: 'inbound', localAddress: '10.88.1.2', peerAddress: '10.77.1.2', port: 443, bytesReceived: 500 })]));
    gamma.seal();
    await gamma.flush(20_000);
    const rows = await store.query<{ host: string; app: string; peer_app: string; class: string; peer_zone: string }>(
      "SELECT host, app, peer_app, class, peer_zone FROM net_flows WHERE host IN ('alpha', 'beta', 'gamma') ORDER BY host, peer_address",
    );
    assert.deepEqual(rows, [
      { host: 'alpha', app: 'checkout', peer_app: 'orders-db', class: 'cross-az', peer_zone: 'use1-az2' },
      { host: 'alpha', app: 'checkout', peer_app: '', class: 'cross-region', peer_zone: 'euw1-az1' },
      { host: 'beta', app: 'orders-db', peer_app: '', class: 'cross-az', peer_zone: 'use1-az1' },
      { host: 'gamma', app: 'edge', peer_app: 'checkout', class: 'cross-region', peer_zone: 'use1-az1' },
    ]);
    for (const s of [alpha, beta, gamma]) await s.close(100);
  });
});
