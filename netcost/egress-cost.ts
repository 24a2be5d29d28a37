/* Bytes and dollars per code path (ARCHITECTURE.md, "Egress stacks"): the egress stacks' sample points
 * scaled to the exact bytes the TCP collector counted, and priced like the cost rows.
 * - Scaling: per (host, peer address) over the range, a stack's bytes are its share of the points times
 *   the bytes sent to that peer. Totals are then exact; only the split between code paths sending to one
 *   peer is estimated, with the sampling error of its points (Poisson: ±1.96/√points at 95%).
 * - Price: a byte sent to a peer costs what the cost rows of that peer charge for sent bytes (the class's
 *   unit price, the internet tier it fell in, NAT gateway processing), so a code path's dollars add up to
 *   the sent part of the cost rows. */
import type { TrafficClass } from './classify.js';
import type { CostRow } from './cost.js';
import type { EgressStackRow } from '../store/tables/profiles.js';

/** Bytes sent by one application to one peer address from one host over a range (net_flows). */
export interface EgressFlow {
  host: string;
  peer_address: string;
  class: TrafficClass;
  peer_app: string;
  via_nat: boolean;
  bytes_sent: number;
}

export interface PricedEgressStack extends EgressStackRow {
  /** scaled to the exact bytes sent to the peer (or the estimate when none were counted) */
  bytes: number;
  usd: number;
  class: TrafficClass;
  peer_app: string;
  via_nat: boolean;
  /** no exact byte count for this peer in the range: bytes are the sampling estimate, class unknown */
  unmatched: boolean;
}

export interface EgressClassTotal {
  class: TrafficClass;
  bytes: number;
  usd: number;
  /** what one pricing unit costs (the cost rows' own; '' for free and unpriced classes) */
  unit_price_usd: number;
  pricing_unit: string;
  pricing_unit_bytes: number;
  price_source: string;
  tier: string;
}

export interface EgressSummary {
  bytes: number;
  usd: number;
  points: number;
  /** the mean bytes one sample point stands for (the agents' --egress-bytes-per-sample, as drawn) */
  bytes_per_point: number;
  /** bytes the points estimate before scaling: the scaling's check (near `bytes` when nothing is lost) */
  estimated_bytes: number;
  /** relative sampling error (95%) of a code path with all the points: 1.96/√points; a path with a
   *  share p of them has 1.96/√(p·points) */
  relative_error_95: number;
  /** bytes of peers the TCP collector counted nothing for in the range (estimates, class unknown) */
  unmatched_bytes: number;
  classes: EgressClassTotal[];
}

const keyOf = (host: string, peer: string) => `${host}\u0000${peer}`;

/** The sent part of a cost row's dollars. Data transfer billed both ways (cross-AZ on AWS) splits by
 *  bytes; NAT gateway processing (a row of billed bytes only) splits like the data-transfer row of the
 *  same group, passed as `sentShare`. */
function sentCost(r: CostRow, sentShare: number): number {
  if (r.charge === 'nat-gateway-processing') return r.cost_usd * sentShare;
  if (r.billed_direction === 'egress') return r.cost_usd;
  if (r.billed_direction === 'egress+ingress') return r.bytes_sent + r.bytes_received > 0 ? (r.cost_usd * r.bytes_sent) / (r.bytes_sent + r.bytes_received) : 0;
  return 0;
}

/** Dollars per byte sent to each peer address, from the cost rows grouped by peer. */
export function usdPerSentByte(rows: CostRow[]): Map<string, { usdPerByte: number; rows: CostRow[] }> {
  const byGroup = new Map<string, CostRow[]>();
  for (const r of rows) {
    const g = JSON.stringify(r.group);
    byGroup.set(g, [...(byGroup.get(g) ?? []), r]);
  }
  const acc = new Map<string, { usd: number; sent: number; rows: CostRow[] }>();
  for (const group of byGroup.values()) {
    const transfer = group.filter((r) => r.charge === 'data-transfer');
    const sent = transfer.reduce((s, r) => s + r.bytes_sent, 0);
    const both = transfer.reduce((s, r) => s + r.bytes_sent + r.bytes_received, 0);
    const peer = String(group[0].group.peer_address ?? '');
    const a = acc.get(peer) ?? { usd: 0, sent: 0, rows: [] };
    for (const r of group) a.usd += sentCost(r, both > 0 ? sent / both : 0);
    a.sent += sent;
    a.rows.push(...group);
    acc.set(peer, a);
  }
  return new Map([...acc].map(([peer, a]) => [peer, { usdPerByte: a.sent > 0 ? a.usd / a.sent : 0, rows: a.rows }]));
}

