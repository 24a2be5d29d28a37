/* Times in API parameters: unix seconds (integer or decimal), RFC 3339, or `now` / `now-<N><s|m|h|d>`. */
const RELATIVE = /^now(?:-(\d+)(s|m|h|d|w))?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** What the store can represent: ClickHouse DateTime runs from the epoch to 2106-02-07T06:28:15Z. */
export const MIN_TIME = 0;
export const MAX_TIME = 4294967295;

/** Parses one time; returns unix seconds within [MIN_TIME, MAX_TIME], or an error message. */
export function parseTime(text: string, nowSeconds: number): number | string {
  const v = parseAnyTime(text, nowSeconds);
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v) || v < MIN_TIME || v > MAX_TIME) return `"${text}" is outside the times Kiln stores (1970-01-01 to 2106-02-07)`;
  return v;
}

function parseAnyTime(text: string, nowSeconds: number): number | string {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const v = Number(t);
    // milliseconds are a common mistake: refuse rather than land 50,000 years out
    if (v > 1e11) return `"${text}" looks like milliseconds; times are unix seconds`;
    return v;
  }
  const rel = RELATIVE.exec(t);
  if (rel) return rel[1] ? nowSeconds - Number(rel[1]) * UNITS[rel[2]] : nowSeconds;
  if (RFC3339.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return ms / 1000;
  }
  return `"${text}" is not a time: use unix seconds, RFC 3339 (2026-01-02T15:04:05Z) or now-1h`;
}
