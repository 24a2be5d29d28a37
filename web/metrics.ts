/* Prometheus metrics (text exposition through prom-client), following Prometheus naming: base units,
 * `_total` only on counters, histograms as _bucket/_sum/_count.
 *
 * Label cardinality is bounded: `app` takes at most `maxApps` values (default 200) per metric; later
 * apps are counted under app="~other". Run-queue histograms use power-of-two bucket bounds (1 us .. 2^26 us,
 * 28 series per app) folded from the kernel's quarter-power slots. Other labels are fixed sets
 * (collector, reason, program, kind). DNS series carry `domain` (the top N per app of each window,
 * default 100, the rest `~other`; at most `maxDomains` values per metric, default 2000), `qtype` and
 * `status` (noerror, nxdomain, servfail, refused, other, timeout, unreachable); the DNS latency histogram has 13
 * buckets per app. */
import { readFileSync } from 'node:fs';
import type { UnwindHealth } from '../profiler/collector.js';
import type { WindowEnvelope, WindowSink } from '../pipeline/contracts.js';
import type { FlowWindow } from '../netcost/flows.js';
import { Counter, Gauge, Registry, type MetricValueWithName } from 'prom-client';
import type { ProfileWindow } from '../profiler/window.js';
import type { RunqWindow } from '../runq/collector.js';
import { RUNQ_SLOTS, slotBoundsUs } from '../runq/layout.js';
import type { ProgStat } from '../native/index.js';
import { binValueMs, type DnsWindow } from '../dns/aggregate.js';

export const OTHER_APP = '~other';

/** Which values a label may take: the first `max` seen, the rest fold into ~other. */
class BoundedLabel {
  readonly #seen = new Set<string>();
  constructor(readonly max: number) {}
  value(v: string): string {
    if (this.#seen.has(v)) return v;
    if (this.#seen.size >= this.max) return OTHER_APP;
    this.#seen.add(v);
    return v;
  }
}

/** Power-of-two upper bounds (1 us .. 2^26 us) of the run-queue histogram, in seconds. */
const RUNQ_LE_SECONDS = Array.from({ length: 27 }, (_, k) => 2 ** k / 1e6);
/** Bounds of the DNS latency histogram (answered queries), in seconds. */
const DNS_LE_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A histogram family per app, fed counts that are already bucketed (kernel slots, sketch bins). */
class PreBucketedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #byApp = new Map<string, { le: number[]; sumSeconds: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly boundsSeconds: number[],
  ) {}

