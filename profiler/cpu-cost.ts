/* What CPU time costs (ARCHITECTURE.md "Dollars per function"): a price per core-hour, from the
 * operator (--cpu-price-usd-per-core-hour: on-premises, reserved, spot) or from the instance type cloud
 * metadata names and a bundled, dated on-demand snapshot (profiler/cpu-prices/), turned into dollars for a
 * range, the month's projection at that range's rate, and integer micro-dollars for pprof. Every figure
 * carries what it was computed from (CPU seconds, unit price, unit, instance type, price source), so it
 * can be checked by hand like a network-cost row. */

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The month a projection is for: AWS prices a month as 730 hours. */
export const HOURS_PER_MONTH = 730;

export interface CpuPrice {
  usdPerCoreHour: number;
  /** the instance type priced, or '' when the price is the operator's */
  instanceType: string;
  /** where the unit price comes from */
  source: string;
}

export interface CpuCost {
  cpu_seconds: number;
  usd: number;
  /** the range's spending rate held for a month (HOURS_PER_MONTH) */
  usd_per_month: number;
  range_seconds: number;
  unit_price: number;
  unit: 'USD per core-hour';
  instance_type: string;
  price_source: string;
}

/** The operator's price; throws a one-line reason for a value that is no price. */
export function operatorCpuPrice(text: string): CpuPrice {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(v) || v <= 0 || v > 1000) {
    throw new Error(`--cpu-price-usd-per-core-hour must be a price in US dollars above 0 and at most 1000, got "${text}"`);
  }
  return { usdPerCoreHour: v, instanceType: '', source: '--cpu-price-usd-per-core-hour (set by the operator)' };
}

export function usdOf(cpuNs: number, price: CpuPrice): number {
  return (cpuNs / 3.6e12) * price.usdPerCoreHour;
}

/** pprof's cost sample value: integer micro-dollars of this much CPU time. */
export function microDollars(cpuNs: number, price: CpuPrice): number {
  return Math.round(usdOf(cpuNs, price) * 1e6);
}

/** The cost of `cpuNs` of CPU time spent over a range of `rangeSeconds`. */
export function cpuCost(cpuNs: number, rangeSeconds: number, price: CpuPrice): CpuCost {
  const usd = usdOf(cpuNs, price);
  return {
    cpu_seconds: round(cpuNs / 1e9, 6),
    usd: round(usd, 9),
    usd_per_month: rangeSeconds > 0 ? round((usd * HOURS_PER_MONTH * 3600) / rangeSeconds, 6) : 0,
    range_seconds: rangeSeconds,
    unit_price: price.usdPerCoreHour,
    unit: 'USD per core-hour',
    instance_type: price.instanceType,
    price_source: price.source,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A bundled snapshot of instance prices (profiler/cpu-prices/snapshot-PROVIDER-*.json). */
export interface InstancePriceSnapshot {
  provider: string;
  as_of: string;
  source: string;
  unit: string;
  regions: Record<string, Record<string, { usd_per_hour: number; vcpus: number }>>;
}

export const BUNDLED_CPU_PRICES = join(dirname(fileURLToPath(import.meta.url)), '../../profiler/cpu-prices');

export function loadInstancePrices(path = join(BUNDLED_CPU_PRICES, 'snapshot-aws-ec2.json')): InstancePriceSnapshot {
  return JSON.parse(readFileSync(path, 'utf8')) as InstancePriceSnapshot;
}

/** Where `kiln pricing refresh` writes the EC2 instance prices it fetched. */
export function refreshedInstancePricesPath(dataDir: string): string {
  return join(dataDir, 'pricing', 'snapshot-aws-ec2.json');
}

/** The refreshed instance prices when there are some no older than the bundled ones, else the bundled. */
export function currentInstancePrices(dataDir?: string): InstancePriceSnapshot {
  const bundled = loadInstancePrices();
  if (!dataDir || !existsSync(refreshedInstancePricesPath(dataDir))) return bundled;
  try {
    const refreshed = loadInstancePrices(refreshedInstancePricesPath(dataDir));
    return refreshed.as_of >= bundled.as_of ? refreshed : bundled;
  } catch {
    return bundled; // unreadable: the bundled prices, as if never refreshed
  }
}

/** The price of a core-hour of this instance type: its on-demand hourly price over its vCPUs; null
 *  when the snapshot does not have it (another provider, region or type: set the operator's price). */
export function instanceCpuPrice(where: { provider: string; region: string; instanceType?: string }, snapshot: InstancePriceSnapshot): CpuPrice | null {
  if (!where.instanceType || where.provider !== snapshot.provider) return null;
  const p = snapshot.regions[where.region]?.[where.instanceType];
  if (!p || !(p.vcpus > 0) || !(p.usd_per_hour > 0)) return null;
  return {
    usdPerCoreHour: p.usd_per_hour / p.vcpus,
    instanceType: where.instanceType,
    source: `${where.instanceType} in ${where.region}: ${p.usd_per_hour} USD per instance-hour over ${p.vcpus} vCPUs; ${snapshot.source} (as of ${snapshot.as_of})`,
  };
}
