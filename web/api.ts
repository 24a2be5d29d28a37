/* The HTTP API (DESIGN.md contracts), tested in-process with app.request(). Every endpoint validates
 * its parameters with a zod schema and answers 400 with the reason; unknown paths 404; faults 500
 * without internals. */
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { diffTrees, rankChanges } from '../profiler/diff.js';
import { buildFlamegraph } from '../profiler/flamegraph.js';
import { buildPprof, encodePprofGzip } from '../profiler/pprof.js';
import type { ProfileRepository } from '../store/tables/profiles.js';
import type { RunqRepository } from '../store/tables/runq-windows.js';
import type { DnsRepository } from '../store/tables/dns-windows.js';
import type { NetcostRepository } from '../store/tables/net-flows.js';
import { LOSS_REASONS, type LossRepository } from '../store/tables/collector-losses.js';
import type { PriceSnapshot } from '../netcost/pricing.js';
import { focusCsv, focusRows, type ReportContext } from '../netcost/focus.js';
import { costOf, costSeries, monthRange, type CostRow } from '../netcost/cost.js';
import { stringify } from 'csv-stringify/sync';
import { requireLoopbackHost, requireToken } from './auth.js';
import { QueryLimiter, type QueryLimitOptions } from './query-limits.js';
import { StoreError } from '../store/store.js';
import { openApiDocument } from './openapi.js';
import { querySchemas } from './schemas.js';
import { parseTime } from './time-params.js';

export interface ApiOptions {
  profiles: ProfileRepository;
  runq?: RunqRepository;
  dns?: DnsRepository;
  losses?: LossRepository;
  netcost?: { repo: NetcostRepository; snapshot: () => PriceSnapshot | null; report: ReportContext };
  /** nominal period when a selection has no samples to derive one from */
  defaultPeriodNs: number;
  now?: () => number;
  /** when set, every route (API and UI) needs this bearer token */
  token?: string;
  /** served on a loopback address: refuse Host headers that are not loopback names (DNS rebinding) */
  loopbackOnly?: boolean;
  /** collector counters for /api/v1/status (BigInts become numbers) */
  status?: () => Record<string, unknown>;
  /** concurrent data requests; default 4 running, 16 waiting up to 20 s */
  queryLimits?: QueryLimitOptions;
  /** extra routes (UI, metrics) mounted by the caller */
  extend?: (app: Hono) => void;
  onError?: (e: unknown) => void;
}

/** A row of /api/v1/netcost (DESIGN.md fields plus billed bytes, region and month). */
export interface NetcostApiRow {
  app?: string;
  peer?: string;
  /** the service port: the peer's for outbound connections, ours for inbound ones */
  port?: number;
  peer_app?: string | null;
  class: CostRow['class'];
  /** data transfer, or NAT gateway data processing of the same traffic (billed bytes only) */
  charge: CostRow['charge'];
  direction?: string;
  region: string | null;
  month: string;
  bytes_sent: number;
  bytes_received: number;
  billed_bytes: number;
  billed_direction: CostRow['billed_direction'];
  cost_usd: number;
  unit_price_usd: number;
  pricing_unit: string;
  pricing_unit_bytes: number;
  tier: string;
  price_source: string;
}

function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

interface Range {
  from: number;
  to: number;
}

