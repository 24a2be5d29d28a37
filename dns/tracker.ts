/* Turns captured DNS traffic into one record per query:
 * - UDP: one event is one message; TCP: the stream of each socket and direction is reassembled (the
 *   two-byte length prefix, messages split across reads or sent in several writes);
 * - a response is matched to its query by process, socket and DNS id (and its question); a query id
 *   sent again (a retransmit, or musl asking several servers with one id) keeps its first send time;
 * - latency = response time − first send time, both kernel CLOCK_MONOTONIC timestamps;
 * - a UDP response with the TC bit is not the end: the client's retry over TCP for the same name and
 *   type continues the same query (transport `udp+tcp`), timed from the first UDP send;
 * - a query with no response within the timeout is recorded with status `timeout`;
 * - a query whose socket got ICMP port unreachable (the client's call failed with ECONNREFUSED at
 *   once) is recorded with status `unreachable`, timed to the error: the client did not wait.
 * Memory is bounded: at most `maxPending` queries in flight and `maxStreams` TCP streams; what falls
 * out is counted. */
import type { DnsEvent } from './layout.js';
import { parseDnsMessage, type DnsMessage } from './message.js';

export type DnsStatus = 'noerror' | 'nxdomain' | 'servfail' | 'refused' | 'other' | 'timeout' | 'unreachable';
export type DnsTransport = 'udp' | 'tcp' | 'udp+tcp';

export interface DnsQueryRecord {
  /** named when the query was sent, while its process was alive */
  app: string;
  containerId: string;
  tgid: number;
  cgroupId: bigint;
  comm: string;
  domain: string;
  qtype: string;
  status: DnsStatus;
  /** null for a timeout */
  rcode: number | null;
  answers: number;
  /** null for a timeout; for `unreachable`, the time to the error */
  latencyNs: number | null;
  transport: DnsTransport;
  nameserver: string;
  /** when the query ended (answer, or timeout), unix ms */
  endMs: number;
}

export interface DnsTrackerStats {
  events: number;
  queries: number;
  responses: number;
  /** captured bytes that are not a DNS message (counted, never thrown) */
  malformed: number;
  /** responses with no query in flight: answered after the timeout, or sent before Kiln started */
  unmatchedResponses: number;
  /** queries dropped from the in-flight table because it was full */
  pendingEvicted: number;
  /** TCP streams dropped: too many at once, or a message longer than DNS allows */
  streamsDropped: number;
  /** events whose bytes were cut at the capture size (the header and question usually survive) */
  cutShort: number;
}

interface Pending {
  firstNs: bigint;
  app: string;
  containerId: string;
  tgid: number;
  cgroupId: bigint;
  comm: string;
  domain: string;
  qtype: string;
  transport: DnsTransport;
  nameserver: string;
}

interface Truncated extends Pending {
  /** the truncated response: what the client got if it does not retry over TCP */
  atNs: bigint;
  rcode: number;
}

interface Stream {
  buf: Buffer;
  lastNs: bigint;
}

export interface DnsTrackerOptions {
  timeoutNs: bigint;
  onRecord: (r: DnsQueryRecord) => void;
  /** queries in flight at once; default 65536 */
  maxPending?: number;
  /** TCP streams being reassembled at once; default 4096 */
  maxStreams?: number;
  /** CLOCK_MONOTONIC now in ns (tests replace it) */
  monotonicNs?: () => bigint;
  /** the application of a query's process, asked once per query at its first send; default its comm */
  identify?: (e: DnsEvent) => { app: string; containerId: string };
}

export function statusOf(rcode: number): DnsStatus {
  return rcode === 0 ? 'noerror' : rcode === 3 ? 'nxdomain' : rcode === 2 ? 'servfail' : rcode === 5 ? 'refused' : 'other';
}

const MAX_TCP_MESSAGE = 65535 + 2;

