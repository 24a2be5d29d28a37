/* /api/v1/losses: what the collectors lost in a range, per collector and reason, with its meaning. */
import { Hono } from 'hono';
import { LOSS_REASONS, type LossRepository, type LossRow } from '../../store/tables/collector-losses.js';
import { parseQuery, timeRange } from '../params.js';
import { querySchemas } from '../schemas.js';

export interface LossApiRow extends LossRow {
  meaning: string;
}

export function lossesRoutes(opts: { losses?: LossRepository; now: () => number }): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = parseQuery(querySchemas.losses, c);
    const r = timeRange(opts.now(), q.from, q.to);
    const rows = opts.losses ? await opts.losses.query(r, q.collector) : [];
    return c.json(rows.map((l): LossApiRow => ({ ...l, meaning: LOSS_REASONS[l.reason] ?? l.reason })));
  });
  return app;
}
