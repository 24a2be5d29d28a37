/* DNS query records → rows per window: application × domain × qtype, with counts per outcome and a
 * mergeable latency sketch (DDSketch bins, 1% relative accuracy: any range of windows merges by summing
 * bins, so percentiles over hours are as exact as over one window).
 * Cardinality is bounded: per application the top N domains by requests keep their name, the rest are
 * rolled into `~other` (during the window too: at most 4N distinct domains per app are held). */
import { DDSketch } from '@datadog/sketches-js';
import type { DnsQueryRecord, DnsStatus, DnsTransport } from './tracker.js';

export const OTHER_DOMAIN = '~other';

const mapping = new DDSketch({ relativeAccuracy: 0.01 }).mapping;

/** The sketch bin of a latency in milliseconds. */
export function latencyBin(ms: number): number {
  return mapping.key(Math.max(ms, 1e-3));
}

/** Quantiles (ms) of latency bins; null when there are none. */
export function binQuantiles(bins: Map<number, number>, qs: number[]): (number | null)[] {
  if (bins.size === 0) return qs.map(() => null);
  const s = new DDSketch({ relativeAccuracy: 0.01 });
  for (const [k, n] of bins) if (n > 0) s.accept(mapping.value(k), n);
  return qs.map((q) => s.getValueAtQuantile(q));
}

/** The representative latency (ms) of a bin. */
export function binValueMs(bin: number): number {
  return mapping.value(bin);
}

export interface DnsCounts {
  requests: number;
  noerror: number;
  nxdomain: number;
  servfail: number;
  refused: number;
  otherErrors: number;
  /** NOERROR with no answer records */
  noAnswer: number;
  timeouts: number;
  /** the nameserver's host answered ICMP port unreachable: the client failed at once */
  unreachable: number;
}

export interface DnsRow extends DnsCounts {
  app: string;
  containerId: string;
  domain: string;
  qtype: string;
  /** latency sketch bins (answered queries only) */
  latency: Map<number, number>;
  latencySumMs: number;
  nameservers: string[];
  transports: DnsTransport[];
}

export interface DnsWindow {
  start: number;
  seconds: number;
  host: string;
  rows: DnsRow[];
  /** queries whose domain was rolled into ~other */
  folded: number;
}

interface Acc extends DnsCounts {
  latency: Map<number, number>;
  latencySumMs: number;
  nameservers: Set<string>;
  transports: Set<DnsTransport>;
}

const emptyAcc = (): Acc => ({ requests: 0, noerror: 0, nxdomain: 0, servfail: 0, refused: 0, otherErrors: 0, noAnswer: 0, timeouts: 0, unreachable: 0, latency: new Map(), latencySumMs: 0, nameservers: new Set(), transports: new Set() });

const COUNT_OF: Record<DnsStatus, keyof DnsCounts> = { noerror: 'noerror', nxdomain: 'nxdomain', servfail: 'servfail', refused: 'refused', other: 'otherErrors', timeout: 'timeouts', unreachable: 'unreachable' };

function mergeInto(a: Acc, b: Acc): void {
  for (const k of ['requests', 'noerror', 'nxdomain', 'servfail', 'refused', 'otherErrors', 'noAnswer', 'timeouts', 'unreachable'] as const) a[k] += b[k];
  for (const [bin, n] of b.latency) a.latency.set(bin, (a.latency.get(bin) ?? 0) + n);
  a.latencySumMs += b.latencySumMs;
  for (const x of b.nameservers) if (a.nameservers.size < 8) a.nameservers.add(x);
  for (const x of b.transports) a.transports.add(x);
}

interface AppAcc {
  containerId: string;
  /** domain → qtype → counts */
  domains: Map<string, Map<string, Acc>>;
  folded: number;
}

export class DnsAggregator {
  #apps = new Map<string, AppAcc>();

  constructor(readonly topDomains = 100) {}

  add(r: DnsQueryRecord): void {
    let a = this.#apps.get(r.app);
    if (!a) {
      a = { containerId: r.containerId, domains: new Map(), folded: 0 };
      this.#apps.set(r.app, a);
    }
    let domain = r.domain;
    if (!a.domains.has(domain) && a.domains.size >= 4 * this.topDomains) {
      domain = OTHER_DOMAIN;
      a.folded++;
    }
    let byType = a.domains.get(domain);
    if (!byType) a.domains.set(domain, (byType = new Map()));
    let acc = byType.get(r.qtype);
    if (!acc) byType.set(r.qtype, (acc = emptyAcc()));
    acc.requests++;
    acc[COUNT_OF[r.status]]++;
    if (r.status === 'noerror' && r.answers === 0) acc.noAnswer++;
    // the sketch is of answers: an unreachable server's quick failure is no answer time
    if (r.latencyNs !== null && r.status !== 'unreachable') {
      const ms = r.latencyNs / 1e6;
      const bin = latencyBin(ms);
      acc.latency.set(bin, (acc.latency.get(bin) ?? 0) + 1);
      acc.latencySumMs += ms;
    }
    if (r.nameserver && acc.nameservers.size < 8) acc.nameservers.add(r.nameserver);
    acc.transports.add(r.transport);
  }

  get empty(): boolean {
    return this.#apps.size === 0;
  }

  /** The window's rows (top N domains per app, the rest as ~other), and a fresh start. */
  take(start: number, seconds: number, host: string): DnsWindow {
    const rows: DnsRow[] = [];
    let folded = 0;
    for (const [app, a] of this.#apps) {
      const total = (m: Map<string, Acc>) => [...m.values()].reduce((s, x) => s + x.requests, 0);
      const ranked = [...a.domains].filter(([d]) => d !== OTHER_DOMAIN).sort((x, y) => total(y[1]) - total(x[1]) || (x[0] < y[0] ? -1 : 1));
      const other = a.domains.get(OTHER_DOMAIN) ?? new Map<string, Acc>();
      folded += a.folded;
      for (const [, byType] of ranked.slice(this.topDomains)) {
        for (const [qtype, acc] of byType) {
          let o = other.get(qtype);
          if (!o) other.set(qtype, (o = emptyAcc()));
          mergeInto(o, acc);
          folded += acc.requests;
        }
      }
      const keep = ranked.slice(0, this.topDomains);
      if (other.size) keep.push([OTHER_DOMAIN, other]);
      for (const [domain, byType] of keep)
        for (const [qtype, acc] of byType)
          rows.push({
            app,
            containerId: a.containerId,
            domain,
            qtype,
            requests: acc.requests,
            noerror: acc.noerror,
            nxdomain: acc.nxdomain,
            servfail: acc.servfail,
            refused: acc.refused,
            otherErrors: acc.otherErrors,
            noAnswer: acc.noAnswer,
            timeouts: acc.timeouts,
            unreachable: acc.unreachable,
            latency: acc.latency,
            latencySumMs: acc.latencySumMs,
            nameservers: [...acc.nameservers],
            transports: [...acc.transports],
          });
    }
    this.#apps = new Map();
    return { start, seconds, host, rows, folded };
  }
}
