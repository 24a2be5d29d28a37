/* Number formats and chart series shared by the UI pages; free of the DOM so tests run them in Node. */

/** Dollars as a reader expects them: cents from a cent up, else the first significant digits in plain
 *  decimals (never an exponent: `$0.000012`, not `$1.20e-5`). */
export function usd(n: number): string {
  if (n === 0) return '$0';
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  if (a >= 0.01) return `${sign}$${a.toFixed(2)}`;
  const digits = Math.min(12, Math.ceil(-Math.log10(a)) + 2);
  return `${sign}$${a.toFixed(digits).replace(/0+$/, '')}`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** How the UI names traffic no process owned when it was counted (the API's empty application). */
export const UNATTRIBUTED = '(no process)';

export function appLabel(app: string | null | undefined): string {
  return app ? app : UNATTRIBUTED;
}

/**
 * The series a stacked chart can tell apart: the `keep` largest by total get a colour each, the rest
 * are summed into one "N others" series, so no two series share a colour (a palette has `keep` + 1).
 */
export function foldSeries<P extends { app: string; cost_usd: number }>(points: P[], keep: number): { series: string[]; points: P[] } {
  const totals = new Map<string, number>();
  for (const p of points) totals.set(appLabel(p.app), (totals.get(appLabel(p.app)) ?? 0) + p.cost_usd);
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([a]) => a);
  if (ranked.length <= keep + 1) return { series: ranked, points: points.map((p) => ({ ...p, app: appLabel(p.app) })) };
  const kept = new Set(ranked.slice(0, keep));
  const other = `${ranked.length - keep} others`;
  return { series: [...kept, other], points: points.map((p) => ({ ...p, app: kept.has(appLabel(p.app)) ? appLabel(p.app) : other })) };
}