export class DnsTracker {
  readonly #opts: Required<DnsTrackerOptions>;
  readonly #pending = new Map<string, Pending>();
  readonly #truncated = new Map<string, Truncated>();
  readonly #streams = new Map<string, Stream>();
  /** tgid|domain|qtype → the key of the UDP query in flight for it (to join a retry over TCP) */
  readonly #udpByName = new Map<string, string>();
  readonly stats: DnsTrackerStats = { events: 0, queries: 0, responses: 0, malformed: 0, unmatchedResponses: 0, pendingEvicted: 0, streamsDropped: 0, cutShort: 0 };

  constructor(opts: DnsTrackerOptions) {
    this.#opts = { maxPending: 65536, maxStreams: 4096, monotonicNs: () => process.hrtime.bigint(), identify: (e) => ({ app: e.comm, containerId: '' }), ...opts };
  }

  get inFlight(): number {
    return this.#pending.size + this.#truncated.size;
  }

  handle(e: DnsEvent): void {
    this.stats.events++;
    if (e.dir === 'unreachable') {
      this.#unreachable(e);
      return;
    }
    if (e.data.length < e.len) this.stats.cutShort++;
    if (e.transport === 'udp') {
      this.#message(e, e.data);
      return;
    }
    // TCP: append to the stream (bytes not captured are zeros: they keep the framing right)
    const key = `${e.tgid}|${e.sock}|${e.dir}`;
    let s = this.#streams.get(key);
    if (!s) {
      if (this.#streams.size >= this.#opts.maxStreams) {
        const oldest = this.#streams.keys().next().value!;
        this.#streams.delete(oldest);
        this.stats.streamsDropped++;
      }
      s = { buf: Buffer.alloc(0), lastNs: e.tsNs };
      this.#streams.set(key, s);
    }
    const chunk = e.data.length < e.len ? Buffer.concat([e.data, Buffer.alloc(e.len - e.data.length)]) : e.data;
    s.buf = s.buf.length ? Buffer.concat([s.buf, chunk]) : chunk;
    s.lastNs = e.tsNs;
    while (s.buf.length >= 2) {
      const n = s.buf.readUInt16BE(0);
      if (s.buf.length < 2 + n) break;
      this.#message(e, s.buf.subarray(2, 2 + n));
      s.buf = s.buf.subarray(2 + n);
    }
    if (s.buf.length === 0) this.#streams.delete(key);
    else if (s.buf.length > MAX_TCP_MESSAGE) {
      this.#streams.delete(key);
      this.stats.streamsDropped++;
    }
  }

