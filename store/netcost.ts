/* Network flows in the store, and the usage queries network cost is priced from. */
import type { TrafficClass } from '../netcost/classify.js';
import { monthsOf, priceUsage, type CostRow, type UsageRow } from '../netcost/cost.js';
import type { FlowWindow } from '../netcost/flows.js';
import type { PriceSnapshot } from '../netcost/pricing.js';
import { RANGE_SQL, type TimeRange } from './profiles.js';
import { runInserts, type Store, type TableInsert } from './store.js';

export type GroupBy = 'app' | 'peer' | 'class';

/** The columns each grouping keeps; their values land in CostRow.group. */
const GROUP_COLUMNS: Record<GroupBy, string[]> = {
  app: ['app'],
  peer: ['app', 'direction', 'peer_address', 'port', 'peer_app'],
  class: [],
};

export class NetcostRepository {
  constructor(readonly store: Store) {}

  async writeWindow(w: FlowWindow): Promise<void> {
    await runInserts(this.store, this.prepareWindow(w));
  }

  /** The window's rows, for the write queue. */
  prepareWindow(w: FlowWindow): TableInsert[] {
    return [{
      table: 'net_flows',
      rows:
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
        via_nat: r.viaNat ? 1 : 0,
      })),
    }];
  }

  /** Usage per month × region × class × group over [from, to); with `step`, also per bucket of
   *  `step` seconds from `from` (rows then carry `bucket`, 0-based). */
  async usage(range: TimeRange, groupBy: GroupBy, app?: string, step?: number): Promise<(UsageRow & { bucket: number })[]> {
    const cols = [...GROUP_COLUMNS[groupBy], ...(step === undefined ? [] : ['bucket'])];
    const rows = await this.store.query<Record<string, string | number>>(
      `SELECT formatDateTime(ts, '%Y-%m', 'UTC') AS month, region, class,
              ${step === undefined ? '' : 'intDiv(toUnixTimestamp(ts) - {from:Int64}, {step:Int64}) AS bucket,'}
              ${cols.map((c) => `${c}, `).join('')} sum(bytes_sent) AS sent, sum(bytes_received) AS received,
              sum(if(via_nat = 1, bytes_sent + bytes_received, 0)) AS nat
       FROM net_flows
       WHERE ${RANGE_SQL} ${app === undefined ? '' : 'AND app = {app:String}'}
       GROUP BY month, region, class ${cols.map((c) => `, ${c}`).join('')}
       ORDER BY sent + received DESC`,
      { ...range, ...(app === undefined ? {} : { app }), ...(step === undefined ? {} : { step }) },
    );
    return rows.map((r) => ({
      month: String(r.month),
      region: String(r.region),
      class: r.class as TrafficClass,
      group: Object.fromEntries(GROUP_COLUMNS[groupBy].map((c) => [c, c === 'port' ? Number(r[c]) : String(r[c])])),
      bytesSent: Number(r.sent),
      bytesReceived: Number(r.received),
      natBytes: Number(r.nat),
      bucket: Number(r.bucket ?? 0),
    }));
  }

  /** Internet egress bytes of each (month, region) from the month's start to the range's start: where the tiers stand. */
  async egressBefore(range: TimeRange): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const m of monthsOf(range.from, range.to)) {
      if (m.start <= m.monthStart) continue;
      const rows = await this.store.query<{ region: string; sent: string | number }>(
        `SELECT region, sum(bytes_sent) AS sent FROM net_flows
         WHERE class = 'internet' AND ${RANGE_SQL} GROUP BY region`,
        { from: m.monthStart, to: m.start },
      );
      for (const r of rows) out.set(`${m.month}|${r.region}`, Number(r.sent));
    }
    return out;
  }

  async cost(range: TimeRange, groupBy: GroupBy, snapshot: PriceSnapshot | null, app?: string): Promise<CostRow[]> {
    const [usage, egressBefore] = await Promise.all([this.usage(range, groupBy, app), this.egressBefore(range)]);
    return priceUsage(usage, { snapshot, egressBefore });
  }

  /** The main peers of each app and class by bytes ("peer-app" or "address:port"), keyed `app\0class`. */
  async topPeers(range: TimeRange, n: number): Promise<Map<string, string[]>> {
    const rows = await this.store.query<{ app: string; class: string; peer: string }>(
      `SELECT app, class, if(peer_app != '', peer_app, concat(peer_address, ':', toString(port))) AS peer, sum(bytes_sent + bytes_received) AS b
       FROM net_flows WHERE ${RANGE_SQL}
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

  /**
   * Cost per app over time (buckets of `step` seconds), for the UI chart: one usage query for all
   * buckets; each bucket is priced where the month's tiers stand after the buckets before it.
   */
  async costSeries(range: TimeRange, step: number, snapshot: PriceSnapshot | null): Promise<{ t: number; app: string; cost_usd: number }[]> {
    const [usage, egressBefore] = await Promise.all([this.usage(range, 'app', undefined, step), this.egressBefore(range)]);
    const buckets = new Map<number, UsageRow[]>();
    for (const u of usage) buckets.set(u.bucket, [...(buckets.get(u.bucket) ?? []), u]);
    const out: { t: number; app: string; cost_usd: number }[] = [];
    for (const [bucket, rows] of [...buckets].sort((a, b) => a[0] - b[0])) {
      const byApp = new Map<string, number>();
      for (const r of priceUsage(rows, { snapshot, egressBefore: new Map(egressBefore) })) byApp.set(String(r.group.app), (byApp.get(String(r.group.app)) ?? 0) + r.cost_usd);
      for (const [app, cost] of byApp) out.push({ t: range.from + bucket * step, app, cost_usd: cost });
      for (const r of rows) {
        if (r.class === 'internet') egressBefore.set(`${r.month}|${r.region}`, (egressBefore.get(`${r.month}|${r.region}`) ?? 0) + r.bytesSent);
      }
    }
    return out;
  }
}
