/* Prices from a snapshot (bundled in netcost/pricing/, or refreshed from the AWS Price List API), and
 * tiered pricing applied to a month's cumulative volume per account and region, not per flow. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const flat = z.object({ usd_per_unit: z.number().nonnegative(), note: z.string().optional() });
/** Cross-AZ: AWS bills both directions at each end; GCP bills the sender only. */
const crossAz = flat.extend({ billed: z.enum(['egress', 'egress+ingress']).default('egress+ingress') });
const tiered = z.object({
  free_units_per_month: z.number().nonnegative().default(0),
  tiers: z.array(z.object({ name: z.string(), up_to_units: z.number().positive().nullable(), usd_per_unit: z.number().nonnegative() })).min(1),
});

export const snapshotSchema = z.object({
  snapshot: z.string().min(1),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  provider: z.enum(['aws', 'gcp', 'azure']),
  currency: z.literal('USD'),
  source: z.string().min(1),
  pricing_unit: z.string(),
  pricing_unit_bytes: z.number().positive(),
  regions: z.record(
    z.string(),
    z.object({
      'cross-az': crossAz.optional(),
      'cross-region': flat.optional(),
      'internet-egress': tiered.optional(),
      'internet-ingress': flat.optional(),
      'same-zone': flat.optional(),
      'nat-gateway-processing': flat.optional(),
    }),
  ),
});

export type PriceSnapshot = z.output<typeof snapshotSchema>;
export type TieredPrice = z.output<typeof tiered>;

export function loadSnapshot(path: string): PriceSnapshot {
  const r = snapshotSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!r.success) throw new Error(`${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

export interface TierSegment {
  tier: string;
  /** units (e.g. GB) of this volume billed in this tier */
  units: number;
  usdPerUnit: number;
  usd: number;
}

/**
 * Splits `units` of usage into tier segments, given the units already used earlier in the same
 * month (same account and region). A free monthly allowance comes before the first tier.
 */
export function tierSegments(price: TieredPrice, usedBeforeUnits: number, units: number): TierSegment[] {
  const bands: { name: string; from: number; to: number; usd: number }[] = [];
  let from = 0;
  if (price.free_units_per_month > 0) {
    bands.push({ name: 'free allowance', from: 0, to: price.free_units_per_month, usd: 0 });
    from = price.free_units_per_month;
  }
  for (const t of price.tiers) {
    const to = t.up_to_units ?? Infinity;
    if (to > from) bands.push({ name: t.name, from, to, usd: t.usd_per_unit });
    from = Math.max(from, to);
  }
  const out: TierSegment[] = [];
  const start = usedBeforeUnits;
  const end = usedBeforeUnits + units;
  for (const b of bands) {
    const lo = Math.max(start, b.from);
    const hi = Math.min(end, b.to);
    if (hi > lo) out.push({ tier: b.name, units: hi - lo, usdPerUnit: b.usd, usd: (hi - lo) * b.usd });
  }
  return out;
}

export interface Allocation<K> {
  key: K;
  tier: string;
  units: number;
  usdPerUnit: number;
  usd: number;
}

/**
 * Prices a month's usage of several consumers (apps) together, since the tiers apply to the account's
 * total, and allocates every tier segment to the consumers in proportion to their share of the volume.
 * Each row is auditable on its own (units × unit price) and the rows sum to the tiered total.
 */
export function allocateTiered<K>(price: TieredPrice, usedBeforeUnits: number, usage: { key: K; units: number }[]): Allocation<K>[] {
  const total = usage.reduce((s, u) => s + u.units, 0);
  if (total <= 0) return [];
  const out: Allocation<K>[] = [];
  for (const seg of tierSegments(price, usedBeforeUnits, total)) {
    for (const u of usage) {
      if (u.units <= 0) continue;
      const units = (seg.units * u.units) / total;
      out.push({ key: u.key, tier: seg.tier, units, usdPerUnit: seg.usdPerUnit, usd: units * seg.usdPerUnit });
    }
  }
  return out;
}

/** netcost/pricing/ in the repository (this file runs from dist/netcost/). */
export const BUNDLED_PRICING_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../netcost/pricing');

/** Where `kiln pricing refresh` keeps what it fetched. */
export function refreshedSnapshotPath(dataDir: string, provider: string): string {
  return join(dataDir, 'pricing', `snapshot-${provider}.json`);
}

/**
 * The price snapshot used for `provider`: a refreshed one in the data directory when it exists and is
 * not older than the bundled one, else the bundled one; null when Kiln has no prices for the provider.
 */
export function currentSnapshot(provider: string, dataDir: string): PriceSnapshot | null {
  const bundledPath = join(BUNDLED_PRICING_DIR, `snapshot-${provider}.json`);
  const bundled = existsSync(bundledPath) ? loadSnapshot(bundledPath) : null;
  const refreshedPath = refreshedSnapshotPath(dataDir, provider);
  const refreshed = existsSync(refreshedPath) ? loadSnapshot(refreshedPath) : null;
  if (refreshed && (!bundled || refreshed.date >= bundled.date)) return refreshed;
  return bundled;
}
