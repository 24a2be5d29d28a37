/* The HTTP API (DESIGN.md contracts), tested in-process with app.request(). */
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { buildFlamegraph } from '../profiler/flamegraph.js';
import { buildPprof, encodePprofGzip } from '../profiler/pprof.js';
import type { ProfileRepository } from '../store/profiles.js';
import { timeRangeSchema } from './time-params.js';

export interface ApiOptions {
  profiles: ProfileRepository;
  /** nominal period when a selection has no samples to derive one from */
  defaultPeriodNs: number;
  now?: () => number;
  /** collector counters for /api/v1/status (BigInts become numbers) */
  status?: () => Record<string, unknown>;
  /** extra routes (UI, metrics) mounted by the caller */
  extend?: (app: Hono) => void;
  onError?: (e: unknown) => void;
}

class BadRequest extends HTTPException {
  constructor(message: string) {
    super(400, { message });
  }
}

function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

function parse<T extends z.ZodTypeAny>(schema: T, c: Context): z.output<T> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) throw new BadRequest(formatZodError(r.error));
  return r.data;
}

const appParam = z.object({
  app: z
    .string({ error: 'app is required' })
    .min(1, 'app is required')
    .max(512, 'app is too long'),
});

export function createApi(opts: ApiOptions): Hono {
  const app = new Hono();
  const now = opts.now ?? (() => Date.now() / 1000);
  const range = timeRangeSchema(now);
  const appRange = z.intersection(appParam, range);

  async function requireApp(name: string): Promise<void> {
    if (!(await opts.profiles.appExists(name))) throw new HTTPException(404, { message: `app "${name}" has never been seen` });
  }

  app.get('/api/v1/apps', async (c) => {
    const r = parse(range, c);
    return c.json(await opts.profiles.apps(r));
  });

  app.get('/api/v1/profile/flamegraph', async (c) => {
    const q = parse(appRange, c);
    await requireApp(q.app);
    const stacks = await opts.profiles.stacks(q.app, q);
    return c.json(buildFlamegraph(q.app, stacks));
  });

  app.get('/api/v1/profile/pprof', async (c) => {
    const q = parse(appRange, c);
    await requireApp(q.app);
    const { stacks, mappings } = await opts.profiles.pprofStacks(q.app, q);
    let samples = 0;
    let ns = 0;
    for (const s of stacks) {
      samples += s.samples;
      ns += s.cpu_ns;
    }
    const periodNs = samples > 0 ? Math.round(ns / samples) : opts.defaultPeriodNs;
    const profile = buildPprof({ stacks, mappings, from: q.from, to: q.to, periodNs, comment: [`kiln app=${q.app}`] });
    const body = encodePprofGzip(profile);
    const file = `${q.app.replace(/[^A-Za-z0-9._-]+/g, '_')}-${q.from}-${q.to}.pb.gz`;
    return c.body(new Uint8Array(body), 200, {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${file}"`,
    });
  });

  app.get('/api/v1/status', (c) => {
    const raw = opts.status?.() ?? {};
    const json = JSON.parse(JSON.stringify(raw, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
    return c.json(json);
  });

  opts.extend?.(app);

  app.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    opts.onError?.(err);
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
