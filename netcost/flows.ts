/* Network flows per window: the TCP collector's per-connection deltas named (application, peer and the
 * peer's application when the other end is on this kernel), classified by the zones of both ends, and
 * summed per (app, container, direction, peer address, service port, peer app, class) per window. */
import type { EgressShare } from '../profiler/sampler.js';
import { LRUCache } from 'lru-cache';
import type { Collector, CollectorHealth, EndedWindow, WindowEnvelope } from '../pipeline/contracts.js';
import { windowStart } from '../pipeline/scheduler.js';
import type { HostIdentity } from '../host/identity.js';
import { Classifier, type TrafficClass } from './classify.js';
import { TcpCollector, type TcpDelta } from './tcp-collector.js';

export type Direction = 'outbound' | 'inbound' | 'unknown';

export interface FlowRow {
  app: string;
  containerId: string;
  direction: Direction;
  localAddress: string;
  peerAddress: string;
  /** the service port: the peer's for outbound connections, ours for inbound ones */
  port: number;
  peerApp: string;
  class: TrafficClass;
  /** an outbound internet connection from a subnet the zones file routes through a NAT gateway */
  viaNat: boolean;
  localZone: string;
  peerZone: string;
  region: string;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  connections: number;
  failedConnects: number;
}

export interface FlowWindow {
  start: number;
  seconds: number;
  host: string;
  rows: FlowRow[];
}

/** Addresses of cloud metadata services: their sockets are the platform's, never an application's. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254']);

/** Caps the distinct flow keys of one window; the rest are summed into one `~other` peer per app. */
const MAX_ROWS_PER_WINDOW = 20_000;

export interface FlowCollectorOptions {
  windowSeconds: number;
  classifier: Classifier;
  identity: HostIdentity;
  host: string;
  maxConnections?: number;
  /** egress stacks: the profiler's maps (its sampler's egressShare()) */
  egress?: EgressShare | null;
  onError?: (e: unknown) => void;
}

export interface FlowStats {
  collects: number;
  connectionsSeen: number;
  /** connections whose local end is the outside world (an internet CIDR) or a metadata service */
  externalSkipped: number;
  /** flows summed into `~other` because a window had too many distinct flow keys */
  rowsFolded: number;
  /** connection deltas of processes outside the agent's --cgroup, left out (host/scope.ts) */
  outOfScope: number;
  connsMapFull: number;
  closedMapFull: number;
}

export class FlowCollector implements Collector {
  readonly name = 'tcp';
  readonly tcp: TcpCollector;
  readonly #opts: FlowCollectorOptions;
  readonly #host: string;
  /** 4-tuple "local|remote" → app of the socket that has it: the peer of the reverse tuple */
  readonly #endpoints = new LRUCache<string, string>({ max: 131_072 });
  #windows = new Map<number, Map<string, FlowRow>>();
  #running: Promise<void> | null = null;
  readonly #stats: Omit<FlowStats, 'connsMapFull' | 'closedMapFull'> = { collects: 0, connectionsSeen: 0, externalSkipped: 0, rowsFolded: 0, outOfScope: 0 };

  constructor(opts: FlowCollectorOptions) {
    this.#opts = opts;
    this.#host = opts.host;
    this.tcp = new TcpCollector({ maxConnections: opts.maxConnections, egress: opts.egress });
  }

  start(): void {}

  /** On the scheduler's clock (every second): closed connections drained (their map holds 65,536, so
   *  this keeps up with 65,536 closes a second; past that they are counted as closed_map_full) and
   *  open ones read. */
  poll(): Promise<void> {
    return this.tick();
  }

  tick(): Promise<void> {
    if (!this.#running) this.#running = this.#tick().finally(() => (this.#running = null));
    return this.#running;
  }

  async #tick(): Promise<void> {
    try {
      this.collectOnce(Date.now() / 1000);
    } catch (e) {
      this.#opts.onError?.(e);
    }
  }

