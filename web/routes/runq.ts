/* /api/v1/runq: run-queue latency per application. */
import { Hono } from 'hono';
import type { RunqRepository } from '../../store/tables/runq-windows.js';
import { notFound, parseQuery, timeRange } from '../params.js';
import { querySchemas } from '../schemas.js';

export type { RunqRow as RunqApiRow } from '../../store/tables/runq-windows.js';

export function runqRoutes(opts: { runq?: RunqRepository; now: () => number }): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = parseQuery(querySchemas.runq, c);
    const r = timeRange(opts.now(), q.from, q.to);
    if (!opts.runq) notFound('run-queue latency is not collected by this Kiln');
    if (q.app !== undefined && !(await opts.runq.appExists(q.app))) notFound(`app "${q.app}" has no run-queue data`);
    return c.json(await opts.runq.query(r, q.app));
  });
  return app;
}
