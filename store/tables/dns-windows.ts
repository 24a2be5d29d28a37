/* DNS windows: one row per application × domain × qtype per window; any range sums the counts and
 * merges the latency sketches (sumMap over DDSketch bins), so percentiles aggregate correctly. */
import { binQuantiles, type DnsWindow } from '../../dns/aggregate.js';
import { RANGE_SQL, appExists, defineTable, type RowOf, type TimeRange } from '../sql.js';
import { runInserts, type Store, type TableInsert } from '../store.js';

/** One row per application × domain × qtype per window; latency as DDSketch bins (keys, counts), which
 *  merge over any range by summing (sumMap). */
export const DNS_WINDOWS = defineTable(
  'dns_windows',
  {
    ts: 'DateTime',
    window_seconds: 'UInt32',
    host: 'LowCardinality(String)',
    app: 'LowCardinality(String)',
    container_id: 'String',
    domain: 'String',
    qtype: 'LowCardinality(String)',
    requests: 'UInt64',
    noerror: 'UInt64',
    nxdomain: 'UInt64',
    servfail: 'UInt64',
    refused: 'UInt64',
    other_errors: 'UInt64',
    no_answer: 'UInt64',
    timeouts: 'UInt64',
    unreachable: 'UInt64',
    latency_keys: 'Array(Int32)',
    latency_counts: 'Array(UInt64)',
    latency_sum_ms: 'Float64',
    nameservers: 'Array(String)',
    transports: 'Array(LowCardinality(String))',
  },
  (days) => `ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (app, domain, ts) TTL ts + INTERVAL ${days} DAY DELETE`,
  ['ALTER TABLE dns_windows ADD COLUMN IF NOT EXISTS unreachable UInt64 DEFAULT 0 AFTER timeouts'],
);

export interface DnsApiRow {
  app: string;
  domain: string;
  qtype: string;
  requests: number;
  noerror: number;
  nxdomain: number;
  servfail: number;
  refused: number;
  other_errors: number;
  /** NOERROR with no answer records (per qtype: A, AAAA, other) */
  no_answer: number;
  timeouts: number;
  /** queries the nameserver's host refused with ICMP port unreachable (the client failed at once) */
  unreachable: number;
  /** answered queries' latency; null when none was answered */
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  mean_ms: number | null;
  nameservers: string[];
  transports: string[];
}

const r2 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);

export class DnsRepository {
  constructor(readonly store: Store) {}

  async writeWindow(w: DnsWindow): Promise<void> {
    await runInserts(this.store, this.prepareWindow(w));
  }

  /** The window's rows, for the write queue. */
  prepareWindow(w: DnsWindow): TableInsert[] {
    return [{
      table: DNS_WINDOWS.name,
      rows: w.rows.map((r): RowOf<typeof DNS_WINDOWS.columns> => {
        const keys = [...r.latency.keys()].sort((a, b) => a - b);
        return {
          ts: w.start,
          window_seconds: w.seconds,
          host: w.host,
          app: r.app,
          container_id: r.containerId,
          domain: r.domain,
          qtype: r.qtype,
          requests: r.requests,
          noerror: r.noerror,
          nxdomain: r.nxdomain,
          servfail: r.servfail,
          refused: r.refused,
          other_errors: r.otherErrors,
          no_answer: r.noAnswer,
          timeouts: r.timeouts,
          unreachable: r.unreachable,
          latency_keys: keys,
          latency_counts: keys.map((k) => r.latency.get(k)!),
          latency_sum_ms: r.latencySumMs,
          nameservers: r.nameservers,
          transports: r.transports,
        };
      }),
    }];
  }

  appExists(app: string): Promise<boolean> {
    return appExists(this.store, DNS_WINDOWS, app);
  }

  /** Rows per application × domain × qtype over the range, most requests first. */
  async query(range: TimeRange, app?: string): Promise<DnsApiRow[]> {
    type Raw = Record<'requests' | 'noerror' | 'nxdomain' | 'servfail' | 'refused' | 'other_errors' | 'no_answer' | 'timeouts' | 'unreachable', string | number> & {
      app: string;
      domain: string;
      qtype: string;
      lat: [(string | number)[], (string | number)[]];
      lat_sum: number;
      nameservers: string[];
      transports: string[];
    };
    const rows = await this.store.query<Raw>(
      `SELECT app, domain, qtype, sum(requests) AS requests, sum(noerror) AS noerror, sum(nxdomain) AS nxdomain,
              sum(servfail) AS servfail, sum(refused) AS refused, sum(other_errors) AS other_errors,
              sum(no_answer) AS no_answer, sum(timeouts) AS timeouts, sum(unreachable) AS unreachable,
              sumMap(latency_keys, latency_counts) AS lat, sum(latency_sum_ms) AS lat_sum,
              groupUniqArrayArray(8)(nameservers) AS nameservers, groupUniqArrayArray(transports) AS transports
       FROM dns_windows WHERE ${RANGE_SQL} ${app === undefined ? '' : 'AND app = {app:String}'}
       GROUP BY app, domain, qtype ORDER BY requests DESC, app, domain, qtype`,
      { ...range, ...(app === undefined ? {} : { app }) },
    );
    return rows.map((r) => {
      const bins = new Map<number, number>();
      r.lat[0].forEach((k, i) => bins.set(Number(k), Number(r.lat[1][i])));
      const answered = [...bins.values()].reduce((s, n) => s + n, 0);
      const [p50, p95, p99] = binQuantiles(bins, [0.5, 0.95, 0.99]);
      return {
        app: r.app,
        domain: r.domain,
        qtype: r.qtype,
        requests: Number(r.requests),
        noerror: Number(r.noerror),
        nxdomain: Number(r.nxdomain),
        servfail: Number(r.servfail),
        refused: Number(r.refused),
        other_errors: Number(r.other_errors),
        no_answer: Number(r.no_answer),
        timeouts: Number(r.timeouts),
        unreachable: Number(r.unreachable),
        p50_ms: r2(p50),
        p95_ms: r2(p95),
        p99_ms: r2(p99),
        mean_ms: answered ? r2(Number(r.lat_sum) / answered) : null,
        nameservers: [...r.nameservers].sort(),
        transports: [...r.transports].sort(),
      };
    });
  }
}
