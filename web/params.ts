/* Request parameters shared by every route module: zod validation as 400 with the reason, and time
 * ranges (`from`, `to`: unix seconds, RFC 3339 or now-N; bounded to what the store holds). */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { z } from 'zod';
import { parseTime } from './time-params.js';

export interface Range {
  from: number;
  to: number;
}

export function bad(message: string): never {
  throw new HTTPException(400, { message });
}

export function notFound(message: string): never {
  throw new HTTPException(404, { message });
}

function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

/** The query parameters of a request, validated by `schema`; 400 with every reason otherwise. */
export function parseQuery<T extends z.ZodTypeAny>(schema: T, c: Context): z.output<T> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) bad(formatZodError(r.error));
  return r.data;
}

/** Resolves a from/to pair: to defaults to now, from to one hour before to; from < to. */
export function timeRange(now: number, fromText: string | undefined, toText: string | undefined, prefix = '', defaults?: Range): Range {
  const to = toText === undefined ? (defaults?.to ?? now) : parseTime(toText, now);
  if (typeof to === 'string') bad(`${prefix}to: ${to}`);
  const from = fromText === undefined ? (defaults?.from ?? to - 3600) : parseTime(fromText, now);
  if (typeof from === 'string') bad(`${prefix}from: ${from}`);
  if (from >= to) bad(`${prefix}from: ${prefix}from must be before ${prefix}to`);
  return { from: Math.floor(from), to: Math.ceil(to) };
}
