/* What CPU time costs (ARCHITECTURE.md "Dollars per function"): a price per core-hour, from the
 * operator (--cpu-price-usd-per-core-hour: on-premises, reserved, spot), turned into dollars for a
 * range, the month's projection at that range's rate, and integer micro-dollars for pprof. Every figure
 * carries what it was computed from (CPU seconds, unit price, unit, instance type, price source), so it
 * can be checked by hand like a network-cost row. */

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
