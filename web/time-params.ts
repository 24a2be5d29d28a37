/* Times in API parameters: unix seconds (integer or decimal), RFC 3339, or `now` / `now-<N><s|m|h|d>`. */
import { z } from 'zod';

const RELATIVE = /^now(?:-(\d+)(s|m|h|d|w))?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses one time; returns unix seconds or an error message. */
export function parseTime(text: string, nowSeconds: number): number | string {
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

/** A zod schema for a {from, to} pair with defaults (to = now, from = to - 1h) and from < to. */
export function timeRangeSchema(now: () => number = () => Date.now() / 1000, prefix = '') {
  const fromKey = `${prefix}from`;
  const toKey = `${prefix}to`;
  return z
    .object({ [fromKey]: z.string().optional(), [toKey]: z.string().optional() })
    .transform((q, ctx) => {
      const n = now();
      const to = q[toKey] === undefined ? n : parseTime(q[toKey] as string, n);
      if (typeof to === 'string') {
        ctx.addIssue({ code: 'custom', message: to, path: [toKey] });
        return z.NEVER;
      }
      const from = q[fromKey] === undefined ? to - 3600 : parseTime(q[fromKey] as string, n);
      if (typeof from === 'string') {
        ctx.addIssue({ code: 'custom', message: from, path: [fromKey] });
        return z.NEVER;
      }
      if (from >= to) {
        ctx.addIssue({ code: 'custom', message: `${fromKey} must be before ${toKey}`, path: [fromKey] });
        return z.NEVER;
      }
      return { from: Math.floor(from), to: Math.ceil(to) };
    });
}
