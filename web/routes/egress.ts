/* /api/v1/profile/egress: the code paths that sent TCP bytes (ARCHITECTURE.md, "Egress stacks"), as a
 * flamegraph of bytes with dollars and sample points per node, or as pprof (bytes, cost, samples). */
import { Hono } from 'hono';
import { costOf } from '../../netcost/cost.js';
import { priceEgress, summarize } from '../../netcost/egress-cost.js';
import type { PriceSnapshot } from '../../netcost/pricing.js';
import { buildFlamegraph } from '../../profiler/flamegraph.js';
import { buildPprof, encodePprofGzip } from '../../profiler/pprof.js';
import type { NetcostRepository } from '../../store/tables/net-flows.js';
import { PROCESS_LABELS, type ProcessFilter, type ProfileRepository } from '../../store/tables/profiles.js';
import { notFound, parseQuery, timeRange } from '../params.js';
import { querySchemas } from '../schemas.js';

export interface EgressRoutesOptions {
  profiles: ProfileRepository;
  netcost?: { repo: NetcostRepository; snapshot: () => PriceSnapshot | null };
  now: () => number;
}

export function egressRoutes(opts: EgressRoutesOptions): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const q = parseQuery(querySchemas.egress, c);
    const r = timeRange(opts.now(), q.from, q.to);
    if (!(await opts.profiles.appExists(q.app))) notFound(`app "${q.app}" has never been seen`);
    // every process's points first: a peer's exact bytes are shared among all the points sent to it
    const [{ stacks, mappings }, flows, costRows] = await Promise.all([
      opts.profiles.egressStacks(q.app, r),
      opts.netcost ? opts.netcost.repo.sentByPeer(r, q.app) : Promise.resolve([]),
      opts.netcost ? costOf(opts.netcost.repo, r, 'peer', opts.netcost.snapshot(), q.app) : Promise.resolve([]),
    ]);
    const priced = priceEgress(stacks, flows, costRows);
    const filter: ProcessFilter = {};
    for (const k of Object.keys(PROCESS_LABELS) as (keyof ProcessFilter)[]) if (q[k] !== undefined) Object.assign(filter, { [k]: q[k] });
    const selected = priced.stacks.filter(
      (s) =>
        Object.entries(filter).every(([k, v]) => s[k as keyof ProcessFilter] === v) &&
        (q.class === undefined || (q.class === 'nat' ? s.via_nat : s.class === q.class)) &&
        (q.peer_app === undefined || s.peer_app === q.peer_app),
    );
    const summary = summarize(selected, priced.audit);
    if (q.format === 'pprof') {
      const profile = buildPprof({
        stacks: selected.map((s) => ({ ...s, samples: s.points, cpu_ns: 0 })),
        mappings,
        from: r.from,
        to: r.to,
        periodNs: Math.round(summary.bytes_per_point),
        values: { types: [['bytes', 'bytes'], ['cost', 'microdollars'], ['samples', 'count']], of: (s) => { const p = s as unknown as (typeof selected)[number]; return [Math.round(p.bytes), Math.round(p.usd * 1e6), p.points]; }, default: 'bytes' },
        comment: [`kiln egress app=${q.app}`, ...(q.class ? [`class=${q.class}`] : []), ...(q.peer_app !== undefined ? [`peer_app=${q.peer_app}`] : []), `one sample point per ${Math.round(summary.bytes_per_point)} bytes on average; bytes scaled to the TCP collector's exact counts`],
      });
      const file = `${q.app.replace(/[^A-Za-z0-9._-]+/g, '_')}-egress${q.class ? `-${q.class}` : ''}-${r.from}-${r.to}.pb.gz`;
      return c.body(new Uint8Array(encodePprofGzip(profile)), 200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${file}"` });
    }
    const tree = buildFlamegraph(
      q.app,
      selected.map((s) => ({ functions: s.functions, samples: s.bytes, usd: s.usd, points: s.points })),
      ['usd', 'points'],
    );
    return c.json({ ...tree, egress: summary });
  });
  return app;
}
