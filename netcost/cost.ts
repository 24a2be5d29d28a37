/* Prices network usage from a snapshot, the way the cloud bills it:
 * - cross-AZ: on AWS bytes in each direction are billed (both ends pay: each host's sent and received);
 *   on GCP the sender pays (the snapshot's `billed`); Azure does not bill it (price 0);
 * - cross-region: the sending side pays; received bytes are billed to the other region's sender;
 * - internet: egress is tiered on the month's cumulative volume of the account and region, and each
 *   tier segment is allocated to applications by their share; ingress is free;
 * - same host, same zone: free. Unknown private peers: not priced (marked so), never guessed;
 * - NAT gateway: outbound internet connections from subnets the zones file routes through one also pay
 *   data processing on every byte, both directions. That is a row of its own (charge
 *   `nat-gateway-processing`) carrying billed bytes only, so bytes still sum to the traffic over rows.
 * Every row is auditable by hand: cost_usd = billed_bytes / pricing_unit_bytes × unit_price_usd. */
import type { TrafficClass } from './classify.js';
import type { GroupBy, NetcostRepository } from '../store/tables/net-flows.js';
import type { TimeRange } from '../store/sql.js';
import { allocateTiered, type PriceSnapshot } from './pricing.js';

export interface UsageRow {
  /** YYYY-MM of the traffic (tiers restart every month) */
  month: string;
  region: string;
  class: TrafficClass;
  /** the grouping columns (app, or peer columns), passed through to the cost rows */
  group: Record<string, string | number>;
  bytesSent: number;
  bytesReceived: number;
  /** bytes (both directions) of outbound internet connections through a NAT gateway */
  natBytes?: number;
}

export type Charge = 'data-transfer' | 'nat-gateway-processing';

export interface CostRow {
  group: Record<string, string | number>;
  month: string;
  region: string;
  class: TrafficClass;
  /** what is billed: data transfer, or a NAT gateway's data processing of this traffic */
  charge: Charge;
  bytes_sent: number;
  bytes_received: number;
  /** the bytes this row's price applies to (a share of them, for a tier segment) */
  billed_bytes: number;
  billed_direction: 'none' | 'egress' | 'egress+ingress';
  cost_usd: number;
  unit_price_usd: number;
  pricing_unit: string;
  pricing_unit_bytes: number;
  tier: string;
  price_source: string;
}

export interface PricingContext {
  snapshot: PriceSnapshot | null;
  /** internet egress bytes of the month before the range, per `${month}|${region}` (tier position) */
  egressBefore: Map<string, number>;
}

const BILLED: Record<TrafficClass, CostRow['billed_direction']> = {
  'same-host': 'none',
  'same-zone': 'none',
  'cross-az': 'egress+ingress',
  'cross-region': 'egress',
  internet: 'egress',
  unknown: 'none',
};

const NO_REGION = 'unpriced: this host has no region (zones file or cloud metadata)';

export function priceUsage(rows: UsageRow[], ctx: PricingContext): CostRow[] {
  const snap = ctx.snapshot;
  const unit = snap?.pricing_unit ?? 'GB';
  const unitBytes = snap?.pricing_unit_bytes ?? 2 ** 30;
  const source = (region: string) => (snap ? `${snap.snapshot} (${snap.source}; ${region || 'no region'})` : 'none');
  const out: CostRow[] = [];
  const base = (r: UsageRow) => ({ group: r.group, month: r.month, region: r.region, class: r.class, charge: 'data-transfer' as Charge, bytes_sent: r.bytesSent, bytes_received: r.bytesReceived, pricing_unit: unit, pricing_unit_bytes: unitBytes, price_source: source(r.region), billed_direction: BILLED[r.class] });
  const free = (r: UsageRow, tier: string): CostRow => ({ ...base(r), billed_bytes: 0, cost_usd: 0, unit_price_usd: 0, tier });

  // internet egress is priced per (month, region) as a whole, then allocated
  const internet = new Map<string, UsageRow[]>();
  for (const r of rows) {
    const prices = snap?.regions[r.region];
    if (r.natBytes) {
      const nat = prices?.['nat-gateway-processing'];
      const row = { ...base(r), charge: 'nat-gateway-processing' as Charge, bytes_sent: 0, bytes_received: 0, billed_direction: 'egress+ingress' as const };
      if (nat) out.push({ ...row, billed_bytes: r.natBytes, cost_usd: (r.natBytes / unitBytes) * nat.usd_per_unit, unit_price_usd: nat.usd_per_unit, tier: 'flat' });
      else out.push({ ...row, billed_bytes: 0, cost_usd: 0, unit_price_usd: 0, tier: r.region ? `unpriced: no NAT gateway price for ${r.region}` : NO_REGION });
    }
    if (r.class === 'same-host' || r.class === 'same-zone') {
      out.push({ ...free(r, 'free'), unit_price_usd: prices?.['same-zone']?.usd_per_unit ?? 0 });
    } else if (r.class === 'unknown') {
      out.push(free(r, 'unpriced: peer location unknown (add its CIDR to the zones file)'));
    } else if (!prices) {
      out.push(free(r, r.region ? `unpriced: no ${snap?.provider ?? ''} price for region ${r.region}` : NO_REGION));
    } else if (r.class === 'cross-az' || r.class === 'cross-region') {
      const p = prices[r.class];
      if (!p) {
        out.push(free(r, `unpriced: no ${r.class} price for ${r.region}`));
        continue;
      }
      const direction = r.class === 'cross-az' ? prices['cross-az']!.billed : 'egress';
      const billed = direction === 'egress+ingress' ? r.bytesSent + r.bytesReceived : r.bytesSent;
      out.push({ ...base(r), billed_direction: direction, billed_bytes: billed, cost_usd: (billed / unitBytes) * p.usd_per_unit, unit_price_usd: p.usd_per_unit, tier: 'flat' });
    } else {
      const k = `${r.month}|${r.region}`;
      internet.set(k, [...(internet.get(k) ?? []), r]);
    }
  }
  for (const [k, group] of internet) {
    const [month, region] = k.split('|');
    const prices = snap!.regions[region]!;
    const egress = prices['internet-egress'];
    const ingressUsd = prices['internet-ingress']?.usd_per_unit ?? 0;
    for (const r of group) if (r.bytesSent === 0) out.push({ ...free(r, 'ingress'), unit_price_usd: ingressUsd });
    if (!egress) {
      for (const r of group) if (r.bytesSent > 0) out.push(free(r, `unpriced: no internet egress price for ${region}`));
      continue;
    }
    const before = (ctx.egressBefore.get(`${month}|${region}`) ?? 0) / unitBytes;
    const usage = group.filter((r) => r.bytesSent > 0).map((r) => ({ key: r, units: r.bytesSent / unitBytes }));
    for (const a of allocateTiered(egress, before, usage)) {
      // a group whose egress spans two tiers gets a row per tier; its bytes are split the same way,
      // so bytes sum exactly over the rows
      const share = (a.units * unitBytes) / a.key.bytesSent;
      out.push({ ...base(a.key), bytes_sent: a.key.bytesSent * share, bytes_received: a.key.bytesReceived * share, billed_bytes: a.units * unitBytes, cost_usd: a.usd, unit_price_usd: a.usdPerUnit, tier: a.tier });
    }
  }
  return out;
}

