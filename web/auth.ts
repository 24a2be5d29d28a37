/* Bearer-token access for non-loopback listeners. A token arrives as `Authorization: Bearer <t>`,
 * as `?token=<t>` (for `go tool pprof URL` and first opening the UI), or as the cookie the UI gets
 * when it was opened with ?token=. Compared in constant time. */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

export const TOKEN_COOKIE = 'kiln_token';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function requireToken(token: string): MiddlewareHandler {
  return async function tokenAuth(c, next) {
    const header = c.req.header('authorization') ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const query = c.req.query('token');
    const cookie = getCookie(c, TOKEN_COOKIE);
    const given = bearer ?? query ?? cookie;
    if (!given) return c.json({ error: 'authentication required: send Authorization: Bearer <token> (or ?token=)' }, 401, { 'www-authenticate': 'Bearer realm="kiln"' });
    if (!same(given, token)) return c.json({ error: 'invalid token' }, 401, { 'www-authenticate': 'Bearer realm="kiln", error="invalid_token"' });
    // the UI opened with ?token= keeps working through its own fetches
    if (query && !cookie) setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
    await next();
  };
}

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
