/* /api/v1/apps and /api/v1/profile/*: the application list, flamegraphs, comparisons and pprof. */
import { Hono } from 'hono';
import { diffTrees, rankChanges } from '../../profiler/diff.js';
import { buildFlamegraph } from '../../profiler/flamegraph.js';
import { buildPprof, encodePprofGzip } from '../../profiler/pprof.js';
import { cpuCost, type CpuPrice } from '../../profiler/cpu-cost.js';
import { PROCESS_LABELS, type ProcessFilter, type ProfileRepository } from '../../store/tables/profiles.js';
import { bad, notFound, parseQuery, timeRange } from '../params.js';
import { querySchemas } from '../schemas.js';

export interface ProfileRoutesOptions {
  profiles: ProfileRepository;
  /** nominal period when a selection has no samples to derive one from */
  defaultPeriodNs: number;
  now: () => number;
  /** what a core-hour costs (null: no price known, cost fields are null) */
  cpuPrice?: CpuPrice | null;
}

const cpuNsOf = (stacks: { cpu_ns: number }[]) => stacks.reduce((n, s) => n + s.cpu_ns, 0);

export function appsRoutes(opts: ProfileRoutesOptions): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = parseQuery(querySchemas.range, c);
    return c.json(await opts.profiles.apps(timeRange(opts.now(), q.from, q.to)));
  });
  return app;
}

/** 404 for an application the store has never seen. */
async function requireApp(opts: ProfileRoutesOptions, name: string): Promise<void> {
  if (!(await opts.profiles.appExists(name))) notFound(`app "${name}" has never been seen`);
}

/** GET /api/v1/processes: an application's processes (their labels) over a range. */
export function processesRoutes(opts: ProfileRoutesOptions): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = parseQuery(querySchemas.processes, c);
    const r = timeRange(opts.now(), q.from, q.to);
    await requireApp(opts, q.app);
    return c.json(await opts.profiles.processes(q.app, r));
  });
  return app;
}

/** The process filter of a request: its labels, or with `prefix` its base_ labels. */
function filterOf(q: Record<string, unknown>, prefix = ''): ProcessFilter {
  const f: Record<string, unknown> = {};
  for (const k of Object.keys(PROCESS_LABELS)) {
    const v = q[`${prefix}${k}`];
    if (v !== undefined) f[k] = v;
  }
  return f as ProcessFilter;
}

/** What a selection is narrowed to, for the pprof comment and file name. */
function describeFilter(f: ProcessFilter): string[] {
  return Object.entries(f).map(([k, v]) => `${k}=${String(v)}`);
}

