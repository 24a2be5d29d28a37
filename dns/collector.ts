/* The DNS collector: bpf/dns.bpf.c on the socket send and receive tracepoints, its ring buffer read every second, each
 * event matched into query records (tracker.ts), named through host/ (ARCHITECTURE.md "Host identity") and aggregated per window. */
import { existsSync } from 'node:fs';
import { BpfObject, type BpfMap } from '../native/index.js';
import { readPerCpuCounters } from '../native/decode.js';
import type { HostIdentity } from '../host/identity.js';
import type { Collector, CollectorHealth, EndedWindow, WindowEnvelope } from '../pipeline/contracts.js';
import { DnsAggregator } from './aggregate.js';
import { DNS_STATS, decodeDnsEvents, type DnsEvent } from './layout.js';
import { DnsTracker, type DnsQueryRecord } from './tracker.js';

export const DNS_PROGRAMS = ['dns_send', 'dns_recv'];

export interface DnsCollectorOptions {
  windowSeconds: number;
  host: string;
  /** who a process is (host/) */
  identity: HostIdentity;
  onError?: (e: unknown) => void;
  /** a query with no response after this long is a timeout; default 5 s */
  timeoutSeconds?: number;
  /** domains per application that keep their name in a window; default 100 */
  topDomains?: number;
  /** every query record, as it ends (tests, metrics) */
  onRecord?: (r: DnsQueryRecord) => void;
  /** unconnected DNS sockets tracked at once (LRU map, exited processes' removed every window); default 65536 */
  maxSockets?: number;
}

/** The ring buffer (8 MiB) is read on the scheduler's clock, every second: that holds ~4,000 queries
 *  a second of full 512-byte messages (~20,000 of typical 60-150-byte ones) before the first read, and
 *  a read that finds more than POLL_BUSY_BYTES goes again every POLL_BUSY_MS until the buffer is
 *  quiet. Timestamps are the kernel's, so when a message is read changes no latency. */
const POLL_BUSY_MS = 5;
const POLL_BUSY_BYTES = 256 << 10;

export class DnsCollector implements Collector {
  readonly name = 'dns';
  readonly bpf: BpfObject;
  readonly tracker: DnsTracker;
  readonly #stats: BpfMap;
  /** unconnected DNS sockets by cookie (value: the registering tgid): removed here when the process is gone */
  readonly #socks: BpfMap;
  readonly #opts: DnsCollectorOptions;
  /** DNS socket entries removed because their process had exited */
  socketsOfExitedProcesses = 0;
  dnsSockets = 0;
  readonly #agg: DnsAggregator;
  #busy: NodeJS.Timeout | undefined;
  #events: DnsEvent[] = [];
  recordsFolded = 0;
  /** queries of processes outside the agent's --cgroup, left out */
  queriesOutOfScope = 0;
  decodeErrors = 0;
  handleErrors = 0;

  constructor(opts: DnsCollectorOptions) {
    this.#opts = opts;
    const [obj, maps] = BpfObject.load('dns', { dns_socks: opts.maxSockets ?? 65536 }, (o) => {
      for (const p of DNS_PROGRAMS) o.attach(p);
      return { stats: o.map('dns_stats'), socks: o.map('dns_socks') };
    });
    this.bpf = obj;
    this.#stats = maps.stats;
    this.#socks = maps.socks;
    this.#agg = new DnsAggregator(opts.topDomains ?? 100);
    this.tracker = new DnsTracker({
      timeoutNs: BigInt(Math.round((opts.timeoutSeconds ?? 5) * 1e9)),
      identify: (e) => opts.identity.appOf(e),
      onRecord: (r) => {
        // an agent with --cgroup keeps its subtree's queries only (host/scope.ts)
        if (!opts.identity.inScope(r.cgroupId)) {
          this.queriesOutOfScope++;
          return;
        }
        this.#agg.add(r);
        opts.onRecord?.(r);
      },
    });
  }

  start(): void {}