export function createApi(opts: ApiOptions): Hono {
  const app = new Hono();
  const now = opts.now ?? (() => Date.now() / 1000);

  function bad(message: string): never {
    throw new HTTPException(400, { message });
  }

  function parse<T extends z.ZodTypeAny>(schema: T, c: Context): z.output<T> {
    const r = schema.safeParse(c.req.query());
    if (!r.success) bad(formatZodError(r.error));
    return r.data;
  }

  /** Resolves a from/to pair: to defaults to now, from to one hour before to; from < to. */
  function range(fromText: string | undefined, toText: string | undefined, prefix = '', defaults?: Range): Range {
    const n = now();
    const to = toText === undefined ? (defaults?.to ?? n) : parseTime(toText, n);
    if (typeof to === 'string') bad(`${prefix}to: ${to}`);
    const from = fromText === undefined ? (defaults?.from ?? to - 3600) : parseTime(fromText, n);
    if (typeof from === 'string') bad(`${prefix}from: ${from}`);
    if (from >= to) bad(`${prefix}from: ${prefix}from must be before ${prefix}to`);
    return { from: Math.floor(from), to: Math.ceil(to) };
  }

  async function requireApp(name: string): Promise<void> {
    if (!(await opts.profiles.appExists(name))) throw new HTTPException(404, { message: `app "${name}" has never been seen` });
  }

  /** The two sides of a comparison: another range of the same app, or another app (same range by default). */
  async function sides(q: { app: string; from?: string; to?: string; base_app?: string; base_from?: string; base_to?: string }) {
    const compared = range(q.from, q.to);
    if (!q.base_app && q.base_from === undefined && q.base_to === undefined) {
      bad('base: give base_from and base_to (another range), or base_app (another app)');
    }
    const base = range(q.base_from, q.base_to, 'base_', q.base_app ? compared : undefined);
    const baseApp = q.base_app ?? q.app;
    await requireApp(q.app);
    if (baseApp !== q.app) await requireApp(baseApp);
    const [a, b] = await Promise.all([opts.profiles.stacks(q.app, compared), opts.profiles.stacks(baseApp, base)]);
    return { compared, base, baseApp, a, b };
  }

  if (opts.loopbackOnly) app.use('*', requireLoopbackHost());
  if (opts.token) app.use('*', requireToken(opts.token));
  const limiter = new QueryLimiter(opts.queryLimits ?? { maxRunning: 4, maxWaiting: 16, waitTimeoutMs: 20_000 });
  const limited = limiter.middleware();
  // every route that queries the store; status, the OpenAPI document and the UI's assets do not
  app.use('/api/v1/*', async (c, next) => (c.req.path === '/api/v1/status' || c.req.path === '/api/v1/openapi.json' ? next() : limited(c, next)));

  app.get('/api/v1/openapi.json', (c) => c.json(openApiDocument()));

  app.get('/api/v1/apps', async (c) => {
    const q = parse(querySchemas.range, c);
    return c.json(await opts.profiles.apps(range(q.from, q.to)));
  });

  app.get('/api/v1/profile/flamegraph', async (c) => {
    const q = parse(querySchemas.selection, c);
    const r = range(q.from, q.to);
    await requireApp(q.app);
    return c.json(buildFlamegraph(q.app, await opts.profiles.stacks(q.app, r)));
  });

  app.get('/api/v1/profile/diff', async (c) => {
    const q = parse(querySchemas.comparison, c);
    const { a, b } = await sides(q);
    return c.json(diffTrees(q.app, a, b, q.mode));
  });

  app.get('/api/v1/profile/changes', async (c) => {
    const q = parse(querySchemas.changes, c);
    const { compared, base, baseApp, a, b } = await sides(q);
    const total = a.reduce((s, x) => s + x.samples, 0);
    const baseTotal = b.reduce((s, x) => s + x.samples, 0);
    return c.json({
      app: q.app,
      base_app: baseApp,
      from: compared.from,
      to: compared.to,
      base_from: base.from,
      base_to: base.to,
      total,
      base_total: baseTotal,
      functions: rankChanges(a, b, { limit: q.limit, minSamples: q.min_samples }),
    });
  });

  app.get('/api/v1/profile/pprof', async (c) => {
    const q = parse(querySchemas.selection, c);
    const r = range(q.from, q.to);
    await requireApp(q.app);
    const { stacks, mappings } = await opts.profiles.pprofStacks(q.app, r);
    let samples = 0;
    let ns = 0;
    for (const s of stacks) {
      samples += s.samples;
      ns += s.cpu_ns;
    }
    const periodNs = samples > 0 ? Math.round(ns / samples) : opts.defaultPeriodNs;
    const profile = buildPprof({ stacks, mappings, from: r.from, to: r.to, periodNs, comment: [`kiln app=${q.app}`] });
    const body = encodePprofGzip(profile);
    const file = `${q.app.replace(/[^A-Za-z0-9._-]+/g, '_')}-${r.from}-${r.to}.pb.gz`;
    return c.body(new Uint8Array(body), 200, {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${file}"`,
    });
  });

  app.get('/api/v1/runq', async (c) => {
    const q = parse(querySchemas.runq, c);
    const r = range(q.from, q.to);
    if (!opts.runq) throw new HTTPException(404, { message: 'run-queue latency is not collected by this Kiln' });
    if (q.app !== undefined && !(await opts.runq.appExists(q.app))) throw new HTTPException(404, { message: `app "${q.app}" has no run-queue data` });
    return c.json(await opts.runq.query(r, q.app));
  });

  app.get('/api/v1/dns', async (c) => {
    const q = parse(querySchemas.dns, c);
    const r = range(q.from, q.to);
    if (!opts.dns) throw new HTTPException(404, { message: 'DNS is not collected by this Kiln' });
    if (q.app !== undefined && !(await opts.dns.appExists(q.app))) throw new HTTPException(404, { message: `app "${q.app}" has no DNS data` });
    return c.json(await opts.dns.query(r, q.app));
  });

  app.get('/api/v1/losses', async (c) => {
    const q = parse(querySchemas.losses, c);
    const r = range(q.from, q.to);
    const rows = opts.losses ? await opts.losses.query(r, q.collector) : [];
    return c.json(rows.map((l) => ({ ...l, meaning: LOSS_REASONS[l.reason] ?? l.reason })));
  });

  function netcost() {
    if (!opts.netcost) throw new HTTPException(404, { message: 'network cost is not collected by this Kiln' });
    return opts.netcost;
  }

  /** A cost row as the API serves it: the group's columns, then the DESIGN.md row fields. */
  function costJson(r: CostRow): NetcostApiRow {
    // port: the service port (the peer's for outbound connections, ours for inbound ones)
    const peer = r.group.peer_address === undefined ? {} : { peer: String(r.group.peer_address), port: Number(r.group.port), peer_app: r.group.peer_app ? String(r.group.peer_app) : null };
    return {
      ...(r.group.app === undefined ? {} : { app: String(r.group.app) }),
      ...peer,
      class: r.class,
      charge: r.charge,
      ...(r.group.direction === undefined ? {} : { direction: String(r.group.direction) }),
      region: r.region || null,
      month: r.month,
      bytes_sent: r.bytes_sent,
      bytes_received: r.bytes_received,
      billed_bytes: r.billed_bytes,
      billed_direction: r.billed_direction,
      cost_usd: r.cost_usd,
      unit_price_usd: r.unit_price_usd,
      pricing_unit: r.pricing_unit,
      pricing_unit_bytes: r.pricing_unit_bytes,
      tier: r.tier,
      price_source: r.price_source,
    };
  }

  app.get('/api/v1/netcost', async (c) => {
    const q = parse(querySchemas.netcost, c);
    const r = range(q.from, q.to);
    const n = netcost();
    const rows = await costOf(n.repo, r, q.group_by, n.snapshot(), q.app);
    return c.json(rows.map(costJson));
  });

  app.get('/api/v1/netcost/series', async (c) => {
    const q = parse(querySchemas.netcostSeries, c);
    const r = range(q.from, q.to);
    const step = q.step ?? Math.max(60, Math.ceil((r.to - r.from) / 48 / 60) * 60);
    if ((r.to - r.from) / step > 500) bad(`step ${step} s gives more than 500 points over this range: use a larger step`);
    const n = netcost();
    return c.json({ step, points: await costSeries(n.repo, r, step, n.snapshot()) });
  });

  app.get('/api/v1/reports/monthly', async (c) => {
    const q = parse(querySchemas.monthly, c);
    const r = monthRange(q.month);
    const n = netcost();
    const rows = await costOf(n.repo, r, 'app', n.snapshot());
    if (q.format === 'json') return c.json({ month: q.month, rows: rows.map(costJson) });
    const file = `kiln-netcost-${q.month}${q.format === 'focus' ? '-focus' : ''}.csv`;
    const headers = { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${file}"` };
    if (q.format === 'csv') {
      const flat = rows.map(costJson);
      const columns = ['app', 'class', 'charge', 'region', 'month', 'bytes_sent', 'bytes_received', 'billed_bytes', 'billed_direction', 'cost_usd', 'unit_price_usd', 'pricing_unit', 'pricing_unit_bytes', 'tier', 'price_source'];
      return c.body(stringify(flat, { header: true, columns, cast: { number: (x) => String(x) } }), 200, headers);
    }
    const peers = await n.repo.topPeers(r, 5);
    return c.body(focusCsv(focusRows(rows, n.report, peers)), 200, headers);
  });

  app.get('/api/v1/status', (c) => {
    const raw = { ...(opts.status?.() ?? {}), api: limiter.stats() };
    return c.json(JSON.parse(JSON.stringify(raw, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))));
  });

  opts.extend?.(app);

  app.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    // the store's per-query time limit (max_execution_time): the caller asked for too much at once
    if (err instanceof StoreError && /TIMEOUT_EXCEEDED|Timeout exceeded/i.test(err.message)) {
      return c.json({ error: 'the query ran past the time limit of the store: narrow the range or the selection' }, 503);
    }
    opts.onError?.(err);
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
