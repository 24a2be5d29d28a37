/* DNS parsing, matching and reassembly on constructed traffic, and the parser under fuzzing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { structLayouts } from '../native/index.js';
import { binQuantiles, DnsAggregator, latencyBin, OTHER_DOMAIN } from './aggregate.js';
import { DNS_EVENT, type DnsEvent } from './layout.js';
import { parseDnsMessage } from './message.js';
import { DnsTracker, type DnsQueryRecord } from './tracker.js';

const query = (id: number, name: string, type: 'A' | 'AAAA' = 'A') => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
const response = (id: number, name: string, type: 'A' | 'AAAA' = 'A', opts: { rcode?: number; answers?: number; tc?: boolean } = {}) =>
  dnsPacket.encode({
    type: 'response',
    id,
    flags: (opts.rcode ?? 0) | (opts.tc ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: [{ type, name }],
    answers: Array.from({ length: opts.answers ?? 0 }, (_, i) => (type === 'A' ? { type: 'A' as const, name, data: `10.0.0.${i + 1}` } : { type: 'AAAA' as const, name, data: `fd00::${i + 1}` })),
  });
const framed = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);

const MS = 1_000_000n;

function harness(timeoutMs = 5000) {
  let now = 0n;
  const records: DnsQueryRecord[] = [];
  const t = new DnsTracker({ timeoutNs: BigInt(timeoutMs) * MS, onRecord: (r) => records.push(r), monotonicNs: () => now });
  const ev = (atMs: number, dir: DnsEvent['dir'], data: Buffer, o: Partial<DnsEvent> = {}): void => {
    now = BigInt(atMs) * MS;
    t.handle({ tsNs: now, sock: 1n, cgroupId: 7n, tgid: 100, pid: 100, len: data.length, dir, transport: 'udp', peer: '10.0.0.53', port: 53, flags: 0, comm: 'app', data, ...o });
  };
  const advance = (ms: number) => {
    now = BigInt(ms) * MS;
    t.sweep();
  };
  return { t, ev, records, advance };
}

describe('DNS message parsing', () => {
  it('reads id, flags, rcode, answer count and the normalised question', () => {
    const m = parseDnsMessage(response(7, 'WWW.Example.COM.', 'AAAA', { rcode: 3 }))!;
    assert.deepEqual(m, { id: 7, response: true, rcode: 3, truncated: false, answers: 0, name: 'www.example.com', qtype: 'AAAA' });
    assert.equal(parseDnsMessage(response(8, 'a.b', 'A', { answers: 3 }))!.answers, 3);
  });

  it('still reads the question of a message cut short after it', () => {
    const full = response(9, 'big.example', 'A', { answers: 20 });
    const m = parseDnsMessage(full.subarray(0, 40))!;
    assert.equal(m.name, 'big.example');
    assert.equal(m.answers, 20);
  });

  it('names unknown qtypes TYPE<n> and rejects what is not a one-question standard query', () => {
    const q = query(1, 'x.test');
    q.writeUInt16BE(65400, q.length - 4);
    assert.equal(parseDnsMessage(q)!.qtype, 'TYPE65400');
    assert.equal(parseDnsMessage(Buffer.alloc(5)), null);
    const two = Buffer.from(query(1, 'x.test'));
    two.writeUInt16BE(2, 4);
    assert.equal(parseDnsMessage(two), null);
  });

  it('survives 120,000 random and mutated packets without throwing or hanging', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const seeds = [query(1, 'a.example.com'), response(2, 'b.example.org', 'AAAA', { answers: 2 }), response(3, 'c.test', 'A', { rcode: 2 }), framed(query(4, 'd.test')).subarray(2)];
    const started = Date.now();
    let parsed = 0;
    for (let i = 0; i < 120_000; i++) {
      let b: Buffer;
      if (i % 3 === 0) {
        b = Buffer.alloc(Math.floor(rand() * 600));
        for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
        if (b.length >= 6 && rand() < 0.5) b.writeUInt16BE(1, 4); // one question: reach the name decoder
      } else {
        b = Buffer.from(seeds[i % seeds.length]);
        const flips = 1 + Math.floor(rand() * 6);
        for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
        if (rand() < 0.3) b = b.subarray(0, Math.floor(rand() * b.length));
        if (rand() < 0.1) b[12] = 0xc0; // a compression pointer loop at the question
      }
      const m = parseDnsMessage(b);
      if (m) parsed++;
    }
    assert.ok(parsed > 1000, `some mutated packets still parse: ${parsed}`);
    assert.ok(Date.now() - started < 60_000, 'no hang');
  });
});

describe('DNS query matching', () => {
  it('ends the queries in flight on a socket that got ICMP port unreachable: unreachable, timed to the error', () => {
    const h = harness(2000);
    h.ev(0, 'send', query(1, 'a.test'));
    h.ev(0, 'send', query(2, 'a.test', 'AAAA'));
    h.ev(1, 'send', query(3, 'b.test'), { sock: 2n });
    h.ev(3, 'unreachable', Buffer.alloc(0));
    assert.deepEqual(
      h.records.map((r) => [r.domain, r.qtype, r.status, r.latencyNs, r.rcode]),
      [
        ['a.test', 'A', 'unreachable', 3_000_000, null],
        ['a.test', 'AAAA', 'unreachable', 3_000_000, null],
      ],
    );
    // the query on the other socket is untouched, and times out as before
    h.advance(5000);
    assert.deepEqual(h.records.slice(2).map((r) => [r.domain, r.status]), [['b.test', 'timeout']]);
  });

  it('matches a response to its query by process, socket and id, timed from the first send', () => {
    const h = harness();
    h.ev(0, 'send', query(1, 'a.test'));
    h.ev(10, 'send', query(1, 'a.test')); // a retransmit (or musl asking a second server)
    h.ev(2, 'send', query(2, 'a.test', 'AAAA'), { sock: 2n });
    h.ev(25, 'recv', response(1, 'a.test', 'A', { answers: 1 }));
    h.ev(26, 'recv', response(2, 'a.test', 'AAAA'), { sock: 3n }); // another socket: not this query
    assert.equal(h.records.length, 1);
    assert.equal(h.records[0].latencyNs, 25_000_000);
    assert.equal(h.records[0].status, 'noerror');
    assert.equal(h.t.stats.unmatchedResponses, 1);
  });

  it('reports a query with no answer within the timeout as a timeout, once', () => {
    const h = harness(2000);
    h.ev(0, 'send', query(5, 'drop.test'));
    h.advance(1999);
    assert.equal(h.records.length, 0);
    h.advance(2001);
    h.advance(5000);
    assert.equal(h.records.length, 1);
    assert.equal(h.records[0].status, 'timeout');
    assert.equal(h.records[0].latencyNs, null);
    h.ev(5100, 'recv', response(5, 'drop.test')); // too late
    assert.equal(h.records.length, 1);
    assert.equal(h.t.stats.unmatchedResponses, 1);
  });

  it('reassembles DNS over TCP: length prefix, split reads, two messages in one write', () => {
    const h = harness();
    const tcp = { transport: 'tcp' as const, sock: 9n };
    const q1 = framed(query(11, 'one.test'));
    const q2 = framed(query(12, 'two.test', 'AAAA'));
    h.ev(0, 'send', Buffer.concat([q1, q2]), tcp);
    const r1 = framed(response(11, 'one.test', 'A', { answers: 2 }));
    const r2 = framed(response(12, 'two.test', 'AAAA', { rcode: 3 }));
    const both = Buffer.concat([r1, r2]);
    h.ev(5, 'recv', both.subarray(0, 1), tcp); // half the length prefix
    h.ev(6, 'recv', both.subarray(1, 20), tcp);
    h.ev(7, 'recv', both.subarray(20), tcp);
    assert.deepEqual(
      h.records.map((r) => [r.domain, r.qtype, r.status, r.answers, r.transport, r.latencyNs]),
      [
        ['one.test', 'A', 'noerror', 2, 'tcp', 7_000_000],
        ['two.test', 'AAAA', 'nxdomain', 0, 'tcp', 7_000_000],
      ],
    );
  });

  it('joins the TCP retry of a truncated UDP answer to the query, timed from the UDP send', () => {
    const h = harness();
    h.ev(0, 'send', query(21, 'tc.test'));
    h.ev(0, 'send', query(22, 'tc.test', 'AAAA'));
    h.ev(3, 'recv', response(21, 'tc.test', 'A', { tc: true }));
    // glibc gives up on the AAAA over UDP and asks both over TCP, on a socket at the same address
    const tcp = { transport: 'tcp' as const };
    h.ev(4, 'send', framed(query(21, 'tc.test')), tcp);
    h.ev(4, 'send', framed(query(22, 'tc.test', 'AAAA')), tcp);
    h.ev(9, 'recv', Buffer.concat([framed(response(21, 'tc.test', 'A', { answers: 1 })), framed(response(22, 'tc.test', 'AAAA', { answers: 1 }))]), tcp);
    assert.deepEqual(
      h.records.map((r) => [r.qtype, r.transport, r.latencyNs, r.answers]),
      [
        ['A', 'udp+tcp', 9_000_000, 1],
        ['AAAA', 'udp+tcp', 9_000_000, 1],
      ],
    );
    assert.equal(h.t.stats.queries, 2);
    h.advance(60_000);
    assert.equal(h.records.length, 2, 'nothing left to time out');
  });

  it('keeps memory bounded: the oldest query in flight is dropped and counted', () => {
    const records: DnsQueryRecord[] = [];
    const t = new DnsTracker({ timeoutNs: 5000n * MS, onRecord: (r) => records.push(r), maxPending: 3, monotonicNs: () => 0n });
    for (let id = 0; id < 5; id++) t.handle({ tsNs: 0n, sock: 1n, cgroupId: 0n, tgid: 1, pid: 1, len: 0, dir: 'send', transport: 'udp', peer: '', port: 53, flags: 0, comm: 'x', data: query(id, 'q.test') });
    assert.equal(t.inFlight, 3);
    assert.equal(t.stats.pendingEvicted, 2);
  });
});

describe('DNS windows', () => {
  const rec = (domain: string, status: DnsQueryRecord['status'], latencyMs: number | null, answers = 1): DnsQueryRecord => ({
    app: 'app',
    containerId: '',
    tgid: 1,
    cgroupId: 0n,
    comm: 'x',
    domain,
    qtype: 'A',
    status,
    rcode: status === 'timeout' ? null : 0,
    answers,
    latencyNs: latencyMs === null ? null : latencyMs * 1e6,
    transport: 'udp',
    nameserver: '10.0.0.53',
    endMs: 0,
  });

  it('keeps the top N domains per application and rolls the rest into ~other', () => {
    const a = new DnsAggregator(2);
    for (const [d, n] of [['a.test', 5], ['b.test', 3], ['c.test', 2], ['d.test', 1]] as const) for (let i = 0; i < n; i++) a.add(rec(d, 'noerror', 1));
    const w = a.take(0, 60, 'h');
    assert.deepEqual(w.rows.map((r) => [r.domain, r.requests]), [['a.test', 5], ['b.test', 3], [OTHER_DOMAIN, 3]]);
    assert.equal(w.folded, 3);
  });

  it('merges latency sketches: percentiles of two windows equal those of one', () => {
    const one = new Map<number, number>();
    const two = [new Map<number, number>(), new Map<number, number>()];
    for (let i = 1; i <= 1000; i++) {
      const bin = latencyBin(i / 10);
      one.set(bin, (one.get(bin) ?? 0) + 1);
      two[i % 2].set(bin, (two[i % 2].get(bin) ?? 0) + 1);
    }
    const merged = new Map(two[0]);
    for (const [k, n] of two[1]) merged.set(k, (merged.get(k) ?? 0) + n);
    assert.deepEqual(binQuantiles(merged, [0.5, 0.95, 0.99]), binQuantiles(one, [0.5, 0.95, 0.99]));
    const [p50, p99] = binQuantiles(one, [0.5, 0.99]) as number[];
    assert.ok(Math.abs(p50 - 50) / 50 < 0.02 && Math.abs(p99 - 99) / 99 < 0.02, `${p50} ${p99}`);
  });

  it('counts unreachable apart from timeouts, and keeps its quick failure out of the answer latency', () => {
    const a = new DnsAggregator();
    a.add(rec('u.test', 'noerror', 2));
    a.add({ ...rec('u.test', 'unreachable', 0.1), rcode: null });
    const [r] = a.take(0, 60, 'h').rows;
    assert.deepEqual([r.requests, r.noerror, r.unreachable, r.timeouts, [...r.latency.values()].reduce((s, n) => s + n, 0)], [2, 1, 1, 0, 1]);
  });

  it('counts no-answer NOERROR separately and keeps timeouts out of the latency', () => {
    const a = new DnsAggregator();
    a.add(rec('e.test', 'noerror', 2, 0));
    a.add(rec('e.test', 'timeout', null, 0));
    const [r] = a.take(0, 60, 'h').rows;
    assert.deepEqual([r.requests, r.noerror, r.noAnswer, r.timeouts, [...r.latency.values()].reduce((s, n) => s + n, 0)], [2, 1, 1, 1, 1]);
  });
});

describe('DNS event layout', () => {
  it('matches struct dns_event in bpf/dns.h', () => {
    // the addon is built by `npm test` itself (scripts/setup.sh), so it is always there to ask
    const layouts = structLayouts();
    const { size: _size, ...fields } = layouts.dns_event;
    assert.deepEqual(fields, DNS_EVENT);
  });
});