  /** On the scheduler's clock: reads the ring buffer, ends queries past their timeout, and while the
   *  buffer comes back busy reads it again every POLL_BUSY_MS on a timer of its own (a timer every
   *  20 ms cost 1.1% of a core on an idle host: 50 wake-ups a second to find nothing). */
  async poll(): Promise<void> {
    const n = this.read();
    this.tracker.sweep();
    if (n >= POLL_BUSY_BYTES && !this.#busy) this.#drainBusy();
  }

  #drainBusy(): void {
    this.#busy = setTimeout(() => {
      this.#busy = undefined;
      if (!this.#closed && this.read() >= POLL_BUSY_BYTES) this.#drainBusy();
    }, POLL_BUSY_MS);
    this.#busy.unref();
  }

  /** Reads the ring buffer and matches what it holds; returns the bytes read. */
  read(): number {
    let buf: Buffer;
    try {
      buf = this.bpf.ringbufConsume('dns_events');
    } catch (e) {
      this.#opts.onError?.(e);
      return 0;
    }
    if (buf.length === 0) return 0;
    this.#events.length = 0;
    const { events, malformed } = decodeDnsEvents(buf, this.#events);
    this.decodeErrors += malformed;
    for (const e of events) {
      try {
        this.tracker.handle(e);
      } catch (err) {
        // a fault in one event must not lose the rest of the batch
        if (this.handleErrors++ === 0) this.#opts.onError?.(err);
      }
    }
    return buf.length;
  }

  /** Removes the socket entries of processes that exited (the kernel map is LRU-bounded, but an
   *  eviction would forget a live socket silently: dead ones go first, here). */
  sweepSockets(): void {
    const { keys, values, count } = this.#socks.dump();
    const { keySize, valueSize } = this.#socks.info;
    const gone: number[] = [];
    const alive = new Map<number, boolean>();
    for (let i = 0; i < count; i++) {
      const tgid = values.readUInt32LE(i * valueSize);
      let a = alive.get(tgid);
      if (a === undefined) {
        a = existsSync(`/proc/${tgid}`);
        alive.set(tgid, a);
      }
      if (!a) gone.push(i);
    }
    if (gone.length) {
      const kb = Buffer.alloc(gone.length * keySize);
      gone.forEach((i, j) => keys.copy(kb, j * keySize, i * keySize, (i + 1) * keySize));
      const { found } = this.#socks.take(kb);
      for (const f of found) if (f) this.socketsOfExitedProcesses++;
    }
    this.dnsSockets = count - gone.length;
  }

  /** What ended since the last close, as the window that just ended. */
  async closeWindows(ended: EndedWindow, final: boolean): Promise<WindowEnvelope[]> {
    await this.poll();
    try {
      this.sweepSockets();
    } catch (e) {
      this.#opts.onError?.(e);
    }
    if (this.#agg.empty) return [];
    const w = this.#agg.take(ended.start, ended.seconds, this.#opts.host);
    this.recordsFolded += w.folded;
    return [{ kind: 'dns', ...w }];
  }

  /** Kernel-side losses since load. */
  losses(): Record<(typeof DNS_STATS)[number], bigint> {
    return readPerCpuCounters(this.#stats, DNS_STATS);
  }

  stats(): Record<string, number> {
    if (this.#final) return this.#final;
    const l = this.losses();
    return {
      ...this.tracker.stats,
      inFlight: this.tracker.inFlight,
      decodeErrors: this.decodeErrors,
      handleErrors: this.handleErrors,
      recordsFolded: this.recordsFolded,
      queriesOutOfScope: this.queriesOutOfScope,
      ringbufFull: Number(l.ringbufFull),
      argsMapFull: Number(l.argsMapFull),
      sockRegisterFailed: Number(l.sockRegisterFailed),
      partsNotRead: Number(l.partsNotRead),
      dnsSockets: this.dnsSockets,
      socketsOfExitedProcesses: this.socketsOfExitedProcesses,
    };
  }

  health(): CollectorHealth {
    const s = this.stats();
    return {
      status: { ...s, timeoutSeconds: this.#opts.timeoutSeconds ?? 5, topDomains: this.#opts.topDomains ?? 100 },
      losses: {
        ringbuf_full: s.ringbufFull,
        args_map_full: s.argsMapFull,
        socket_not_registered: s.sockRegisterFailed,
        parts_not_read: s.partsNotRead,
        queries_evicted: s.pendingEvicted ?? 0,
        streams_dropped: s.streamsDropped ?? 0,
      },
      programs: this.#closed ? [] : this.bpf.progStats(),
    };
  }

  #closed = false;

  /** Stops polling and detaches (after the scheduler's final closeWindows). */
  async stop(): Promise<void> {
    if (this.#busy) clearTimeout(this.#busy);
    this.read();
    this.#final = this.stats();
    this.#closed = true;
    this.bpf.close();
  }

  #final: Record<string, number> | undefined;
}