export function profileRoutes(opts: ProfileRoutesOptions): Hono {
  const app = new Hono();


  /** The two sides of a comparison: another range of the same app, or another app (same range by default). */
  async function sides(q: { app: string; from?: string; to?: string; base_app?: string; base_from?: string; base_to?: string } & Record<string, unknown>) {
    const now = opts.now();
    const compared = timeRange(now, q.from, q.to);
    if (!q.base_app && q.base_from === undefined && q.base_to === undefined) {
      bad('base: give base_from and base_to (another range), or base_app (another app)');
    }
    const base = timeRange(now, q.base_from, q.base_to, 'base_', q.base_app ? compared : undefined);
    const baseApp = q.base_app ?? q.app;
    await requireApp(opts, q.app);
    if (baseApp !== q.app) await requireApp(opts, baseApp);
    // the base keeps the compared side's labels when it is another range of the same app, unless it
    // has labels of its own (two processes of one executable compared)
    const filter = filterOf(q);
    const own = filterOf(q, 'base_');
    const baseFilter = Object.keys(own).length > 0 || q.base_app ? own : filter;
    const [a, b] = await Promise.all([opts.profiles.stacks(q.app, compared, filter), opts.profiles.stacks(baseApp, base, baseFilter)]);
    return { compared, base, baseApp, a, b };
  }

  app.get('/flamegraph', async (c) => {
    const q = parseQuery(querySchemas.selection, c);
    const r = timeRange(opts.now(), q.from, q.to);
    await requireApp(opts, q.app);
    const stacks = await opts.profiles.stacks(q.app, r, filterOf(q));
    // the range's cost beside the tree: a frame's dollars are its share of the samples times this
    const cost = opts.cpuPrice ? cpuCost(cpuNsOf(stacks), r.to - r.from, opts.cpuPrice) : null;
    return c.json({ ...buildFlamegraph(q.app, stacks), cost });
  });

  app.get('/series', async (c) => {
    const q = parseQuery(querySchemas.series, c);
    const r = timeRange(opts.now(), q.from, q.to);
    await requireApp(opts, q.app);
    return c.json({ app: q.app, from: r.from, to: r.to, ...(await opts.profiles.cpuSeries(q.app, r, q.step ?? Math.ceil((r.to - r.from) / 240), filterOf(q))) });
  });

  app.get('/diff', async (c) => {
    const q = parseQuery(querySchemas.comparison, c);
    const { a, b } = await sides(q);
    return c.json(diffTrees(q.app, a, b, q.mode));
  });

  app.get('/changes', async (c) => {
    const q = parseQuery(querySchemas.changes, c);
    const { compared, base, baseApp, a, b } = await sides(q);
    const total = a.reduce((s, x) => s + x.samples, 0);
    const baseTotal = b.reduce((s, x) => s + x.samples, 0);
    const price = opts.cpuPrice;
    const cost = price ? cpuCost(cpuNsOf(a), compared.to - compared.from, price) : null;
    const baseCost = price ? cpuCost(cpuNsOf(b), base.to - base.from, price) : null;
    // a function's monthly spend on each side: its share of the side's samples times the side's
    // projection; the change is what it costs (or saves) per month, e.g. "+$412/month in parse_headers"
    const monthly = (n: number, of: number, side: typeof cost) => (side && of > 0 ? Math.round((n / of) * side.usd_per_month * 1e6) / 1e6 : 0);
    const functions = rankChanges(a, b, { limit: q.limit, minSamples: q.min_samples }).map((f) => {
      if (!price) return f;
      const totalUsd = monthly(f.total_samples, total, cost);
      const totalUsdBase = monthly(f.total_samples_base, baseTotal, baseCost);
      return {
        ...f,
        self_usd_per_month: monthly(f.self_samples, total, cost),
        self_usd_per_month_base: monthly(f.self_samples_base, baseTotal, baseCost),
        total_usd_per_month: totalUsd,
        total_usd_per_month_base: totalUsdBase,
        total_usd_per_month_delta: Math.round((totalUsd - totalUsdBase) * 1e6) / 1e6,
      };
    });
    return c.json({
      app: q.app,
      base_app: baseApp,
      from: compared.from,
      to: compared.to,
      base_from: base.from,
      base_to: base.to,
      total,
      base_total: baseTotal,
      cost,
      base_cost: baseCost,
      functions,
    });
  });

  app.get('/pprof', async (c) => {
    const q = parseQuery(querySchemas.selection, c);
    const r = timeRange(opts.now(), q.from, q.to);
    await requireApp(opts, q.app);
    const filter = filterOf(q);
    const { stacks, mappings } = await opts.profiles.pprofStacks(q.app, r, filter);
    let samples = 0;
    let ns = 0;
    for (const s of stacks) {
      samples += s.samples;
      ns += s.cpu_ns;
    }
    const periodNs = samples > 0 ? Math.round(ns / samples) : opts.defaultPeriodNs;
    const price = opts.cpuPrice ?? null;
    const priced = price ? [`cost: ${price.usdPerCoreHour} USD per core-hour (${price.instanceType ? `${price.instanceType}, ` : ''}${price.source})`] : [];
    const profile = buildPprof({ stacks, mappings, from: r.from, to: r.to, periodNs, price, comment: [`kiln app=${q.app}`, ...describeFilter(filter), ...priced] });
    const body = encodePprofGzip(profile);
    const file = `${q.app.replace(/[^A-Za-z0-9._-]+/g, '_')}${filter.pid !== undefined ? `-pid${filter.pid}` : ''}-${r.from}-${r.to}.pb.gz`;
    return c.body(new Uint8Array(body), 200, {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${file}"`,
    });
  });
  return app;
}