  /** Reads the kernel's counters once and adds them to the window `nowSec` falls in. */
  collectOnce(nowSec: number): void {
    let deltas = this.tcp.collect();
    this.#stats.collects++;
    if (this.#opts.identity.scope) {
      const all = deltas.length;
      deltas = deltas.filter((d) => this.#opts.identity.inScope(d.cgroupId));
      this.#stats.outOfScope += all - deltas.length;
    }
    const named = deltas.map((d) => ({ d, app: this.#external(d) ? null : this.#opts.identity.appOf(d) }));
    for (const { d, app } of named) if (app) this.#endpoints.set(tuple(d.localAddress, d.localPort, d.remoteAddress, d.remotePort), app.app);
    const start = windowStart(nowSec, this.#opts.windowSeconds);
    let rows = this.#windows.get(start);
    if (!rows) this.#windows.set(start, (rows = new Map()));
    for (const { d, app } of named) {
      if (!app) {
        this.#stats.externalSkipped++;
        continue;
      }
      this.#stats.connectionsSeen += d.opened ? 1 : 0;
      this.#add(rows, d, app);
    }
  }

  /** The local end is not an application of the fleet: a simulated or real outside peer, a metadata service. */
  #external(d: TcpDelta): boolean {
    if (METADATA_ADDRESSES.has(d.localAddress)) return true;
    return this.#opts.classifier.isDeclaredInternet(d.localAddress);
  }

  #add(rows: Map<string, FlowRow>, d: TcpDelta, app: { app: string; containerId: string }): void {
    const c = this.#opts.classifier.classify(d.localAddress, d.remoteAddress);
    const direction: Direction = d.inbound ? 'inbound' : d.established ? 'outbound' : 'unknown';
    const port = d.inbound ? d.localPort : d.remotePort;
    const peerApp = this.#endpoints.get(tuple(d.remoteAddress, d.remotePort, d.localAddress, d.localPort)) ?? '';
    const viaNat = c.class === 'internet' && direction === 'outbound' && this.#opts.classifier.viaNat(d.localAddress);
    const keyOf = (peer: string, p: number | '', pApp: string) => `${app.app}\0${app.containerId}\0${direction}\0${peer}\0${p}\0${pApp}\0${c.class}\0${viaNat ? 1 : 0}`;
    let key = keyOf(d.remoteAddress, port, peerApp);
    let peerAddress = d.remoteAddress;
    let rowPort = port;
    if (!rows.has(key) && rows.size >= MAX_ROWS_PER_WINDOW) {
      this.#stats.rowsFolded++;
      peerAddress = '~other';
      rowPort = 0;
      key = keyOf('~other', '', '');
    }
    let row = rows.get(key);
    if (!row) {
      row = {
        app: app.app,
        containerId: app.containerId,
        direction,
        localAddress: d.localAddress,
        peerAddress,
        port: rowPort,
        peerApp: peerAddress === '~other' ? '' : peerApp,
        class: c.class,
        viaNat,
        localZone: c.local.zone?.id ?? '',
        peerZone: c.remote.zone?.id ?? '',
        region: c.local.zone?.region ?? '',
        bytesSent: 0,
        bytesReceived: 0,
        retransmits: 0,
        connections: 0,
        failedConnects: 0,
      };
      rows.set(key, row);
    }
    row.bytesSent += d.bytesSent;
    row.bytesReceived += d.bytesReceived;
    row.retransmits += d.retransmits;
    if (d.opened && !d.failed) row.connections++;
    if (d.failed) row.failedConnects++;
  }

  /** Collects once more, then hands over every window that ended by the end of `ended` (all when final). */
  async closeWindows(ended: EndedWindow, final: boolean): Promise<WindowEnvelope[]> {
    await this.tick();
    const out: WindowEnvelope[] = [];
    for (const [start, rows] of [...this.#windows].sort((a, b) => a[0] - b[0])) {
      if (!final && start + this.#opts.windowSeconds > ended.start + ended.seconds) continue;
      this.#windows.delete(start);
      if (rows.size > 0) out.push({ kind: 'netflow', start, seconds: this.#opts.windowSeconds, host: this.#host, rows: [...rows.values()] });
    }
    return out;
  }

  /** Stops collecting (after the scheduler's final closeWindows). */
  async stop(): Promise<void> {
    await this.#running;
    this.#finalLosses = this.tcp.losses();
    this.tcp.close();
  }

  health(): CollectorHealth {
    const s = this.stats();
    return {
      status: { ...s },
      losses: { conns_map_full: s.connsMapFull, closed_map_full: s.closedMapFull },
      programs: this.#finalLosses ? [] : this.tcp.bpf.progStats(),
    };
  }

  #finalLosses: ReturnType<TcpCollector['losses']> | undefined;

  stats(): FlowStats {
    const l = this.#finalLosses ?? this.tcp.losses();
    return { ...this.#stats, connsMapFull: Number(l.connsMapFull), closedMapFull: Number(l.closedMapFull) };
  }
}

function tuple(la: string, lp: number, ra: string, rp: number): string {
  return `${la}:${lp}|${ra}:${rp}`;
}