/** What a class's dollars are made of, for the audit beside the totals. */
export type ClassAudit = Omit<EgressClassTotal, 'class' | 'bytes' | 'usd'>;

/** Every stack scaled and priced (over all of the application's processes: the scaling needs every
 *  point sent to a peer), with each class's audit. Narrow the result, then summarize() it. */
export function priceEgress(stacks: EgressStackRow[], flows: EgressFlow[], costRows: CostRow[]): { stacks: PricedEgressStack[]; audit: Map<TrafficClass, ClassAudit> } {
  const flowOf = new Map(flows.map((f) => [keyOf(f.host, f.peer_address), f]));
  const estimateOf = new Map<string, number>();
  for (const s of stacks) {
    const k = keyOf(s.host, s.peer_address);
    estimateOf.set(k, (estimateOf.get(k) ?? 0) + s.estimated_bytes);
  }
  const prices = usdPerSentByte(costRows);
  const audit = new Map<TrafficClass, ClassAudit>();
  const out = stacks.map((s): PricedEgressStack => {
    const k = keyOf(s.host, s.peer_address);
    const f = flowOf.get(k);
    const est = estimateOf.get(k) ?? 0;
    const bytes = f && est > 0 ? (s.estimated_bytes / est) * f.bytes_sent : s.estimated_bytes;
    const price = prices.get(s.peer_address);
    const cls: TrafficClass = f?.class ?? 'unknown';
    if (!audit.has(cls)) {
      // the class's audit: the first data-transfer row priced for it
      const row = price?.rows.find((r) => r.class === cls && r.charge === 'data-transfer');
      audit.set(cls, { unit_price_usd: row?.unit_price_usd ?? 0, pricing_unit: row?.pricing_unit ?? '', pricing_unit_bytes: row?.pricing_unit_bytes ?? 0, price_source: row?.price_source ?? 'none', tier: row?.tier ?? (f ? '' : 'unpriced: no TCP byte count for this peer in the range') });
    }
    return { ...s, bytes, usd: f ? bytes * (price?.usdPerByte ?? 0) : 0, class: cls, peer_app: f?.peer_app ?? '', via_nat: f?.via_nat ?? false, unmatched: !f };
  });
  return { stacks: out, audit };
}

/** Totals of a selection of priced stacks, by class with each class's audit. */
export function summarize(stacks: PricedEgressStack[], audit: Map<TrafficClass, ClassAudit>): EgressSummary {
  const classes = new Map<TrafficClass, EgressClassTotal>();
  const sum: EgressSummary = { bytes: 0, usd: 0, points: 0, bytes_per_point: 0, estimated_bytes: 0, relative_error_95: 0, unmatched_bytes: 0, classes: [] };
  for (const s of stacks) {
    sum.bytes += s.bytes;
    sum.usd += s.usd;
    sum.points += s.points;
    sum.estimated_bytes += s.estimated_bytes;
    if (s.unmatched) sum.unmatched_bytes += s.bytes;
    let c = classes.get(s.class);
    if (!c) {
      c = { class: s.class, bytes: 0, usd: 0, ...audit.get(s.class)! };
      classes.set(s.class, c);
    }
    c.bytes += s.bytes;
    c.usd += s.usd;
  }
  sum.bytes_per_point = sum.points > 0 ? sum.estimated_bytes / sum.points : 0;
  sum.relative_error_95 = sum.points > 0 ? 1.96 / Math.sqrt(sum.points) : 0;
  sum.classes = [...classes.values()].sort((a, b) => b.bytes - a.bytes);
  return sum;
}