  #message(e: DnsEvent, bytes: Buffer): void {
    const m = parseDnsMessage(bytes);
    if (!m) {
      this.stats.malformed++;
      return;
    }
    if (e.dir === 'send' && !m.response) this.#query(e, m);
    else if (e.dir === 'recv' && m.response) this.#response(e, m);
    else this.stats.malformed++;
  }

  #query(e: DnsEvent, m: DnsMessage): void {
    // the transport is part of the key: a TCP socket opened for a retry can get the address of the
    // UDP socket closed just before, and glibc retries with the same id
    const key = `${e.tgid}|${e.sock}|${e.transport}|${m.id}`;
    if (this.#pending.has(key)) return; // a retransmit: the first send counts
    this.stats.queries++;
    const nameserver = e.peer ? (e.port && e.port !== 53 ? `${e.peer.includes(':') ? `[${e.peer}]` : e.peer}:${e.port}` : e.peer) : '';
    let p: Pending = { firstNs: e.tsNs, ...this.#opts.identify(e), tgid: e.tgid, cgroupId: e.cgroupId, comm: e.comm, domain: m.name, qtype: m.qtype, transport: e.transport, nameserver };
    if (e.transport === 'tcp') {
      const tkey = `${e.tgid}|${m.name}|${m.qtype}`;
      // the retry over TCP of a truncated UDP answer, or of a UDP query the client gave up on once
      // another answer came back truncated (glibc asks A and AAAA together): the same query, timed
      // from its first send
      const t = this.#truncated.get(tkey);
      const udpKey = this.#udpByName.get(tkey);
      const u = t ?? (udpKey === undefined ? undefined : this.#pending.get(udpKey));
      if (u) {
        if (t) this.#truncated.delete(tkey);
        else this.#forget(udpKey!, u);
        this.stats.queries--;
        p = { ...p, firstNs: u.firstNs, transport: 'udp+tcp' };
      }
    }
    if (this.#pending.size >= this.#opts.maxPending) {
      const [oldKey, old] = this.#pending.entries().next().value!;
      this.#forget(oldKey, old);
      this.stats.pendingEvicted++;
    }
    this.#pending.set(key, p);
    if (p.transport === 'udp') this.#udpByName.set(`${p.tgid}|${p.domain}|${p.qtype}`, key);
  }

  #forget(key: string, p: Pending): void {
    this.#pending.delete(key);
    const nkey = `${p.tgid}|${p.domain}|${p.qtype}`;
    if (this.#udpByName.get(nkey) === key) this.#udpByName.delete(nkey);
  }

  #response(e: DnsEvent, m: DnsMessage): void {
    const key = `${e.tgid}|${e.sock}|${e.transport}|${m.id}`;
    const p = this.#pending.get(key);
    if (!p || p.domain !== m.name || p.qtype !== m.qtype) {
      this.stats.unmatchedResponses++;
      return;
    }
    this.#forget(key, p);
    this.stats.responses++;
    if (m.truncated && p.transport === 'udp') {
      const tkey = `${p.tgid}|${p.domain}|${p.qtype}`;
      this.#truncated.delete(tkey);
      this.#truncated.set(tkey, { ...p, atNs: e.tsNs, rcode: m.rcode });
      return;
    }
    this.#record(p, m.rcode, m.answers, e.tsNs);
  }

  /** Every UDP query in flight on the socket ends: its nameserver's host refused the port. */
  #unreachable(e: DnsEvent): void {
    const prefix = `${e.tgid}|${e.sock}|udp|`;
    for (const [key, p] of this.#pending) {
      if (!key.startsWith(prefix)) continue;
      this.#forget(key, p);
      this.#record(p, null, 0, e.tsNs, 'unreachable');
    }
  }

  #record(p: Pending, rcode: number | null, answers: number, endNs: bigint | null, status?: DnsStatus): void {
    const now = this.#opts.monotonicNs();
    const end = endNs ?? p.firstNs + this.#opts.timeoutNs;
    this.#opts.onRecord({
      app: p.app,
      containerId: p.containerId,
      tgid: p.tgid,
      cgroupId: p.cgroupId,
      comm: p.comm,
      domain: p.domain,
      qtype: p.qtype,
      status: status ?? (rcode === null ? 'timeout' : statusOf(rcode)),
      rcode,
      answers,
      latencyNs: endNs === null ? null : Number(endNs - p.firstNs),
      transport: p.transport,
      nameserver: p.nameserver,
      endMs: Date.now() - Number(now - end) / 1e6,
    });
  }

  /** Ends queries older than the timeout (status `timeout`), and forgets idle TCP streams. */
  sweep(): void {
    const now = this.#opts.monotonicNs();
    const limit = now - this.#opts.timeoutNs;
    for (const [key, p] of this.#pending) {
      if (p.firstNs > limit) continue;
      this.#forget(key, p);
      this.#record(p, null, 0, null);
    }
    for (const [key, t] of this.#truncated) {
      if (t.firstNs > limit) continue;
      this.#truncated.delete(key);
      this.#record(t, t.rcode, 0, t.atNs); // no retry over TCP came: the truncated answer was the answer
    }
    for (const [key, s] of this.#streams) if (s.lastNs <= limit) this.#streams.delete(key);
  }
}
