/* The DNS collector: bpf/dns.bpf.c on the syscall tracepoints, its ring buffer read every 20 ms, each
 * event matched into query records (tracker.ts), named per DESIGN.md and aggregated per window. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { BpfObject, type BpfMap } from '../native/index.js';
import { readPerCpuCounters } from '../native/decode.js';
import type { CgroupResolver } from '../host/cgroup-resolver.js';
import type { ProcessTable } from '../host/process-table.js';
import { WindowSchedule } from '../profiler/window.js';
import { appOfFlow } from '../netcost/tcp-collector.js';
import { DnsAggregator, type DnsWindow } from './aggregate.js';
import { DNS_STATS, decodeDnsEvents, type DnsEvent } from './layout.js';
import { DnsTracker, type DnsQueryRecord } from './tracker.js';

export const DNS_PROGRAMS = [
  'dns_connect',
  'dns_sendto',
  'dns_sendmsg',
  'dns_sendmmsg',
  'dns_write',
  'dns_writev',
  'dns_recvfrom_enter',
  'dns_recvfrom_exit',
  'dns_read_enter',
  'dns_read_exit',
  'dns_recvmsg_enter',
  'dns_recvmsg_exit',
  'dns_recvmmsg_enter',
  'dns_recvmmsg_exit',
  'dns_readv_enter',
  'dns_readv_exit',
];

export interface DnsCollectorOptions {
  windowSeconds: number;
  host: string;
  cgroups: CgroupResolver;
  processes: ProcessTable;
  onWindow: (w: DnsWindow) => Promise<void>;
  onError?: (e: unknown) => void;
  /** a query with no response after this long is a timeout; default 5 s */
  timeoutSeconds?: number;
  /** domains per application that keep their name in a window; default 100 */
  topDomains?: number;
  /** every query record, as it ends (tests, metrics) */
  onRecord?: (r: DnsQueryRecord) => void;
  /** DNS sockets tracked at once (LRU map); default 65536 */
  maxSockets?: number;
}

