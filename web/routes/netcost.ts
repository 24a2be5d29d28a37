/* /api/v1/netcost and /api/v1/reports: network cost rows, the cost series, the monthly report. */
import { Hono } from 'hono';
import { stringify } from 'csv-stringify/sync';
import { costOf, costSeries, monthRange, type CostRow } from '../../netcost/cost.js';
import { focusCsv, focusRows, type ReportContext } from '../../netcost/focus.js';
import type { PriceSnapshot } from '../../netcost/pricing.js';
import type { NetcostRepository } from '../../store/tables/net-flows.js';
import { bad, notFound, parseQuery, timeRange } from '../params.js';
import { querySchemas } from '../schemas.js';

export interface NetcostRoutesOptions {
  netcost?: { repo: NetcostRepository; snapshot: () => PriceSnapshot | null; report: ReportContext };
  now: () => number;
}

/** A row of /api/v1/netcost (the API contract's fields plus billed bytes, region and month). */
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

/** The network-cost sub-apps: `netcost` at /api/v1/netcost, `reports` at /api/v1/reports. */
export function netcostRoutes(opts: NetcostRoutesOptions): { netcost: Hono; reports: Hono } {
  const netcost = new Hono();
  const reports = new Hono();
  function netcostOpts() {
    if (!opts.netcost) notFound('network cost is not collected by this Kiln');
    return opts.netcost;
  }

  /** A cost row as the API serves it: the group's columns, then the row fields of the API contract. */
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

  netcost.get('/', async (c) => {
    const q = parseQuery(querySchemas.netcost, c);
    const r = timeRange(opts.now(), q.from, q.to);
    const n = netcostOpts();
    const rows = await costOf(n.repo, r, q.group_by, n.snapshot(), q.app);
    return c.json(rows.map(costJson));
  });

  netcost.get('/series', async (c) => {
    const q = parseQuery(querySchemas.netcostSeries, c);
    const r = timeRange(opts.now(), q.from, q.to);
    const step = q.step ?? Math.max(60, Math.ceil((r.to - r.from) / 48 / 60) * 60);
    if ((r.to - r.from) / step > 500) bad(`step ${step} s gives more than 500 points over this range: use a larger step`);
    const n = netcostOpts();
    return c.json({ step, points: await costSeries(n.repo, r, step, n.snapshot()) });
  });

  reports.get('/monthly', async (c) => {
    const q = parseQuery(querySchemas.monthly, c);
    const r = monthRange(q.month);
    const n = netcostOpts();
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

  return { netcost, reports };
}