/** The unix-second range [from, to) of a month given as YYYY-MM (UTC). */
export function monthRange(month: string): { from: number; to: number } {
  const [y, m] = month.split('-').map(Number);
  return { from: Date.UTC(y, m - 1, 1) / 1000, to: Date.UTC(y, m, 1) / 1000 };
}

/** The most months one range may span (all that DateTime holds: 1970 to 2106): a bound by construction on the loop below. */
export const MAX_MONTHS = 1700;

/** Months (YYYY-MM, UTC) overlapping [from, to), each with its part of the range. Throws a RangeError
 *  for a range that is not finite or spans more than MAX_MONTHS. */
export function monthsOf(from: number, to: number): { month: string; start: number; end: number; monthStart: number }[] {
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new RangeError(`months of a range need finite times, got ${from} to ${to}`);
  const out: { month: string; start: number; end: number; monthStart: number }[] = [];
  if (from >= to) return out;
  const a = new Date(from * 1000);
  const b = new Date(to * 1000);
  const first = a.getUTCFullYear() * 12 + a.getUTCMonth();
  const last = b.getUTCFullYear() * 12 + b.getUTCMonth();
  if (!Number.isFinite(first) || !Number.isFinite(last)) throw new RangeError(`months of a range need representable dates, got ${from} to ${to}`);
  if (last - first + 1 > MAX_MONTHS) throw new RangeError(`a range of ${last - first + 1} months is more than ${MAX_MONTHS}`);
  for (let i = first; i <= last; i++) {
    const y = Math.floor(i / 12);
    const m = i % 12;
    const monthStart = Date.UTC(y, m, 1) / 1000;
    const next = Date.UTC(y, m + 1, 1) / 1000;
    if (monthStart >= to) break;
    out.push({ month: `${y}-${String(m + 1).padStart(2, '0')}`, start: Math.max(from, monthStart), end: Math.min(to, next), monthStart });
  }
  return out;
}

/** Cost rows over a range: the stored usage priced here, where the month's tiers stand. */
export async function costOf(flows: NetcostRepository, range: TimeRange, groupBy: GroupBy, snapshot: PriceSnapshot | null, app?: string): Promise<CostRow[]> {
  const [usage, egressBefore] = await Promise.all([flows.usage(range, groupBy, app), flows.egressBefore(range)]);
  return priceUsage(usage, { snapshot, egressBefore });
}

/**
 * Cost per app over time (buckets of `step` seconds), for the UI chart: one usage query for all
 * buckets; each bucket is priced where the month's tiers stand after the buckets before it.
 */
export async function costSeries(flows: NetcostRepository, range: TimeRange, step: number, snapshot: PriceSnapshot | null): Promise<{ t: number; app: string; cost_usd: number }[]> {
  const [usage, egressBefore] = await Promise.all([flows.usage(range, 'app', undefined, step), flows.egressBefore(range)]);
  const buckets = new Map<number, UsageRow[]>();
  for (const u of usage) buckets.set(u.bucket, [...(buckets.get(u.bucket) ?? []), u]);
  const out: { t: number; app: string; cost_usd: number }[] = [];
  for (const [bucket, rows] of [...buckets].sort((a, b) => a[0] - b[0])) {
    const byApp = new Map<string, number>();
    for (const r of priceUsage(rows, { snapshot, egressBefore: new Map(egressBefore) })) byApp.set(String(r.group.app), (byApp.get(String(r.group.app)) ?? 0) + r.cost_usd);
    for (const [app, cost] of byApp) out.push({ t: range.from + bucket * step, app, cost_usd: cost });
    for (const r of rows) {
      if (r.class === 'internet') egressBefore.set(`${r.month}|${r.region}`, (egressBefore.get(`${r.month}|${r.region}`) ?? 0) + r.bytesSent);
    }
  }
  return out;
}
