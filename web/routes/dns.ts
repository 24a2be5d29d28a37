/* /api/v1/dns: DNS per application × domain × qtype. */
import { Hono } from 'hono';
import type { DnsRepository } from '../../store/tables/dns-windows.js';
import { notFound, parseQuery, timeRange } from '../params.js';
import { querySchemas } from '../schemas.js';

export type { DnsApiRow } from '../../store/tables/dns-windows.js';

export function dnsRoutes(opts: { dns?: DnsRepository; now: () => number }): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = parseQuery(querySchemas.dns, c);
    const r = timeRange(opts.now(), q.from, q.to);
    if (!opts.dns) notFound('DNS is not collected by this Kiln');
    if (q.app !== undefined && !(await opts.dns.appExists(q.app))) notFound(`app "${q.app}" has no DNS data`);
    return c.json(await opts.dns.query(r, q.app));
  });
  return app;
}