/** Syscall tracepoints are attached through tracefs; it is not mounted at boot on some machines. */
export function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events/syscalls') || existsSync('/sys/kernel/debug/tracing/events/syscalls')) return;
  const mounted = readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === '/sys/kernel/tracing');
  if (!mounted) {
    try {
      execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`tracefs is not mounted and mounting it failed (mount -t tracefs nodev /sys/kernel/tracing): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!existsSync('/sys/kernel/tracing/events/syscalls')) throw new Error('no syscall tracepoints in tracefs (kernel built without CONFIG_FTRACE_SYSCALLS)');
}

export class DnsCollector {
  readonly bpf: BpfObject;
  readonly tracker: DnsTracker;
  readonly #stats: BpfMap;
  /** (tgid, fd) -> DNS socket: entries leave when the fd is reused, and here when the process is gone */
  readonly #socks: BpfMap;
  readonly #opts: DnsCollectorOptions;
  /** DNS socket entries removed because their process had exited */
  socketsOfExitedProcesses = 0;
  dnsSockets = 0;
  readonly #agg: DnsAggregator;
  #poll: NodeJS.Timeout | undefined;
  readonly #schedule: WindowSchedule;
  #events: DnsEvent[] = [];
  windowsFlushed = 0;
  windowErrors = 0;
  recordsFolded = 0;
  decodeErrors = 0;
  handleErrors = 0;

  constructor(opts: DnsCollectorOptions) {
    this.#opts = opts;
    ensureTracefs();
    const [obj, maps] = BpfObject.load('dns', { dns_socks: opts.maxSockets ?? 65536 }, (o) => {
      for (const p of DNS_PROGRAMS) o.attach(p);
      return { stats: o.map('dns_stats'), socks: o.map('dns_socks') };
    });
    this.bpf = obj;
    this.#stats = maps.stats;
    this.#socks = maps.socks;
    this.#agg = new DnsAggregator(opts.topDomains ?? 100);
    this.#schedule = new WindowSchedule(opts.windowSeconds, (start) => this.#flush(start));
    this.tracker = new DnsTracker({
      timeoutNs: BigInt(Math.round((opts.timeoutSeconds ?? 5) * 1e9)),
      identify: (e) => appOfFlow(e, opts.cgroups, opts.processes),
      onRecord: (r) => {
        this.#agg.add(r);
        opts.onRecord?.(r);
      },
    });
  }

  start(): void {
    let sweepAt = 0;
    this.#poll = setInterval(() => {
      this.poll();
      if (++sweepAt % 12 === 0) this.tracker.sweep(); // every 240 ms
    }, 20);
    this.#poll.unref();
    this.#schedule.start();
  }

  /** Reads the ring buffer and matches what it holds. */
  poll(): void {
    let buf: Buffer;
    try {
      buf = this.bpf.ringbufConsume('dns_events');
    } catch (e) {
      this.#opts.onError?.(e);
      return;
    }
    if (buf.length === 0) return;
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
  }

  /** Writes what ended since the last flush as a window. Never overlaps itself. */
  flush(): Promise<void> {
    return this.#schedule.flush();
  }

  /** Removes the socket entries of processes that exited (the kernel map is LRU-bounded, but an
   *  eviction would forget a live socket silently: dead ones go first, here). */
  sweepSockets(): void {
    const { keys, count } = this.#socks.dump();
    const gone: number[] = [];
    const alive = new Map<number, boolean>();
    for (let i = 0; i < count; i++) {
      const tgid = keys.readUInt32LE(i * this.#socks.info.keySize);
      let a = alive.get(tgid);
      if (a === undefined) {
        a = existsSync(`/proc/${tgid}`);
        alive.set(tgid, a);
      }
      if (!a) gone.push(i);
    }
    if (gone.length) {
      const ks = this.#socks.info.keySize;
      const kb = Buffer.alloc(gone.length * ks);
      gone.forEach((i, j) => keys.copy(kb, j * ks, i * ks, (i + 1) * ks));
      const { found } = this.#socks.take(kb);
      for (const f of found) if (f) this.socketsOfExitedProcesses++;
    }
    this.dnsSockets = count - gone.length;
  }

  async #flush(start: number): Promise<void> {
    this.poll();
    this.tracker.sweep();
    try {
      this.sweepSockets();
    } catch (e) {
      this.#opts.onError?.(e);
    }
    if (this.#agg.empty) return;
    const w = this.#agg.take(start, this.#opts.windowSeconds, this.#opts.host);
    this.recordsFolded += w.folded;
    try {
      await this.#opts.onWindow(w);
      this.windowsFlushed++;
    } catch (e) {
      this.windowErrors++;
      this.#opts.onError?.(e);
    }
  }

  /** Kernel-side losses since load. */
  losses(): Record<(typeof DNS_STATS)[number], bigint> {
    return readPerCpuCounters(this.#stats, DNS_STATS);
  }

  stats(): Record<string, number> {
    const l = this.losses();
    return {
      ...this.tracker.stats,
      inFlight: this.tracker.inFlight,
      decodeErrors: this.decodeErrors,
      handleErrors: this.handleErrors,
      recordsFolded: this.recordsFolded,
      windowsFlushed: this.windowsFlushed,
      windowErrors: this.windowErrors,
      ringbufFull: Number(l.ringbufFull),
      argsMapFull: Number(l.argsMapFull),
      sockRegisterFailed: Number(l.sockRegisterFailed),
      messagesNotRead: Number(l.messagesNotRead),
      dnsSockets: this.dnsSockets,
      socketsOfExitedProcesses: this.socketsOfExitedProcesses,
    };
  }

  async stop(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    this.#schedule.stop();
    await this.flush();
    this.bpf.close();
  }
}
