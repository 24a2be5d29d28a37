/* Network flows in the store, and the usage queries network cost is priced from. */
import type { TrafficClass } from '../netcost/classify.js';
import { monthsOf, priceUsage, type CostRow, type UsageRow } from '../netcost/cost.js';
import type { FlowWindow } from '../netcost/flows.js';
import type { PriceSnapshot } from '../netcost/pricing.js';
import type { TimeRange } from './profiles.js';
import type { Store } from './store.js';

export type GroupBy = 'app' | 'peer' | 'class';

/** The columns each grouping keeps; their values land in CostRow.group. */
const GROUP_COLUMNS: Record<GroupBy, string[]> = {
  app: ['app'],
  peer: ['app', 'direction', 'peer_address', 'port', 'peer_app'],
  class: [],
};

export interface NetTotals {
  app: string;
  class: TrafficClass;
  bytes_sent: number;
  bytes_received: number;
  connections: number;
  failed_connects: number;
  retransmits: number;
}

export class NetcostRepository {
  constructor(readonly store: Store) {}

  async writeWindow(w: FlowWindow): Promise<void> {
    await this.store.insert(
      'net_flows',
      w.rows.map((r) => ({
        ts: w.start,
        window_seconds: w.seconds,
        host: w.host,
        app: r.app,
        container_id: r.containerId,
        direction: r.direction,
        local_address: r.localAddress,
        peer_address: r.peerAddress,
        port: r.port,
        peer_app: r.peerApp,
        class: r.class,
        local_zone: r.localZone,
        peer_zone: r.peerZone,
        region: r.region,
        bytes_sent: r.bytesSent,
        bytes_received: r.bytesReceived,
        retransmits: r.retransmits,
        connections: r.connections,
        failed_connects: r.failedConnects,
      })),
    );
  }

  /** Usage per month × region × class × group over [from, to). */
  async usage(range: TimeRange, groupBy: GroupBy, app?: string): Promise<UsageRow[]> {
    const cols = GROUP_COLUMNS[groupBy];
    const sel = cols.map((c) => `${c}, `).join('');
    const rows = await this.store.query<Record<string, string | number>>(
      `SELECT formatDateTime(ts, '%Y-%m', 'UTC') AS month, region, class, ${sel}
              sum(bytes_sent) AS sent, sum(bytes_received) AS received
       FROM net_flows
       WHERE ts >= toDateTime({from:Int64}) AND ts < toDateTime({to:Int64}) ${app === undefined ? '' : 'AND app = {app:String}'}
       GROUP BY month, region, class ${cols.map((c) => `, ${c}`).join('')}
       ORDER BY sent + received DESC`,
      { ...range, ...(app === undefined ? {} : { app }) },
    );
    return rows.map((r) => ({
      month: String(r.month),
      region: String(r.region),
      class: r.class as TrafficClass,
      group: Object.fromEntries(cols.map((c) => [c, c === 'port' ? Number(r[c]) : String(r[c])])),
      bytesSent: Number(r.sent),
      bytesReceived: Number(r.received),
    }));
  }

  /** Internet egress bytes of each (month, region) from the month's start to the range's start: where the tiers stand. */
  async egressBefore(range: TimeRange): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const m of monthsOf(range.from, range.to)) {
      if (m.start <= m.monthStart) continue;
      const rows = await this.store.query<{ region: string; sent: string | number }>(
        `SELECT region, sum(bytes_sent) AS sent FROM net_flows
         WHERE class = 'internet' AND ts >= toDateTime({a:Int64}) AND ts < toDateTime({b:Int64}) GROUP BY region`,
        { a: m.monthStart, b: m.start },
      );
      for (const r of rows) out.set(`${m.month}|${r.region}`, Number(r.sent));
    }
    return out;
  }

  async cost(range: TimeRange, groupBy: GroupBy, snapshot: PriceSnapshot | null, app?: string): Promise<CostRow[]> {
    const [usage, egressBefore] = await Promise.all([this.usage(range, groupBy, app), this.egressBefore(range)]);
    return priceUsage(usage, { snapshot, egressBefore });
  }

  /** Connection counts and retransmits per app and class, for the cost view and the report. */
  async totals(range: TimeRange): Promise<NetTotals[]> {
    const rows = await this.store.query<Record<string, string | number>>(
      `SELECT app, class, sum(bytes_sent) AS s, sum(bytes_received) AS r, sum(connections) AS c,
              sum(failed_connects) AS f, sum(retransmits) AS rt
       FROM net_flows WHERE ts >= toDateTime({from:Int64}) AND ts < toDateTime({to:Int64})
       GROUP BY app, class ORDER BY s + r DESC`,
      { ...range },
    );
    return rows.map((r) => ({
      app: String(r.app),
      class: r.class as TrafficClass,
      bytes_sent: Number(r.s),
      bytes_received: Number(r.r),
      connections: Number(r.c),
      failed_connects: Number(r.f),
      retransmits: Number(r.rt),
    }));
  }

  /** The main peers of each app and class by bytes ("peer-app" or "address:port"), keyed `app\0class`. */
  async topPeers(range: TimeRange, n: number): Promise<Map<string, string[]>> {
    const rows = await this.store.query<{ app: string; class: string; peer: string }>(
      `SELECT app, class, if(peer_app != '', peer_app, concat(peer_address, ':', toString(port))) AS peer, sum(bytes_sent + bytes_received) AS b
       FROM net_flows WHERE ts >= toDateTime({from:Int64}) AND ts < toDateTime({to:Int64})
       GROUP BY app, class, peer ORDER BY b DESC LIMIT {n:UInt32} BY app, class`,
      { ...range, n },
    );
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const k = `${r.app}\0${r.class}`;
      out.set(k, [...(out.get(k) ?? []), r.peer]);
    }
    return out;
  }

  /** Cost per app over time (buckets of `step` seconds), for the UI chart. */
  async costSeries(range: TimeRange, step: number, snapshot: PriceSnapshot | null): Promise<{ t: number; app: string; cost_usd: number }[]> {
    const out: { t: number; app: string; cost_usd: number }[] = [];
    for (let t = range.from; t < range.to; t += step) {
      const sub = { from: t, to: Math.min(range.to, t + step) };
      const rows = await this.cost(sub, 'app', snapshot);
      const byApp = new Map<string, number>();
      for (const r of rows) byApp.set(String(r.group.app), (byApp.get(String(r.group.app)) ?? 0) + r.cost_usd);
      for (const [app, cost] of byApp) out.push({ t, app, cost_usd: cost });
    }
    return out;
  }
}
