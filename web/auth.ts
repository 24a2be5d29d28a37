/* Bearer-token access for non-loopback listeners. A token arrives as `Authorization: Bearer <t>`,
 * as `?token=<t>` (for `go tool pprof URL` and first opening the UI), or as the session cookie the UI
 * gets when it was opened with ?token=. The cookie holds a value derived from the token (HMAC), never
 * the token itself, and is Secure when the page came over TLS. Compared in constant time.
 * A loopback listener also checks the Host header, so a web page cannot reach it by DNS rebinding. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

export const TOKEN_COOKIE = 'kiln_token';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The session cookie's value for a token: proves the token was given, and does not reveal it. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('kiln session cookie v1').digest('base64url');
}

export function requireToken(token: string): MiddlewareHandler {
  const session = sessionValue(token);
  return async function tokenAuth(c, next) {
    const header = c.req.header('authorization') ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const query = c.req.query('token');
    const cookie = getCookie(c, TOKEN_COOKIE);
    const given = bearer ?? query;
    if (given === undefined && cookie === undefined) return c.json({ error: 'authentication required: send Authorization: Bearer <token> (or ?token=)' }, 401, { 'www-authenticate': 'Bearer realm="kiln"' });
    const ok = given !== undefined ? same(given, token) : same(cookie!, session);
    if (!ok) return c.json({ error: 'invalid token' }, 401, { 'www-authenticate': 'Bearer realm="kiln", error="invalid_token"' });
    // the UI opened with ?token= keeps working through its own fetches
    if (query && cookie === undefined) {
      const tls = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
      setCookie(c, TOKEN_COOKIE, session, { httpOnly: true, sameSite: 'Strict', path: '/', secure: tls });
    }
    await next();
  };
}

/** Host names a loopback listener answers to: localhost, 127.0.0.0/8, ::1 (with any port). */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host.trim());
  return m !== null && isLoopback(m[1]);
}

/** Refuses requests whose Host header is not a loopback name: a page on another site that rebinds
 *  its own name to 127.0.0.1 sends its own name here. */
export function requireLoopbackHost(): MiddlewareHandler {
  return async function loopbackHost(c, next) {
    const host = c.req.header('host');
    if (!isLoopbackHostHeader(host)) {
      return c.json({ error: `Host "${host ?? ''}" is not a loopback name: this listener answers to localhost, 127.0.0.1 and [::1] only (a DNS-rebinding page sends its own name); listen on a non-loopback address with a token to serve other names` }, 421);
    }
    await next();
  };
}

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
