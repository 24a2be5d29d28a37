/* Network flows in the store, and the usage queries network cost is priced from. */
import type { TrafficClass } from '../../netcost/classify.js';
import { monthsOf, type UsageRow } from '../../netcost/cost.js';
import type { FlowWindow } from '../../netcost/flows.js';
import type { EgressFlow } from '../../netcost/egress-cost.js';
import { RANGE_SQL, defineTable, type RowOf, type TimeRange } from '../sql.js';
import { runInserts, type Store, type TableInsert } from '../store.js';

/** Network flows per window; kept at least 62 days so the current and the previous month can be
 *  reported (tiers need the whole month). */
export const NET_FLOWS = defineTable(
  'net_flows',
  {
    ts: 'DateTime',
    window_seconds: 'UInt32',
    host: 'LowCardinality(String)',
    app: 'LowCardinality(String)',
    container_id: 'String',
    direction: 'LowCardinality(String)',
    local_address: 'String',
    peer_address: 'String',
    port: 'UInt16',
    peer_app: 'LowCardinality(String)',
    class: 'LowCardinality(String)',
    local_zone: 'LowCardinality(String)',
    peer_zone: 'LowCardinality(String)',
    region: 'LowCardinality(String)',
    bytes_sent: 'UInt64',
    bytes_received: 'UInt64',
    retransmits: 'UInt64',
    connections: 'UInt64',
    failed_connects: 'UInt64',
    via_nat: 'UInt8 DEFAULT 0',
  },
  (days) => `ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (app, ts) TTL ts + INTERVAL ${Math.max(days, 62)} DAY DELETE`,
  // data directories from before NAT gateway accounting
  ['ALTER TABLE net_flows ADD COLUMN IF NOT EXISTS via_nat UInt8 DEFAULT 0'],
);

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
      table: NET_FLOWS.name,
      rows: w.rows.map((r): RowOf<typeof NET_FLOWS.columns> => ({
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

  /** Bytes one application sent to each peer address from each host over the range, with the peer's
   *  class and application (the ones that carried most of the bytes): what egress stacks scale to. */
  async sentByPeer(range: TimeRange, app: string): Promise<EgressFlow[]> {
    const rows = await this.store.query<{ host: string; peer_address: string; class: string; peer_app: string; nat: number | string; sent: number | string }>(
      `SELECT host, peer_address, argMax(class, bytes_sent) AS class, argMax(peer_app, bytes_sent) AS peer_app,
              max(via_nat) AS nat, sum(bytes_sent) AS sent
       FROM net_flows WHERE app = {app:String} AND ${RANGE_SQL}
       GROUP BY host, peer_address HAVING sent > 0`,
      { ...range, app },
    );
    return rows.map((r) => ({ host: r.host, peer_address: r.peer_address, class: r.class as TrafficClass, peer_app: r.peer_app, via_nat: Number(r.nat) === 1, bytes_sent: Number(r.sent) }));
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
}