  /** `count` observations with `sumSeconds` in all, `n` of them at most `upperSeconds` for each pair
   *  (counts above the last bound land in +Inf only, which is `count`). */
  add(app: string, buckets: Iterable<[upperSeconds: number, n: number]>, sumSeconds: number, count: number): void {
    let h = this.#byApp.get(app);
    if (!h) this.#byApp.set(app, (h = { le: new Array(this.boundsSeconds.length).fill(0), sumSeconds: 0, count: 0 }));
    for (const [upper, n] of buckets) {
      const k = this.boundsSeconds.findIndex((le) => upper <= le);
      if (k >= 0) h.le[k] += n;
    }
    h.sumSeconds += sumSeconds;
    h.count += count;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValueWithName<string>[] }> {
    const values: MetricValueWithName<string>[] = [];
    for (const [app, h] of this.#byApp) {
      let cum = 0;
      this.boundsSeconds.forEach((le, k) => {
        cum += h.le[k];
        values.push({ metricName: `${this.name}_bucket`, labels: { app, le }, value: cum });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { app, le: '+Inf' }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels: { app }, value: h.sumSeconds });
      values.push({ metricName: `${this.name}_count`, labels: { app }, value: h.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export interface HealthSource {
  /** cumulative losses per collector and reason */
  losses(): { collector: string; reason: string; value: number }[];
  /** every loaded BPF program's kernel accounting */
  programs(): ProgStat[];
  /** the profiler's unwinding by tables (null: --unwind fp, or no profiler) */
  unwind?(): UnwindHealth | null;
}

export class KilnMetrics {
  readonly registry = new Registry();
  readonly #apps: BoundedLabel;
  readonly #runq = new PreBucketedHistogram(
    'kiln_runqueue_latency_seconds',
    'Time tasks of an application waited in a CPU run queue before running (woken or preempted to running)',
    RUNQ_LE_SECONDS,
  );
  readonly #cpuSamples: Counter<'app'>;
  readonly #windows: Counter<'kind'>;
  readonly #tcp: Record<'sent' | 'received' | 'connections' | 'failed' | 'retransmits', Counter<'app' | 'class'>>;
  readonly #storeErrors: Counter<'kind'>;
  readonly #dnsRequests: Counter<'app' | 'domain' | 'qtype' | 'status'>;
  readonly #dnsLatency = new PreBucketedHistogram('kiln_dns_request_duration_seconds', 'Time from the first send of a DNS query to its answer, per application (answered queries)', DNS_LE_SECONDS);
  readonly #domains: BoundedLabel;

  constructor(health: HealthSource, opts: { maxApps?: number; maxDomains?: number } = {}) {
    this.#apps = new BoundedLabel(opts.maxApps ?? 200);
    this.#domains = new BoundedLabel(opts.maxDomains ?? 2000);
    const registers = [this.registry];
    this.#cpuSamples = new Counter({ name: 'kiln_cpu_samples_total', help: 'CPU profile samples recorded per application', labelNames: ['app'], registers });
    this.#windows = new Counter({ name: 'kiln_windows_written_total', help: 'Aggregation windows written to the store', labelNames: ['kind'], registers });
    this.#storeErrors = new Counter({ name: 'kiln_store_errors_total', help: 'Windows the store failed to write', labelNames: ['kind'], registers });
    const tcp = (name: string, help: string) => new Counter({ name, help, labelNames: ['app', 'class'], registers });
    this.#tcp = {
      sent: tcp('kiln_tcp_sent_bytes_total', 'TCP payload bytes sent, per application and traffic class'),
      received: tcp('kiln_tcp_received_bytes_total', 'TCP payload bytes received, per application and traffic class'),
      connections: tcp('kiln_tcp_connections_total', 'TCP connections opened (outbound) or accepted (inbound), per application and traffic class'),
      failed: tcp('kiln_tcp_failed_connects_total', 'TCP connects that closed without being established, per application and traffic class'),
      retransmits: tcp('kiln_tcp_retransmits_total', 'TCP segments retransmitted, per application and traffic class'),
    };
    this.registry.registerMetric(this.#runq as never);
    this.#dnsRequests = new Counter({ name: 'kiln_dns_requests_total', help: 'DNS queries per application, domain, qtype and outcome (rcode, timeout, or unreachable: ICMP port unreachable)', labelNames: ['app', 'domain', 'qtype', 'status'], registers });
    this.registry.registerMetric(this.#dnsLatency as never);
    new Counter({
      name: 'kiln_collector_events_lost_total',
      help: 'Events a collector lost (map full, stack dropped), by collector and reason',
      labelNames: ['collector', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const l of health.losses()) this.inc({ collector: l.collector, reason: l.reason }, l.value);
      },
    });
    new Counter({
      name: 'kiln_bpf_program_run_time_seconds_total',
      help: "Time spent in Kiln's BPF programs, from the kernel's accounting",
      labelNames: ['program'],
      registers,
      collect() {
        this.reset();
        for (const p of health.programs()) this.inc({ program: p.name }, Number(p.runTimeNs) / 1e9);
      },
    });
    new Counter({
      name: 'kiln_bpf_program_runs_total',
      help: "Runs of Kiln's BPF programs, from the kernel's accounting",
      labelNames: ['program'],
      registers,
      collect() {
        this.reset();
        for (const p of health.programs()) this.inc({ program: p.name }, Number(p.runCount));
      },
    });
    new Gauge({
      name: 'kiln_profiler_unwind_fallback_binaries',
      help: 'Binaries whose code is walked by frame pointers instead of unwind tables, by why they have none',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(health.unwind?.()?.fallbackBinaries ?? {})) this.set({ reason }, n);
      },
    });
    new Gauge({
      name: 'kiln_profiler_unwind_table_rows',
      help: 'Rows of unwind tables in the kernel map: in use, and its capacity (--unwind-table-mb, 8 bytes a row)',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const u = health.unwind?.();
        if (u) {
          this.set({ state: 'used' }, u.rowsUsed);
          this.set({ state: 'capacity' }, u.rowsCapacity);
        }
      },
    });
    new Counter({
      name: 'kiln_profiler_user_stack_walks_total',
      help: 'User stacks walked by unwind tables, or by frame pointers while the process had no tables loaded yet',
      labelNames: ['walk'],
      registers,
      collect() {
        this.reset();
        for (const [walk, n] of Object.entries(health.unwind?.()?.walks ?? {})) this.inc({ walk }, n);
      },
    });
    new Counter({
      name: 'kiln_profiler_user_stack_walk_ends_total',
      help: 'Table walks that ended before the outermost frame, by why (signal frame, unsupported rule, unreadable stack, max depth, bad frame)',
      labelNames: ['end'],
      registers,
      collect() {
        this.reset();
        for (const [end, n] of Object.entries(health.unwind?.()?.ends ?? {})) this.inc({ end }, n);
      },
    });
    new Gauge({
      name: 'kiln_agent_resident_memory_bytes',
      help: 'Resident memory of the Kiln process',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: 'kiln_agent_memory_bytes',
      help: "Kiln's memory by kind: resident anonymous, file-backed (the embedded engine's library pages) and shared; the JavaScript heap used and allocated; memory outside the heap (Buffers, the addon)",
      labelNames: ['kind'],
      registers,
      collect() {
        const status = readFileSync('/proc/self/status', 'utf8');
        const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
        const m = process.memoryUsage();
        this.set({ kind: 'rss_anon' }, kb('RssAnon'));
        this.set({ kind: 'rss_file' }, kb('RssFile'));
        this.set({ kind: 'rss_shmem' }, kb('RssShmem'));
        this.set({ kind: 'js_heap_used' }, m.heapUsed);
        this.set({ kind: 'js_heap_total' }, m.heapTotal);
        this.set({ kind: 'external' }, m.external);
      },
    });
  }

  observeProfileWindow(w: ProfileWindow): void {
    for (const a of w.apps) {
      const n = a.stacks.reduce((s, x) => s + x.count, 0);
      if (n > 0) this.#cpuSamples.inc({ app: this.#apps.value(a.app) }, n);
    }
  }

  observeRunqWindow(w: RunqWindow): void {
    for (const r of w.rows) {
      const slots = r.slots.slice(0, RUNQ_SLOTS).map((n, s): [number, number] => [slotBoundsUs(s)[1] / 1e6, n]);
      this.#runq.add(this.#apps.value(r.app), slots, r.totalNs / 1e9, r.count);
    }
  }

  observeFlowWindow(w: FlowWindow): void {
    for (const r of w.rows) {
      const l = { app: this.#apps.value(r.app), class: r.class };
      if (r.bytesSent) this.#tcp.sent.inc(l, r.bytesSent);
      if (r.bytesReceived) this.#tcp.received.inc(l, r.bytesReceived);
      if (r.connections) this.#tcp.connections.inc(l, r.connections);
      if (r.failedConnects) this.#tcp.failed.inc(l, r.failedConnects);
      if (r.retransmits) this.#tcp.retransmits.inc(l, r.retransmits);
    }
  }

  observeDnsWindow(w: DnsWindow): void {
    for (const r of w.rows) {
      const app = this.#apps.value(r.app);
      const l = { app, domain: this.#domains.value(r.domain), qtype: r.qtype };
      const by = { noerror: r.noerror, nxdomain: r.nxdomain, servfail: r.servfail, refused: r.refused, other: r.otherErrors, timeout: r.timeouts, unreachable: r.unreachable };
      for (const [status, n] of Object.entries(by)) if (n) this.#dnsRequests.inc({ ...l, status }, n);
      if (r.latency.size) {
        const bins = [...r.latency].map(([bin, n]): [number, number] => [binValueMs(bin) / 1000, n]);
        this.#dnsLatency.add(app, bins, r.latencySumMs / 1000, bins.reduce((t, [, n]) => t + n, 0));
      }
    }
  }

  windowWritten(kind: string): void {
    this.#windows.inc({ kind });
  }

  storeError(kind: string): void {
    this.#storeErrors.inc({ kind });
  }

  /** The metrics tee: a sink that observes every window (counts it, never stores it). */
  sink(): WindowSink {
    return {
      write: (w: WindowEnvelope) => {
        if (w.kind === 'profile') this.observeProfileWindow(w);
        else if (w.kind === 'runq') this.observeRunqWindow(w);
        else if (w.kind === 'netflow') this.observeFlowWindow(w);
        else if (w.kind === 'dns') this.observeDnsWindow(w);
      },
      flush: async () => undefined,
      close: async () => undefined,
    };
  }

  async text(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

