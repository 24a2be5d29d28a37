/* The HTTP API: one Hono sub-app per area (web/routes/), mounted here with app.route(), behind the
 * access checks (Host on loopback listeners, the token) and the query limits (ARCHITECTURE.md "Web").
 * Every endpoint validates its parameters and answers 400 with the reason; unknown paths 404; store
 * overload 429/503 with the reason; faults 500 without internals. Tested in-process with app.request(). */
import type { CpuPrice } from '../profiler/cpu-cost.js';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ProfileRepository } from '../store/tables/profiles.js';
import type { RunqRepository } from '../store/tables/runq-windows.js';
import type { DnsRepository } from '../store/tables/dns-windows.js';
import type { LossRepository } from '../store/tables/collector-losses.js';
import { StoreError } from '../store/store.js';
import { requireLoopbackHost, requireToken } from './auth.js';
import { openApiDocument } from './openapi.js';
import { egressRoutes } from './routes/egress.js';
import { QueryLimiter, type QueryLimitOptions } from './query-limits.js';
import { dnsRoutes } from './routes/dns.js';
import { lossesRoutes } from './routes/losses.js';
import { netcostRoutes, type NetcostRoutesOptions } from './routes/netcost.js';
import { appsRoutes, processesRoutes, profileRoutes } from './routes/profile.js';
import { runqRoutes } from './routes/runq.js';


export interface ApiOptions {
  profiles: ProfileRepository;
  runq?: RunqRepository;
  dns?: DnsRepository;
  losses?: LossRepository;
  netcost?: NetcostRoutesOptions['netcost'];
  /** nominal period when a selection has no samples to derive one from */
  defaultPeriodNs: number;
  /** what a core-hour costs: flamegraphs, changes and pprof then carry dollars (profiler/cpu-cost.ts) */
  cpuPrice?: CpuPrice | null;
  now?: () => number;
  /** when set, every route (API and UI) needs this bearer token */
  token?: string;
  /** served on a loopback address: refuse Host headers that are not loopback names (DNS rebinding) */
  loopbackOnly?: boolean;
  /** concurrent data requests; default 4 running, 16 waiting up to 20 s */
  queryLimits?: QueryLimitOptions;
  /** collector counters for /api/v1/status (BigInts become numbers) */
  status?: () => Record<string, unknown>;
  /** extra routes (UI, metrics) mounted by the caller */
  extend?: (app: Hono) => void;
  onError?: (e: unknown) => void;
}

/** A status object as JSON can carry it (collector counters are BigInts). */
export function jsonSafe(raw: unknown): unknown {
  return JSON.parse(JSON.stringify(raw, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
}

export function createApi(opts: ApiOptions): Hono {
  const app = new Hono();
  const now = opts.now ?? (() => Date.now() / 1000);

  if (opts.loopbackOnly) app.use('*', requireLoopbackHost());
  if (opts.token) app.use('*', requireToken(opts.token));
  const limiter = new QueryLimiter(opts.queryLimits ?? { maxRunning: 4, maxWaiting: 16, waitTimeoutMs: 20_000 });
  const limited = limiter.middleware();
  // every route that queries the store; status, the OpenAPI document and the UI's assets do not
  app.use('/api/v1/*', async (c, next) => (c.req.path === '/api/v1/status' || c.req.path === '/api/v1/openapi.json' ? next() : limited(c, next)));

  const profile = { profiles: opts.profiles, defaultPeriodNs: opts.defaultPeriodNs, now, cpuPrice: opts.cpuPrice ?? null };
  const { netcost, reports } = netcostRoutes({ netcost: opts.netcost, now });
  app.route('/api/v1/apps', appsRoutes(profile));
  app.route('/api/v1/processes', processesRoutes(profile));
  app.route('/api/v1/profile/egress', egressRoutes({ profiles: opts.profiles, netcost: opts.netcost, now }));
  app.route('/api/v1/profile', profileRoutes(profile));
  app.route('/api/v1/runq', runqRoutes({ runq: opts.runq, now }));
  app.route('/api/v1/dns', dnsRoutes({ dns: opts.dns, now }));
  app.route('/api/v1/losses', lossesRoutes({ losses: opts.losses, now }));
  app.route('/api/v1/netcost', netcost);
  app.route('/api/v1/reports', reports);
  app.get('/api/v1/openapi.json', (c) => c.json(openApiDocument()));
  app.get('/api/v1/status', (c) => {
    const raw = { ...(opts.status?.() ?? {}), api: limiter.stats() };
    return c.json(jsonSafe(raw));
  });

  opts.extend?.(app);

  app.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    // the store's per-query time limit (max_execution_time): the caller asked for too much at once
    if (err instanceof StoreError && /TIMEOUT_EXCEEDED|Timeout exceeded/i.test(err.message)) {
      return c.json({ error: 'the query ran past the time limit of the store: narrow the range or the selection' }, 503);
    }
    if (err instanceof StoreError && err.message === 'store is closed') return c.json({ error: 'kiln is stopping' }, 503);
    opts.onError?.(err);
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
